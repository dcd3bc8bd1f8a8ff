"""What Promptster sends, read once, leniently, into typed objects.

The documentation contradicts itself in places (REFERENCE.md §7), so every documented variant
is accepted and missing fields get defaults. Everything after the client reads attributes of
these objects, never raw dicts: sessions (`Session`, sessions page "Session object fields",
REFERENCE §1.4), assessments (§1.2) and timeline events (`Event`, timeline page "Event
envelope", REFERENCE §4). A value that cannot be read at all raises `Unreadable`, which the
client turns into `promptster.BadResponse`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reviewer import diffs, text
from reviewer.lenient import as_count, as_float, as_int, as_str, parse_ts

# Ids are UUIDs in the documentation and prefixed slugs (sess_…, evt_…) in its examples; this
# is the one definition of an id for URLs, cursors and the store alike.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
SESSIONS_MAX_LIMIT = 100
TIMELINE_MAX_LIMIT = 2000

ATTRIBUTIONS = (
    "likely_ai",
    "ai_revised_by_human",
    "likely_human",
    "mixed",
    "system_generated",
    "unknown",
)
OBSERVABILITIES = ("high", "medium", "partial", "low", "unknown")


class Unreadable(ValueError):
    """An object upstream sent that cannot be read at all (e.g. a session without an id)."""


def usable_id(value: Any) -> bool:
    """Whether `value` can serve as an id in URLs, cursors and the store."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def normalise_tool(name: str) -> str:
    """`claude_code` and `claude-code` are the same tool (REFERENCE §7.1)."""
    return name.strip().lower().replace("_", "-")


