"""Deleting a session: in Promptster first, then everything about it here, with a tombstone.

`delete_session()` is the whole flow; the view only confirms and reports. A delete is never
blindly retried upstream (its outcome may be unknown), one runs at a time per session (a
claim row in the database, so a dead cache cannot let two through), and nothing is touched
here unless upstream confirmed the session is gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewer import cache, fragments, prefetch, promptster
from reviewer.models import (
    AuditEntry,
    DeletionClaim,
    Organization,
    ShareLink,
    TimelineSync,
    session_is_deleted,
)
from reviewer.review.notes import purge_review

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from reviewer.upstream import Session

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120


class Outcome:
    DELETED = "deleted"  # deleted upstream and here
    ALREADY_GONE = "already_gone"  # upstream no longer had it; removed here
    ALREADY_DELETED = "already_deleted"  # deleted before (a double submit)
    BUSY = "busy"  # another delete of it is under way


@dataclass(frozen=True)
class Result:
    outcome: str
    events_removed: int = 0


def _delete_upstream(org: Organization, session_id: str) -> str:
    """Delete upstream; "deleted" or "already_gone", or raise if the outcome is unknown.

    A DELETE whose outcome is unknown (timeout, 5xx) is never blindly retried: the session is
    read again, and only a 404 counts as deleted.
    """
    client = promptster.client_for(org, retries=0)
    try:
        client.delete_session(session_id)
        return Outcome.DELETED
    except promptster.NotFound:
        return Outcome.ALREADY_GONE
    except promptster.Unavailable:
        try:
            client.get_session(session_id)
        except promptster.NotFound:
            return Outcome.DELETED
        raise


def _claim(org: Organization, session_id: str) -> DeletionClaim | None:
    now = timezone.now()
    DeletionClaim.objects.filter(
        organization=org, session_id=session_id, claimed_until__lt=now
    ).delete()  # a claim left by a crashed request lapses
    try:
        with transaction.atomic():
            return DeletionClaim.objects.create(
                organization=org,
                session_id=session_id,
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
            )
    except IntegrityError:
        return None


def delete_session(
    org: Organization, session_id: str, *, actor: User, session: Session | None
) -> Result:
    """Delete a session everywhere. `session` is what upstream last said of it (None when
    upstream no longer has it); `session_id` comes from the URL, already validated.

    1. One delete of a session at a time (a claim row); a session deleted before stays so.
    2. Upstream first, outside any database transaction. If that fails or its outcome is
       unknown, `promptster.PromptsterError` is raised and nothing here is touched.
    3. Then, in one transaction: the tombstone (an audit entry with who, when and how much,
       no content), share links revoked, the stored timeline purged.
    4. Every cached answer about the session is forgotten.
    """
    if session_is_deleted(org, session_id):
        return Result(Outcome.ALREADY_DELETED)
    claim = _claim(org, session_id)
    if claim is None:
        return Result(Outcome.BUSY)
    try:
        if session_is_deleted(org, session_id):  # finished while we waited for the claim
            return Result(Outcome.ALREADY_DELETED)
        outcome = _delete_upstream(org, session_id)
        sync = TimelineSync.objects.filter(organization=org, session_id=session_id).first()
        with transaction.atomic():
            AuditEntry.record(
                org,
                AuditEntry.Action.SESSION_DELETED,
                actor=actor,
                session_id=session_id,
                assessment_id=session.assessment_id if session else "",
                event_count=session.event_count if session else None,
                events_stored=sync.events_stored if sync else 0,
                upstream=outcome,
            )
            # Revoked, not removed: the links keep answering "gone" rather than "unknown".
            ShareLink.objects.for_org(org).filter(session_id=session_id, revoked_at=None).update(
                revoked_at=timezone.now(), revoked_by=actor
            )
            removed = prefetch.purge(org, session_id)
            purge_review(org, session_id)  # notes, scorecards, decision: content goes too
    finally:
        claim.delete()
    cache.invalidate_session(org, session_id)
    fragments.forget_session(org, session_id)
    log.info("session %s deleted (%s, %d events stored here)", session_id, outcome, removed)
    return Result(outcome, removed)
