"""The team decision and its final scores, written to Promptster (issue 15 §4).

`record_decision()` stores the decision here first: whatever upstream does, the local
decision stands. `sync_decision()` then writes the final scores with
`POST /v1/sessions/:id/scores` (REFERENCE.md §1.4), at most once per version:

1. An unchanged decision (`synced_version == version`) is never written again.
2. One writer at a time: a lease taken with a conditional UPDATE (`claim_token`,
   `claimed_until`); a second worker or a redelivered task finds it held and returns.
3. A write that may already have happened (a retry, a redelivered task, an answer lost on
   the way) is first read back with `GET .../scores`: if upstream already holds these
   scores, it is marked synced and nothing is posted.
4. The client never retries the POST itself; transient failures are the task's to retry
   with backoff. A refused write (400) is shown and not retried automatically; neither is
   a token problem (401/403) nor a session upstream no longer has (404).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviewer import cache, promptster, upstream
from reviewer.models import AuditEntry, Organization
from reviewer.review.models import DIMENSION_KEYS, Decision

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60


class Outcome:
    SYNCED = "synced"  # written now
    ALREADY_THERE = "already_there"  # upstream already held these scores: nothing posted
    UNCHANGED = "unchanged"  # this version was written before
    NOTHING_TO_WRITE = "nothing_to_write"  # no dimension scored
    BUSY = "busy"  # another writer holds the lease
    REFUSED = "refused"  # a 400 (or 401/403/404): shown, not retried by itself
    FAILED = "failed"  # transient: retried with backoff
    NO_DECISION = "no_decision"


@dataclass(frozen=True)
class SyncResult:
    outcome: str
    error: str = ""

    @property
    def retry_later(self) -> bool:
        """Transient failure, or another writer held the lease (it may fail, or the decision
        may have changed while it wrote): look again later; nothing is posted twice."""
        return self.outcome in (Outcome.FAILED, Outcome.BUSY)


def record_decision(
    org: Organization,
    session_id: str,
    user: User,
    *,
    verdict: str,
    scores: dict[str, int],
    notes: dict[str, str],
) -> tuple[Decision, bool]:
    """Record (or change) the team's decision; (decision, changed).

    An identical resubmission changes nothing (same version: nothing to write again). A
    change bumps `version` and clears an earlier refusal. The audit entry says who and
    when, never the verdict or a score.
    """
    now = timezone.now()
    fields = {
        "verdict": verdict,
        "scores": scores,
        "notes": notes,
        "decided_by": user,
        "decided_by_name": user.get_username(),
        "decided_at": now,
    }
    with transaction.atomic():
        decision = _locked_decision(org, session_id)
        if decision is None:
            try:
                with transaction.atomic():
                    decision = Decision.objects.create(
                        organization=org, session_id=session_id, **fields
                    )
                changed = True
            except IntegrityError:  # recorded by a concurrent request a moment ago
                decision = _locked_decision(org, session_id)
                assert decision is not None
                changed = False
        else:
            changed = False
        if not changed and (decision.verdict, decision.scores, decision.notes) != (
            verdict,
            scores,
            notes,
        ):
            for name, value in fields.items():
                setattr(decision, name, value)
            decision.version += 1
            decision.sync_refused = False
            decision.sync_error = ""
            decision.save()
            changed = True
        if changed:
            AuditEntry.record(
                org,
                AuditEntry.Action.DECISION_RECORDED,
                actor=user,
                session_id=session_id,
                version=decision.version,
            )
    return decision, changed


def _locked_decision(org: Organization, session_id: str) -> Decision | None:
    return (
        Decision.objects.select_for_update().filter(organization=org, session_id=session_id).first()
    )


def payload_of(decision: Decision) -> list[dict[str, Any]]:
    """The POST body: `[{dimension, score, notes?}]` for each scored dimension, in
    Promptster's order (1 to 5 items)."""
    items = []
    for key in DIMENSION_KEYS:
        score = decision.scores.get(key)
        if isinstance(score, int) and 1 <= score <= 5:
            item: dict[str, Any] = {"dimension": key, "score": score}
            note = decision.notes.get(key, "")
            if note:
                item["notes"] = note
            items.append(item)
    return items