# --- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    id: str
    source_services: tuple[str, ...]
    started_at: datetime | None
    ended_at: datetime | None
    last_activity_at: datetime | None
    metadata: dict[str, Any]
    event_count: int
    decision_count: int
    ai_pct: float | None
    total_cost: float | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def source_label(self) -> str:
        return ", ".join(self.source_services) or "unknown"

    @property
    def is_running(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.ended_at:
            return self.ended_at - self.started_at
        return None

    @property
    def assessment_id(self) -> str:
        return as_str(self.metadata.get("assessmentId"))

    @property
    def candidate_name(self) -> str:
        return as_str(self.metadata.get("candidateName"))

    @property
    def repo_url(self) -> str:
        return as_str(self.metadata.get("repoUrl"))


def unwrap_session(raw: Any) -> Any:
    """The session object from `{"session": {...}}` (REFERENCE §1.4) or the bare object the
    sessions page describes; a list item may come in either shape too."""
    if isinstance(raw, dict) and "id" not in raw and isinstance(raw.get("session"), dict):
        return raw["session"]
    return raw


def parse_session(raw: Any, *, session_id: str | None = None) -> Session:
    """Read a session object leniently (sessions page "Session object fields", REFERENCE §1.4).

    `session_id` is the id the caller asked for: it is the id the product uses from then on
    (in links, cache keys and file names), never the one upstream echoes back.
    Raises `Unreadable` when there is no object or no usable id.
    """
    raw = unwrap_session(raw)
    if not isinstance(raw, dict):
        raise Unreadable("no session object")
    if session_id is None:
        if not usable_id(raw.get("id")):
            raise Unreadable("session object without a usable id")
        session_id = raw["id"]
    source = raw.get("sourceService")
    if isinstance(source, str):
        sources: tuple[str, ...] = (normalise_tool(source),) if source.strip() else ()
    elif isinstance(source, list):
        sources = tuple(normalise_tool(s) for s in source if isinstance(s, str) and s.strip())
    else:
        sources = ()
    pct = as_float(raw.get("aiAttributionPct"))
    if pct is not None:
        # The quickstart shows a 0–1 fraction (0.71) where the reference says 0–100 (72.5).
        if 0 < pct <= 1 and not float(pct).is_integer():
            pct *= 100
        pct = max(0.0, min(100.0, pct))
    metadata = raw.get("metadata")
    return Session(
        id=session_id,
        source_services=sources,
        started_at=parse_ts(raw.get("startedAt")),
        ended_at=parse_ts(raw.get("endedAt")),
        last_activity_at=parse_ts(raw.get("lastActivityAt")),
        metadata=metadata if isinstance(metadata, dict) else {},
        event_count=as_count(raw.get("eventCount")),
        decision_count=as_count(raw.get("decisionFlagCount")),
        ai_pct=pct,
        total_cost=as_float(raw.get("totalCostUsd")),
        raw={**raw, "id": session_id},
    )


@dataclass(frozen=True)
class SessionPage:
    sessions: list[Session]
    total: int
    limit: int
    offset: int
    unusable: int = 0  # items left out: not a session object, or no usable id


def parse_session_page(payload: Any) -> SessionPage:
    """`{sessions, total, limit, offset}` (sessions page "Listing sessions")."""
    if not isinstance(payload, dict) or not isinstance(payload.get("sessions"), list):
        raise Unreadable("session list without a 'sessions' array")
    sessions = []
    unusable = 0
    for item in payload["sessions"]:
        try:
            sessions.append(parse_session(item))
        except Unreadable:
            unusable += 1
    return SessionPage(
        sessions=sessions,
        total=max(len(sessions), as_count(payload.get("total"), len(sessions))),
        limit=as_count(payload.get("limit"), len(sessions)),
        offset=as_count(payload.get("offset")),
        unusable=unusable,
    )


def session_page_payload(page: SessionPage) -> dict[str, Any]:
    """A page as JSON-able data, for caches (parse_session_page reads it back)."""
    return {
        "sessions": [s.raw for s in page.sessions],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
        "unusable": page.unusable,
    }


# --- assessments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    id: str
    title: str
    role: str


def parse_assessments(payload: Any) -> list[Assessment]:
    """`{assessments: [...]}` (REFERENCE §1.2); items without a usable id are left out."""
    items = payload.get("assessments") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise Unreadable("assessment list without an 'assessments' array")
    return [
        Assessment(id=a["id"], title=as_str(a.get("title"), a["id"]), role=as_str(a.get("role")))
        for a in items
        if isinstance(a, dict) and usable_id(a.get("id"))
    ]


# --- rubric scores ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One rubric score of a session (REFERENCE §1.4, GET/POST /v1/sessions/:id/scores)."""

    dimension: str
    score: int
    notes: str
    reviewer_id: str
    updated_at: datetime | None


def parse_scores(payload: Any) -> list[Score]:
    """`{scores: [...], prompterScore}`; items without a dimension or a 1–5 score are left
    out (one odd item must not hide the others)."""
    items = payload.get("scores") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise Unreadable("scores answer without a 'scores' array")
    found = []
    for item in items:
        if not isinstance(item, dict) or not as_str(item.get("dimension")):
            continue
        value = as_int(item.get("score"), 0)
        if not 1 <= value <= 5:
            continue
        found.append(
            Score(
                dimension=item["dimension"],
                score=value,
                notes=as_str(item.get("notes")),
                reviewer_id=as_str(item.get("reviewerId")),
                updated_at=parse_ts(item.get("updatedAt") or item.get("createdAt")),
            )
        )
    return found


# --- timeline events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Provenance:
    attribution: str
    confidence: float | None
    observability: str


_SYSTEM_KINDS = ("session_start", "session_end", "checkpoint")


def read_provenance(raw: Any, kind: str) -> Provenance:
    """Provenance is documented as an object, sometimes shown as a bare string (§7.2)."""
    if isinstance(raw, dict):
        attribution = raw.get("attribution")
        confidence = as_float(raw.get("confidence"))
        observability = raw.get("observability")
        return Provenance(
            attribution=attribution if attribution in ATTRIBUTIONS else "unknown",
            confidence=None if confidence is None else max(0.0, min(1.0, confidence)),
            observability=observability if observability in OBSERVABILITIES else "unknown",
        )
    if raw is None and kind in _SYSTEM_KINDS:
        return Provenance("system_generated", None, "unknown")
    return Provenance("unknown", None, "unknown")


class Failure:
    """Why an event counts as a failure ("" when it does not)."""

    NONE = ""
    EXIT = "exit"  # a command or build that exited non-zero
    TESTS = "tests"  # a test run with failing tests
    TOOL_ERROR = "tool_error"  # a tool call that failed
    REJECTED = "rejected"  # a tool call the candidate did not allow

    LABELS = {
        EXIT: "failed",
        TESTS: "tests failed",
        TOOL_ERROR: "tool error",
        REJECTED: "rejected by the user",
    }


TOOL_KINDS = ("tool_use", "tool_result", "tool_call", "mcp_call")
CHANGE_KINDS = ("file_diff", "file_create")
# What a coding tool says when the candidate refused a tool call: Claude Code's "The user
# doesn't want to proceed with this tool use", "Permission to use Bash has been denied",
# "… requested permissions to use X, but you haven't granted it yet", "requires approval".
_REJECTION = re.compile(
    r"permission|not granted|haven.t granted|requires approval|needs approval|"
    r"denied by the user|user (?:denied|declined|rejected)|rejected by the user|"
    r"doesn.t want to proceed|tool use was rejected",
    re.IGNORECASE,
)

# A shell command counts as a test run when it starts with a test runner (after optional
# VAR=value prefixes and a wrapper such as `npx` or `python -m`).
_TEST_COMMAND = re.compile(
    r"^(?:[a-z_][a-z0-9_]*=\S*\s+)*"
    r"(?:(?:npx|bunx|uv run|uvx|poetry run|pipenv run|hatch run|pdm run|bundle exec|"
    r"python3?(?:\.[0-9]+)? -m|pnpm exec|pnpm dlx|yarn)\s+)?"
    r"(?:\S*/)?"
    r"(?:(?:pytest|py\.test|unittest|nose2|tox|nox|jest|vitest|mocha|ava|karma|rspec|"
    r"phpunit|ctest|playwright test|cypress run)(?:\s|$)|"
    r"(?:npm|yarn|pnpm|bun|go|cargo|make|mvn|gradle|gradlew|dotnet|mix|deno|swift|zig|"
    r"rake|sbt|lein|stack|cabal)\s+(?:run\s+)?test(?::\S*)?(?:\s|$))",
    re.IGNORECASE,
)


def is_test_command(command: str) -> bool:
    """Whether a shell command line runs a test suite (pytest, npm test, go test …)."""
    return _TEST_COMMAND.match(command.strip()) is not None


def _message_of(data: dict[str, Any]) -> str:
    for name in ("error", "stderr", "message", "result", "output", "reason"):
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):  # {"error": {"message": "…"}}
            inner = value.get("message")
            if isinstance(inner, str):
                return inner
    return ""


