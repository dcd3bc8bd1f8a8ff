"""The sandbox's state: deterministic data for the sandbox Promptster API, and what changed since.

The sandbox plays the upstream reviewer API for the demo, the test-suite and the benchmarks, so its
data has to look like real candidate sessions while staying cheap and reproducible:

* Everything derives from ``seed`` through local ``random.Random`` instances keyed by strings (never
  the global RNG, never ``hash()``), so the same seed gives byte-identical JSON in any process.
  The only wall-clock input is the ``live_anchor`` of running sessions (their last activity is
  "a few minutes ago") and the timestamps of events added later by :meth:`SandboxState.grow`.
* Sessions are never materialised. Event ``i`` of a session is generated on demand from
  ``(seed, session, i)``; per-session counts are fixed up front, decision events sit at fixed
  positions (so ``decisionFlagCount`` is arithmetic), and event ids end in the event index (so an
  ``after`` cursor resolves to an index without a lookup table). The 100,000-event session therefore
  costs a few hundred bytes of memory until a page of it is requested.
* The content follows a real bug being worked in a small repository (a scenario, read from the
  files under ``sandbox/scenarios/``): explore, reproduce with a failing test, fix with genuine
  unified diffs, verify, commit. Turns of :data:`~sandbox.turns.TURN_LEN` events follow phase
  templates; the documented contradictions of the upstream API (REFERENCE.md section 7) are
  sprinkled in deterministically so clients must cope with them.

Layout of a generated session: index 0 is ``session_start``; indices ``1..B`` are body events in
turns of ``TURN_LEN``; an ended session has one final ``session_end``. Slot ``TURN_LEN - 1`` of
each turn is the flexible slot: a ``decision_event`` every ``decision_every`` turns, otherwise a
checkpoint, a context compaction or an ordinary event.

Where the parts live: :mod:`sandbox.roster` decides who sat what (once per seed),
:mod:`sandbox.generate` builds events on demand, :mod:`sandbox.turns` plans turns,
:mod:`sandbox.diffs` renders diffs, :mod:`sandbox.scenarios` loads the scenario files and
:mod:`sandbox.hostile` holds hostile strings. This module holds the state and its queries:
deletions, sessions added verbatim, growth of running sessions.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox import scripted
from sandbox.generate import SessionSpec, build_event, event_ts_ms
from sandbox.hostile import PAYLOADS
from sandbox.roster import BIG_SESSION_EVENTS, ORGS, REVOKED_TOKEN, build_roster
from sandbox.scores import DIMENSIONS, score_object, seeded_scores
from sandbox.stamps import day_ms, iso, parse_iso_ms
from sandbox.turns import TURN_LEN, decision_count

# What callers import from here: the state and the constants that go with its data.
__all__ = [
    "BIG_SESSION_EVENTS",
    "ORGS",
    "PAYLOADS",
    "REVOKED_TOKEN",
    "InvalidCursor",
    "SandboxState",
]


class InvalidCursor(ValueError):
    """Raised when a timeline ``after`` id does not belong to the session's timeline."""


