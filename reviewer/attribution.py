"""AI-attribution summaries of one session: their shapes, their cache version, and how
Promptster's own percentage reads.

Promptster labels every event with an attribution class and a confidence. Those labels are
evidence about how a change came to exist, never a verdict: heavy AI use is normal, and what
a reviewer looks for is how the candidate worked (prompting, checking, correcting). Everything
here therefore keeps the raw counts next to the confidence-weighted ones and says how many
events carried no confidence at all.

`reviewer.summarize` computes a summary from the store; it is cached until the store changes
(`timeline.store_version`). Upstream fields (Promptster's own percentage, the expected event
count) are attached after the cache, so a score computed upstream later shows at once without
recomputing anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from reviewer import rendering, timeline, upstream
from reviewer.models import TimelineSync

CHANGE_KINDS = ("file_diff", "file_create")
HAND_ATTRIBUTIONS = ("likely_human", "ai_revised_by_human")
DEFAULT_CONFIDENCE = 0.5
BUCKET_COUNT = 24
MAX_FILES = 200

# Activity groups for the "what kind of activity" stack; any other kind is "other".
ACTIVITY_LABELS = {
    "prompt": "Prompts",
    "ai_response": "AI responses",
    "change": "File changes",
    "command": "Commands",
    "test": "Test runs",
    "decision": "Decisions",
    "other": "Other",
}
ACTIVITY_ORDER = tuple(ACTIVITY_LABELS)
ACTIVITIES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "ai_response": ("ai_response",),
    "change": ("file_diff", "file_create", "file_delete"),
    "command": ("command", "build_run"),
    "test": ("test_run",),
    "decision": ("decision_event",),
}
_ACTIVITY_OF_KIND = {kind: key for key, kinds in ACTIVITIES.items() for kind in kinds}


def activity_of(kind: str) -> str:
    return _ACTIVITY_OF_KIND.get(kind, "other")


# How long after its end a session's missing aiAttributionPct still reads as "pending".
PCT_PENDING_FOR = timedelta(minutes=15)


def promptster_pct_state(session: upstream.Session, sync: TimelineSync | None) -> str:
    """What Promptster's own aiAttributionPct says: "value", or why there is none:
    "pending" (running, or just ended), "no_changes" (the stored timeline changed no file),
    or "not_computed"."""
    if session.ai_pct is not None:
        return "value"
    if session.is_running:
        return "pending"
    if session.ended_at is not None and timezone.now() - session.ended_at < PCT_PENDING_FOR:
        return "pending"
    if sync is not None and sync.complete and sync.file_changes == 0:
        return "no_changes"
    return "not_computed"


def share_pct(part: float, whole: float) -> float | None:
    """`part` as a percentage of `whole` (0–100); None when `whole` is 0."""
    return part * 100.0 / whole if whole else None


# --- the session summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassShare:
    """One attribution class's share of the events and of the changed lines."""

    attribution: str
    events: int
    events_weight: float  # sum of confidences, 0.5 where none
    events_pct: float | None
    events_weighted_pct: float | None
    lines: int
    lines_weight: float
    lines_pct: float | None
    lines_weighted_pct: float | None
    rated: int  # events that carried a confidence
    mean_confidence: float | None

    @property
    def label(self) -> str:
        return rendering.ATTRIBUTION_LABELS.get(self.attribution, self.attribution)

    @property
    def unrated(self) -> int:
        return self.events - self.rated


@dataclass(frozen=True)
class Bucket:
    """A slice of the session's span: whose events, which activities, tests and commands."""

    index: int
    start: datetime
    end: datetime
    offset_start: timedelta
    offset_end: timedelta
    events: int
    by_attribution: dict[str, int]
    by_activity: dict[str, int]
    lines: int
    commands: int
    commands_failed: int
    tests: int  # test_run events plus test commands
    tests_failed: int

    @property
    def ai_events(self) -> int:
        return self.by_attribution.get("likely_ai", 0)

    @property
    def hand_events(self) -> int:
        return sum(self.by_attribution.get(a, 0) for a in HAND_ATTRIBUTIONS)