def failure_of(kind: str, data: dict[str, Any]) -> str:
    """Why this event is a failure, one of the `Failure` values."""
    if kind in ("command", "build_run"):
        code = data.get("exitCode")
        if not isinstance(code, bool) and as_int(code, 0) != 0:
            return Failure.EXIT
        return Failure.EXIT if data.get("ok") is False else Failure.NONE
    if kind == "test_run":
        return Failure.TESTS if as_int(data.get("failed"), 0) > 0 else Failure.NONE
    if kind in TOOL_KINDS:
        error = data.get("error")
        if data.get("ok") is False or (
            error not in (None, "", False) and data.get("ok") is not True
        ):
            rejected = data.get("rejected") is True or _REJECTION.search(_message_of(data))
            return Failure.REJECTED if rejected else Failure.TOOL_ERROR
    return Failure.NONE


def _line_counts(kind: str, data: dict[str, Any]) -> tuple[int, int]:
    """Changed lines of a file change: the parsed diff, else the reported counts, else the
    whole content of a created file."""
    if kind not in CHANGE_KINDS:
        return 0, 0
    diff = data.get("diff")
    if isinstance(diff, str) and diff:
        return diffs.counts(diff)
    added = as_int(data.get("linesAdded"), -1)
    removed = as_int(data.get("linesRemoved"), -1)
    if added < 0 and isinstance(data.get("content"), str):
        added = len(data["content"].splitlines())
    if added < 0 and isinstance(data.get("newString"), str):
        added = len(data["newString"].splitlines())
        removed = len(as_str(data.get("oldString")).splitlines()) if removed < 0 else removed
    return as_count(added), as_count(removed)