@dataclass
class _AddedSession:
    """A session held as a list of events: given through add_session, or a scripted session.

    ``index`` maps an event id to the *last* record with that id (ids can repeat: the upstream
    does not promise they are unique); ``lazy`` fills in, at serve time, the parts of a record
    too large to keep (the huge command output).
    """

    session: dict[str, Any]
    events: list[dict[str, Any]]
    index: dict[str, int]
    lazy: dict[int, Callable[[dict[str, Any]], None]] = field(default_factory=dict)

    def page(self, start: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Events from ``start``, at most ``limit`` of them unless a repeated id forces more.

        A page never ends on an earlier record of a repeated id (the next page's ``after`` cursor
        would resolve to the last one and skip what lies between): it stops just before it, or,
        if that would leave the page empty, runs on to that id's last record. So paging with any
        limit returns every record exactly once, in order.
        """
        total = len(self.events)
        stop = min(total, start + limit)
        while stop > start and self._last_of(stop - 1) > stop - 1:
            stop -= 1
        if stop == start and start < total:
            stop = self._last_of(start) + 1
            while self._last_of(stop - 1) > stop - 1:  # pragma: no cover - overlapping repeats
                stop = self._last_of(stop - 1) + 1
        page = json.loads(json.dumps(self.events[start:stop]))
        for k, event in enumerate(page, start):
            fill = self.lazy.get(k)
            if fill is not None:
                fill(event)
        return page, stop < total

    def _last_of(self, k: int) -> int:
        return self.index.get(str(self.events[k].get("id")), k)


class SandboxState:
    """All sandbox data for one seed: orgs, assessments, sessions, scores, deletions, additions.

    Thread-safe: the HTTP server calls it from many threads. Generated sessions are described by a
    :class:`SessionSpec` and their events are produced on demand; sessions passed to
    :meth:`add_session` are kept verbatim. ``live_anchor`` is the moment running sessions were last
    active shortly before (default: now); pass a fixed datetime for fully reproducible output.
    """

    def __init__(self, seed: int = 1, *, live_anchor: datetime | None = None) -> None:
        self.seed = seed
        self._lock = threading.RLock()
        anchor = live_anchor or datetime.now(UTC)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        roster = build_roster(seed, int(anchor.timestamp() * 1000))
        self._assessments: dict[str, list[dict[str, Any]]] = roster.assessments
        self._specs: dict[str, SessionSpec] = roster.specs
        self._roles: dict[str, dict[str, list[str]]] = roster.roles
        self._added: dict[str, _AddedSession] = {}
        self._deleted: set[str] = set()
        self._add_scripted_sessions()
        self._scores: dict[str, dict[str, dict[str, Any]]] = seeded_scores(
            seed, self._pick_scored_sessions()
        )
        self._scored = list(self._scores)

    def _add_scripted_sessions(self) -> None:
        """The scripted sessions (:mod:`sandbox.scripted`) and their assessment, after the rest."""
        org_id = scripted.ORG_ID
        self._assessments[org_id].append(scripted.assessment(self.seed))
        for played in scripted.play_all(self.seed):
            index = {str(event.get("id")): k for k, event in enumerate(played.events)}
            self._added[played.session["id"]] = _AddedSession(
                played.session, played.events, index, played.lazy
            )
            self._roles[org_id].setdefault(played.role, []).append(played.session["id"])

    def _pick_scored_sessions(self) -> list[tuple[str, str, int]]:
        """Two ordinary ended acme sessions that a reviewer scored in Promptster's dashboard."""
        special = {sid for ids in self._roles["org_acme"].values() for sid in ids}
        ordinary = [
            spec
            for spec in self._specs.values()
            if spec.org_id == "org_acme" and spec.ended and spec.id not in special
        ]
        chosen = random.Random(f"{self.seed}:scored-sessions").sample(ordinary, 2)
        return [(s.id, s.org_id, event_ts_ms(self.seed, s, s.count - 1)) for s in chosen]

    # ---------------------------------------------------------------- lookups

    @property
    def orgs(self) -> list[dict[str, str]]:
        return [dict(o) for o in ORGS]

    def org_for_token(self, token: str | None) -> dict[str, str] | None:
        """The org a bearer token belongs to; None for unknown or revoked tokens."""
        for org in ORGS:
            if token and token == org["token"]:
                return dict(org)
        return None

    def assessments_for(self, org_id: str) -> list[dict[str, Any]]:
        """The org's assessments, createdAt ascending (as the upstream orders them)."""
        return json.loads(json.dumps(self._assessments.get(org_id, [])))

    def assessment(self, org_id: str, assessment_id: str) -> dict[str, Any] | None:
        for item in self._assessments.get(org_id, []):
            if item["id"] == assessment_id:
                return json.loads(json.dumps(item))
        return None

    def _visible(self, org_id: str, session_id: str) -> SessionSpec | _AddedSession | None:
        if session_id in self._deleted:
            return None
        found: SessionSpec | _AddedSession | None = self._specs.get(session_id) or self._added.get(
            session_id
        )
        if found is None:
            return None
        owner = found.org_id if isinstance(found, SessionSpec) else found.session.get("orgId")
        return found if owner == org_id else None

    def session(self, org_id: str, session_id: str) -> dict[str, Any] | None:
        """The session object, or None when missing, deleted or in another org."""
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            return self._session_dict(found)

    def sessions_for(self, org_id: str) -> list[dict[str, Any]]:
        """Every visible session of the org, startedAt descending (ties by id)."""
        with self._lock:
            items = [
                self._session_dict(s)
                for s in self._specs.values()
                if s.org_id == org_id and s.id not in self._deleted
            ]
            items += [
                self._session_dict(a)
                for sid, a in self._added.items()
                if a.session.get("orgId") == org_id and sid not in self._deleted
            ]
        items.sort(key=lambda s: s["id"])
        items.sort(key=lambda s: parse_iso_ms(s.get("startedAt")) or 0, reverse=True)
        return items

    def list_sessions(
        self, org_id: str, *, assessment_id: str | None = None, source_service: str | None = None
    ) -> list[dict[str, Any]]:
        """sessions_for() filtered the way GET /v1/sessions filters."""
        items = self.sessions_for(org_id)
        if assessment_id:
            items = [
                s for s in items if (s.get("metadata") or {}).get("assessmentId") == assessment_id
            ]
        if source_service:
            wanted = _norm_service(source_service)
            items = [s for s in items if wanted in _services(s.get("sourceService"))]
        return items

    def _session_dict(self, found: SessionSpec | _AddedSession) -> dict[str, Any]:
        if isinstance(found, _AddedSession):
            return json.loads(json.dumps(found.session))
        return self._spec_session(found)

    def _spec_session(self, spec: SessionSpec) -> dict[str, Any]:
        count = spec.count
        started = event_ts_ms(self.seed, spec, 0) if count else spec.created_ms
        last = event_ts_ms(self.seed, spec, count - 1) if count else None
        body = max(0, count - 1 - (1 if spec.ended else 0))
        if last is None:
            updated = spec.created_ms
        else:
            updated = last + (45_000 + spec.end_gap_ms if spec.ended else 800)
        metadata = {
            "assessmentId": spec.assessment_id,
            "candidateName": spec.candidate,
            "repoUrl": spec.repo_url,
            **spec.extra_metadata,
        }
        service = spec.source_service
        session: dict[str, Any] = {
            "id": spec.id,
            "orgId": spec.org_id,
            "sourceService": list(service) if isinstance(service, list) else service,
            "startedAt": iso(started),
            "endedAt": iso(last) if spec.ended and last is not None else None,
            "lastActivityAt": iso(last) if last is not None else None,
            "metadata": metadata,
            "eventCount": count,
            "decisionFlagCount": decision_count(body, spec.decision_every),
            "aiAttributionPct": spec.attribution_pct,
            "totalCostUsd": spec.cost_usd,
            "createdAt": iso(spec.created_ms),
            "updatedAt": iso(updated),
        }
        for key in spec.omit_fields:
            session.pop(key, None)
        return session

    # ---------------------------------------------------------------- timeline

    def timeline(
        self, org_id: str, session_id: str, *, limit: int = 500, after: str | None = None
    ) -> tuple[list[dict[str, Any]], bool] | None:
        """One timeline page ``(events, hasMore)``; None when the session is not visible.

        Raises InvalidCursor when ``after`` is not an event id of this session.
        """
        limit = max(1, min(2000, limit))
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            if isinstance(found, _AddedSession):
                start = 0 if after is None else self._added_cursor(found, after) + 1
            else:
                count = found.count
        if isinstance(found, _AddedSession):
            # Outside the lock (its events never change): a lazy part may take a while to build.
            return found.page(start, limit)
        start = 0 if after is None else self._spec_cursor(found, after, count) + 1
        stop = min(count, start + limit)
        return [build_event(self.seed, found, i) for i in range(start, stop)], stop < count

    @staticmethod
    def _spec_cursor(spec: SessionSpec, after: str, count: int) -> int:
        head, _, tail = after.rpartition("-")
        if head != spec.prefix or len(tail) != 12 or tail != tail.lower():
            raise InvalidCursor(after)
        try:
            index = int(tail, 16)
        except ValueError:
            raise InvalidCursor(after) from None
        if index >= count:
            raise InvalidCursor(after)
        return index

    @staticmethod
    def _added_cursor(added: _AddedSession, after: str) -> int:
        if after not in added.index:
            raise InvalidCursor(after)
        return added.index[after]

    def decisions(self, org_id: str, session_id: str) -> list[dict[str, Any]] | None:
        """The session's decision_event events, ts ascending; None when not visible."""
        with self._lock:
            found = self._visible(org_id, session_id)
            if found is None:
                return None
            if isinstance(found, _AddedSession):
                return json.loads(
                    json.dumps([e for e in found.events if e.get("kind") == "decision_event"])
                )
            count = found.count
        body = max(0, count - 1 - (1 if found.ended else 0))
        every = found.decision_every
        turns = range(every // 2, body // TURN_LEN, every)
        return [build_event(self.seed, found, 1 + j * TURN_LEN + TURN_LEN - 1) for j in turns]

    def events(
        self, session_id: str, start: int = 0, stop: int | None = None
    ) -> list[dict[str, Any]]:
        """Events ``start:stop`` of any session, ignoring org and deletion (a test helper).

        Lazy parts of scripted sessions are left unbuilt here (the huge output's ``stdout`` is
        empty); the timeline endpoint builds them.
        """
        with self._lock:
            if session_id in self._added:
                return json.loads(json.dumps(self._added[session_id].events[start:stop]))
            spec = self._specs[session_id]
            count = spec.count
        stop = count if stop is None else min(stop, count)
        return [build_event(self.seed, spec, i) for i in range(start, stop)]

    # ---------------------------------------------------------------- mutations

    def delete_session(self, org_id: str, session_id: str | None = None) -> bool:
        """Hard-delete (remembered); False when missing, already deleted or in another org.

        Called with a single argument, that argument is the session id and the org is not
        checked: tests use this to simulate a deletion made by someone else.
        """
        with self._lock:
            if session_id is None:
                session_id = org_id
                known = session_id in self._specs or session_id in self._added
                if not known or session_id in self._deleted:
                    return False
            elif self._visible(org_id, session_id) is None:
                return False
            self._deleted.add(session_id)
            self._scores.pop(session_id, None)  # "hard delete of ... artifacts and scores"
            return True

    def is_deleted(self, session_id: str) -> bool:
        return session_id in self._deleted

    def grow(self, session_id: str, n: int) -> int:
        """Append ``n`` generated events to a running session; returns the new eventCount.

        The new events are stamped from the wall clock (the last one is "now"), so a live view
        sees fresh activity. Raises KeyError for unknown/deleted sessions and ValueError for ended
        or verbatim (add_session) ones.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            if session_id in self._deleted or session_id not in (*self._specs, *self._added):
                raise KeyError(session_id)
            spec = self._specs.get(session_id)
            if spec is None:
                raise ValueError("sessions added with add_session cannot grow")
            if spec.ended:
                raise ValueError("session has ended")
            if n == 0:
                return spec.count
            step = 700
            last = event_ts_ms(self.seed, spec, spec.count - 1) if spec.count else spec.created_ms
            base = max(last + 1000, int(time.time() * 1000) - (n - 1) * step)
            spec.growth = [*spec.growth, (spec.count, base, step)]
            spec.count += n
            return spec.count

    def add_session(
        self, org_id: str, session: dict[str, Any], events: list[dict[str, Any]]
    ) -> str:
        """Add a hand-built session whose timeline is exactly ``events``; returns its id.

        Missing envelope fields are filled (``id`` as a random uuid4, ``sessionId``, ``orgId``,
        ``createdAt``); events are stable-sorted by ``ts`` as the upstream orders them. Session
        fields not given (eventCount, decisionFlagCount, startedAt, endedAt, lastActivityAt, ...)
        are derived from the events. Explicitly given fields, even odd ones, are kept as given.
        """
        session_id = str(session.get("id") or uuid.uuid4())
        filled = [self._fill_event(dict(e), session_id, org_id) for e in events]
        filled.sort(key=lambda e: parse_iso_ms(e.get("ts")) or 0)
        index = {str(event.get("id")): k for k, event in enumerate(filled)}
        with self._lock:
            if session_id in self._specs or session_id in self._added:
                raise ValueError(f"session {session_id} already exists")
            self._added[session_id] = _AddedSession(
                json.loads(json.dumps(self._derive_session(session, session_id, org_id, filled))),
                json.loads(json.dumps(filled)),
                index,
            )
        return session_id

    @staticmethod
    def _fill_event(event: dict[str, Any], session_id: str, org_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": event.pop("id", None) or str(uuid.uuid4()),
            "sessionId": event.pop("sessionId", session_id),
            "orgId": event.pop("orgId", org_id),
        }
        out.update(event)
        if "createdAt" not in out:
            ts = parse_iso_ms(out.get("ts"))
            out["createdAt"] = iso(ts + 500) if ts is not None else out.get("ts")
        return out

    @staticmethod
    def _derive_session(
        given: dict[str, Any], session_id: str, org_id: str, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        stamps = [ms for ms in (parse_iso_ms(e.get("ts")) for e in events) if ms is not None]
        first = iso(min(stamps)) if stamps else iso(day_ms(11, 1, 12))
        last = iso(max(stamps)) if stamps else None
        ended = bool(events) and events[-1].get("kind") == "session_end"
        derived: dict[str, Any] = {
            "id": session_id,
            "orgId": org_id,
            "sourceService": "claude-code",
            "startedAt": first,
            "endedAt": last if ended else None,
            "lastActivityAt": last,
            "metadata": {},
            "eventCount": len(events),
            "decisionFlagCount": sum(1 for e in events if e.get("kind") == "decision_event"),
            "aiAttributionPct": None,
            "totalCostUsd": 0,
            "createdAt": first,
            "updatedAt": last or first,
        }
        derived.update({k: v for k, v in given.items() if k not in ("id", "orgId")})
        return derived

    # ---------------------------------------------------------------- scores

    def scores(self, org_id: str, session_id: str) -> list[dict[str, Any]] | None:
        """The session's rubric scores in dimension order; None when the session is not visible."""
        with self._lock:
            if self._visible(org_id, session_id) is None:
                return None
            return self._score_list(session_id)

    def put_scores(
        self, org_id: str, session_id: str, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """Upsert validated items (see :func:`sandbox.scores.parse_body`) per dimension.

        A dimension scored before keeps its id, createdAt and reviewerId; score, notes and
        updatedAt change. Returns every score of the session; None when it is not visible.
        """
        now = int(time.time() * 1000)
        with self._lock:
            if self._visible(org_id, session_id) is None:
                return None
            scores = self._scores.setdefault(session_id, {})
            for item in items:
                old = scores.get(item["dimension"])
                if old is None:
                    scores[item["dimension"]] = score_object(
                        str(uuid.uuid4()), session_id, org_id, item, None, now, now
                    )
                    continue
                created = parse_iso_ms(old["createdAt"]) or now
                old.update(
                    score=item["score"], notes=item["notes"], updatedAt=iso(max(now, created))
                )
            return self._score_list(session_id)

    def _score_list(self, session_id: str) -> list[dict[str, Any]]:
        scores = self._scores.get(session_id, {})
        return [dict(scores[d]) for d in DIMENSIONS if d in scores]

    def scored_session_ids(self, org_id: str = "org_acme") -> list[str]:
        """Generated sessions whose scores were set elsewhere (seeded), unless deleted since."""
        with self._lock:
            return [
                sid
                for sid in self._scored
                if self._specs[sid].org_id == org_id and sid not in self._deleted
            ]

    # ---------------------------------------------------------------- helpers for tests/benches

    def big_session_id(self, org_id: str = "org_acme") -> str:
        """The 100,000-event session (acme only)."""
        return self._special(org_id, "big")

    def hostile_session_id(self, org_id: str = "org_acme") -> str:
        """The session whose every text field is a hostile string (acme only)."""
        return self._special(org_id, "hostile")

    def running_session_ids(self, org_id: str) -> list[str]:
        """Sessions still in progress that have events (endedAt null, eventCount > 0)."""
        with self._lock:
            return [
                s.id
                for s in self._specs.values()
                if s.org_id == org_id and not s.ended and s.count > 0 and s.id not in self._deleted
            ]

    def special_session_ids(self, org_id: str = "org_acme") -> dict[str, str]:
        """The first session of each special role, e.g. "empty", "fraction", "wide_line".

        Roles: running, fraction (aiAttributionPct as 0-1), data_quirks (an event without
        ``data`` and one with ``data: null``, prompts under ``prompt``), lockfile (a diff of
        thousands of lines), list_source (sourceService as a list), empty (zero events),
        missing_fields (no lastActivityAt/totalCostUsd, impactScore as 0-1), not_computed
        (aiAttributionPct null although ended), big, hostile, wide_line (one 200,000-char line);
        then the scripted sessions of :mod:`sandbox.scripted`: realistic, messy, no_changes and
        huge_output.
        """
        return {role: ids[0] for role, ids in self._roles[org_id].items()}

    def _special(self, org_id: str, role: str) -> str:
        ids = self._roles.get(org_id, {}).get(role)
        if not ids:
            raise LookupError(f"{org_id} has no {role} session")
        return ids[0]

    def spec(self, session_id: str) -> SessionSpec:
        """The generator spec of a generated session (for benches that need internals)."""
        return self._specs[session_id]


def _norm_service(value: str) -> str:
    return value.strip().lower().replace("_", "-")


def _services(value: Any) -> list[str]:
    """A sourceService value (string or list) as normalised names."""
    if isinstance(value, str):
        return [_norm_service(value)]
    if isinstance(value, list):
        return [_norm_service(v) for v in value if isinstance(v, str)]
    return []