@dataclass(frozen=True)
class FileRow:
    """Lines added and removed in one file, split by attribution."""

    path: str
    changes: int
    added: int
    removed: int
    by_attribution: dict[str, tuple[int, int]]  # attribution -> (added, removed)
    hand_changes: int  # changes labelled likely_human or ai_revised_by_human

    @property
    def lines(self) -> int:
        return self.added + self.removed

    @property
    def hand_edited(self) -> bool:
        return self.hand_changes > 0

    @property
    def hand_lines(self) -> int:
        return sum(
            a + r for attr, (a, r) in self.by_attribution.items() if attr in HAND_ATTRIBUTIONS
        )

    @property
    def parts(self) -> list[tuple[str, str, int, int]]:
        """(attribution, label, added, removed) in the fixed class order, non-empty only."""
        return [
            (attr, rendering.ATTRIBUTION_LABELS[attr], *self.by_attribution[attr])
            for attr in upstream.ATTRIBUTIONS
            if attr in self.by_attribution
        ]


@dataclass(frozen=True)
class Process:
    """Working-process facts: what the candidate did, not who wrote what."""

    prompts: int
    ai_responses: int
    commands: int
    commands_failed: int
    test_runs: int
    test_runs_failed: int
    test_commands: int  # test commands without a test_run event of their own
    test_commands_failed: int
    tool_calls: int
    tool_calls_failed: int  # tool errors and rejections
    tool_calls_rejected: int
    ai_changes: int
    ai_changes_tested: int
    hand_changes: int
    decisions: int
    first_change_after: timedelta | None
    other_kinds: dict[str, int]

    @property
    def command_fail_pct(self) -> float | None:
        return share_pct(self.commands_failed, self.commands)

    @property
    def test_pass_pct(self) -> float | None:
        return share_pct(self.test_runs - self.test_runs_failed, self.test_runs)

    @property
    def test_command_pass_pct(self) -> float | None:
        return share_pct(self.test_commands - self.test_commands_failed, self.test_commands)

    @property
    def tested_after_ai_pct(self) -> float | None:
        return share_pct(self.ai_changes_tested, self.ai_changes)