@dataclass(frozen=True, slots=True)
class Event:
    """One timeline event (timeline page "Event envelope"), read once.

    `raw` is the event exactly as sent (kept for exports); the other fields are read from it
    leniently: `kind` is "unknown" when missing, `ts` None when unreadable (`ts_raw` keeps
    what was sent), `data` {} when not an object. Counts and the failure are derived here so
    that nothing downstream reads the raw payload again.
    """

    id: str
    session_id: str | None
    kind: str
    ts: datetime | None
    ts_raw: str
    data: dict[str, Any]
    provenance: Provenance
    path: str
    lines_added: int
    lines_removed: int
    failure: str
    is_test: bool
    subject: str  # what the event acted with: a tool's name, a git action ("commit") …
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.failure != Failure.NONE


def _subject(kind: str, data: dict[str, Any]) -> str:
    """A short name of what the event acted with, for lists and maps."""
    if kind == "git_action":
        value = data.get("action")
    elif kind in TOOL_KINDS:
        value = data.get("toolName") or data.get("tool")
    elif kind in ("subagent_start", "subagent_stop"):
        value = data.get("agentType") or data.get("subagentType") or data.get("name")
    else:
        value = None
    return text.clean(value.strip())[:60] if isinstance(value, str) else ""


def parse_event(raw: dict[str, Any]) -> Event:
    """Read one timeline event; raises `Unreadable` without a usable id."""
    if not usable_id(raw.get("id")):
        raise Unreadable("timeline event without a usable id")
    kind = raw.get("kind")
    kind = text.clean(kind.strip()) if isinstance(kind, str) and kind.strip() else "unknown"
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    session_id = raw.get("sessionId")
    path = data.get("path")
    added, removed = _line_counts(kind, data)
    command = data.get("command")
    return Event(
        id=raw["id"],
        session_id=session_id if isinstance(session_id, str) else None,
        kind=kind,
        ts=parse_ts(raw.get("ts")),
        ts_raw=raw["ts"] if isinstance(raw.get("ts"), str) else "",
        data=data,
        provenance=read_provenance(raw.get("provenance"), kind),
        path=path if isinstance(path, str) else "",
        lines_added=added,
        lines_removed=removed,
        failure=failure_of(kind, data),
        is_test=kind == "test_run"
        or (kind == "command" and isinstance(command, str) and is_test_command(command)),
        subject=_subject(kind, data),
        raw=raw,
    )


@dataclass(frozen=True)
class TimelinePage:
    events: list[Event]
    has_more: bool
    cursor: str | None = None  # the id of the page's last event, for the next `after`
    unusable: int = 0  # entries left out: not an object, or no usable id

    @property
    def last_id(self) -> str | None:
        return self.cursor


def parse_timeline_page(payload: Any) -> TimelinePage:
    """`{events, hasMore}` (timeline page "Getting the timeline"); entries without a usable id
    are left out and counted, anything else in an event is the renderer's problem."""
    _, has_more = timeline_cursor(payload)
    entries = payload["events"]
    events = list(_parse_events(entries))
    unusable = len(entries) - len(events)
    if has_more:
        # Entries after the cursor come again at the head of the next page: counted there.
        last = next(i for i in range(len(entries) - 1, -1, -1) if _usable_entry(entries[i]))
        unusable -= len(entries) - 1 - last
    cursor = events[-1].id if events else None
    return TimelinePage(events=events, has_more=has_more, cursor=cursor, unusable=unusable)


def _usable_entry(item: Any) -> bool:
    return isinstance(item, dict) and usable_id(item.get("id"))


def timeline_cursor(payload: Any) -> tuple[str | None, bool]:
    """(the `after` cursor for the next page, whether there is one) of a timeline page's JSON,
    read without the rest of it: the id of its last entry with a usable id, as
    `parse_timeline_page` reads it. Raises `Unreadable` without an events array."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise Unreadable("timeline page without an 'events' array")
    cursor = next((item["id"] for item in reversed(payload["events"]) if _usable_entry(item)), None)
    return cursor, payload.get("hasMore") is True and cursor is not None


def _parse_events(items: Iterable[Any]) -> Iterable[Event]:
    for item in items:
        if _usable_entry(item):  # what parse_event would refuse is left out
            yield parse_event(item)