def _already_there(found: list[upstream.Score], items: list[dict[str, Any]]) -> bool:
    by_dimension = {s.dimension: s for s in found}
    for item in items:
        score = by_dimension.get(item["dimension"])
        if score is None or score.score != item["score"]:
            return False
        if score.notes != item.get("notes", ""):
            return False
    return True


def _claim(decision: Decision) -> str | None:
    token = secrets.token_hex(8)
    now = timezone.now()
    won = (
        Decision.objects.filter(pk=decision.pk, version=decision.version)
        .filter(synced_version__lt=F("version"))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(
            claim_token=token,
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
            sync_attempts=F("sync_attempts") + 1,
        )
    )
    return token if won else None


def _release(decision: Decision, token: str, **fields: Any) -> None:
    Decision.objects.filter(pk=decision.pk, claim_token=token).update(
        claim_token="", claimed_until=None, **fields
    )


def sync_decision(
    org: Organization, session_id: str, *, client: promptster.Client | None = None
) -> SyncResult:
    """Write the decision's final scores to Promptster, at most once per version (the
    numbered steps are in the module docstring)."""
    decision = Decision.objects.filter(organization=org, session_id=session_id).first()
    if decision is None:
        return SyncResult(Outcome.NO_DECISION)
    if decision.synced:
        return SyncResult(Outcome.UNCHANGED)
    if decision.sync_refused:
        return SyncResult(Outcome.REFUSED, decision.sync_error)
    token = _claim(decision)
    if token is None:
        decision.refresh_from_db()
        return SyncResult(Outcome.UNCHANGED if decision.synced else Outcome.BUSY)
    # What is written is read under the lease: the version marked synced is the one posted.
    decision.refresh_from_db()
    items = payload_of(decision)
    if not items:
        _release(decision, token, synced_version=decision.version, synced_at=timezone.now())
        return SyncResult(Outcome.NOTHING_TO_WRITE)
    client = client or promptster.client_for(org, retries=0, background=True)
    version = decision.version
    try:
        outcome = _write(client, session_id, items, first_attempt=decision.sync_attempts <= 1)
    except promptster.Rejected as exc:
        return _failed(org, decision, token, exc, refused=True)
    except (promptster.Unauthorized, promptster.NotFound) as exc:
        return _failed(org, decision, token, exc, refused=True)
    except promptster.PromptsterError as exc:
        return _failed(org, decision, token, exc, refused=False)
    finally:
        cache.invalidate_scores(org, session_id)
    _release(decision, token, synced_version=version, synced_at=timezone.now(), sync_error="")
    AuditEntry.record(
        org,
        AuditEntry.Action.DECISION_SYNCED,
        via="background task",
        session_id=session_id,
        version=version,
        posted=outcome == Outcome.SYNCED,
    )
    return SyncResult(outcome)


def _write(
    client: promptster.Client, session_id: str, items: list[dict[str, Any]], *, first_attempt: bool
) -> str:
    """POST the scores, unless upstream already holds them (after an earlier attempt)."""
    if not first_attempt and _already_there(client.get_scores(session_id), items):
        return Outcome.ALREADY_THERE
    try:
        client.post_scores(session_id, items)
    except (promptster.Unavailable, promptster.BadResponse):
        # The write may have happened and only its answer got lost: read it back.
        try:
            found = client.get_scores(session_id)
        except promptster.PromptsterError:
            found = []
        if found and _already_there(found, items):
            return Outcome.SYNCED
        raise
    return Outcome.SYNCED


def _failed(
    org: Organization,
    decision: Decision,
    token: str,
    exc: promptster.PromptsterError,
    *,
    refused: bool,
) -> SyncResult:
    detail = exc.user_message
    if refused and exc.body:
        detail = f"{detail} ({exc.status}: {exc.body[:150]})"
    _release(decision, token, sync_error=detail[:300], sync_refused=refused)
    AuditEntry.record(
        org,
        AuditEntry.Action.DECISION_SYNC_FAILED,
        via="background task",
        session_id=decision.session_id,
        version=decision.version,
        status=exc.status,
        retried=not refused,
    )
    log.info("decision on %s not written upstream: %s", decision.session_id, exc)
    return SyncResult(Outcome.REFUSED if refused else Outcome.FAILED, detail)


def ask_again(decision: Decision) -> None:
    """The Retry button: clear a refusal so the next sync writes again."""
    Decision.objects.filter(pk=decision.pk).update(sync_refused=False)