@dataclass(frozen=True)
class SessionSummary:
    """What the local store says about attribution and process in one session.

    Fields up to `process` come from the store and are cached; `ai_pct`, `expected_events`
    and `session_running` are upstream fields attached on every read (see `summary_for`).
    `complete` is False while prefetch has not stored the whole timeline: every number is
    then "based on `total_events` of `expected_events` events".
    """

    session_id: str
    complete: bool
    total_events: int
    total_lines: int
    unrated_events: int
    shares: list[ClassShare]
    kinds: dict[str, int]
    start: datetime | None
    end: datetime | None
    bucket_width: timedelta | None
    buckets: list[Bucket]
    undated_events: int
    files: list[FileRow]
    files_total: int
    hand_files: int
    process: Process
    ai_pct: float | None = None
    ai_pct_state: str = "value"  # see promptster_pct_state
    expected_events: int | None = None
    session_running: bool = False

    @property
    def partial(self) -> bool:
        return not self.complete

    @property
    def empty(self) -> bool:
        return self.total_events == 0

    def share(self, attribution: str) -> ClassShare | None:
        return next((s for s in self.shares if s.attribution == attribution), None)

    @property
    def likely_ai(self) -> ClassShare | None:
        return self.share("likely_ai")

    @property
    def hand_lines(self) -> int:
        return sum(s.lines for s in self.shares if s.attribution in HAND_ATTRIBUTIONS)

    @property
    def hand_lines_pct(self) -> float | None:
        return share_pct(self.hand_lines, self.total_lines)

    @property
    def other_kinds_total(self) -> int:
        return sum(self.process.other_kinds.values())

    @property
    def test_trend(self) -> list[tuple[str, int, int, float | None]]:
        """(part of the session, tests, failing, pass %) for its first, middle and last third.

        Tests here are test_run events and test commands together.
        """
        if len(self.buckets) < 3:
            runs = sum(b.tests for b in self.buckets)
            failing = sum(b.tests_failed for b in self.buckets)
            return [("whole session", runs, failing, share_pct(runs - failing, runs))]
        parts = []
        for third, name in enumerate(("first third", "middle third", "last third")):
            chosen = [b for b in self.buckets if b.index * 3 // len(self.buckets) == third]
            runs = sum(b.tests for b in chosen)
            failing = sum(b.tests_failed for b in chosen)
            parts.append((name, runs, failing, share_pct(runs - failing, runs)))
        return parts

    @property
    def top_files(self) -> list[FileRow]:
        return self.files[:5]

    @property
    def more_files(self) -> int:
        return self.files_total - len(self.files)

    def metrics(self) -> dict[str, float | None]:
        """The per-session numbers the cohort compares (keys of `METRICS` sourced "store")."""
        ai = self.likely_ai
        first = self.process.first_change_after
        return {
            "ai_lines_pct": ai.lines_pct if ai and self.total_lines else None,
            "ai_lines_weighted_pct": ai.lines_weighted_pct if ai and self.total_lines else None,
            "ai_events_pct": ai.events_pct if ai else (0.0 if self.total_events else None),
            "hand_lines_pct": self.hand_lines_pct,
            "prompts": float(self.process.prompts) if self.total_events else None,
            "command_fail_pct": self.process.command_fail_pct,
            "test_pass_pct": self.process.test_pass_pct,
            "tested_after_ai_pct": self.process.tested_after_ai_pct,
            "first_change_s": first.total_seconds() if first is not None else None,
            "decisions": float(self.process.decisions) if self.total_events else None,
        }

    @property
    def attribution_labels(self) -> dict[str, str]:
        return rendering.ATTRIBUTION_LABELS


def summary_version(sync: TimelineSync, session: upstream.Session) -> str:
    """Changes whenever the summary would: the store's version, and the session's own start
    and end (the span, so the buckets, depends on them)."""
    started = session.started_at.isoformat() if session.started_at else ""
    ended = session.ended_at.isoformat() if session.ended_at else ""
    return f"{timeline.store_version(sync)}:{started}:{ended}"


def has_summary(sync: TimelineSync | None) -> bool:
    """Whether anything is stored to summarise (a complete but empty timeline counts)."""
    return sync is not None and (sync.events_stored > 0 or sync.complete)


def with_upstream(
    summary: SessionSummary, session: upstream.Session, sync: TimelineSync
) -> SessionSummary:
    """The summary with the upstream fields attached (they change without the store)."""
    expected = sync.expected_events if sync.expected_events is not None else session.event_count
    return replace(
        summary,
        ai_pct=session.ai_pct,
        ai_pct_state=promptster_pct_state(session, sync),
        expected_events=max(expected, summary.total_events) if expected else None,
        session_running=session.is_running,
    )


def summary_to_data(summary: SessionSummary) -> dict[str, Any]:
    """The summary as plain data (for caches); `summary_from_data` reads it back."""
    return asdict(summary)


def _file_row(data: dict[str, Any]) -> FileRow:
    parts = {k: (v[0], v[1]) for k, v in data["by_attribution"].items()}
    return FileRow(**{**data, "by_attribution": parts})


def summary_from_data(data: dict[str, Any]) -> SessionSummary:
    return SessionSummary(
        **{
            **data,
            "shares": [ClassShare(**s) for s in data["shares"]],
            "buckets": [Bucket(**b) for b in data["buckets"]],
            "files": [
                FileRow(
                    **{**f, "by_attribution": {k: tuple(v) for k, v in f["by_attribution"].items()}}
                )
                for f in data["files"]
            ],
            "process": Process(**data["process"]),
        }
    )
