"""AI-attribution summaries of one session and of an assessment's cohort, from the local store.

Promptster labels every event with an attribution class and a confidence. Those labels are
evidence about how a change came to exist, never a verdict: heavy AI use is normal, and what
a reviewer looks for is how the candidate worked (prompting, checking, correcting). Everything
here therefore keeps the raw counts next to the confidence-weighted ones and says how many
events carried no confidence at all.

A session summary costs four aggregate queries over the stored events, whatever the size of
the session:

1. the span (first and last timestamp, first file change, undated events);
2. events grouped by time bucket × kind × attribution, with line sums, confidence sums and
   failure counts: shares, activity over time, tests and commands all come from it;
3. file changes grouped by path × attribution;
4. likely-AI file changes, each checked for a test before the next prompt (index lookups).

It is cached until the store changes (`timeline.store_version`). Upstream fields (Promptster's
own percentage, the expected event count) are attached after the cache, so a score computed
upstream later shows at once without recomputing anything.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from reviewer import cache, charts, promptster, rendering, timeline
from reviewer.models import Organization, StoredEvent, TimelineSync

CHANGE_KINDS = ("file_diff", "file_create")
HAND_ATTRIBUTIONS = ("likely_human", "ai_revised_by_human")
DEFAULT_CONFIDENCE = 0.5
BUCKET_COUNT = 24
MAX_FILES = 200
COHORT_MAX_SESSIONS = 1000
_NO_PROMPT_AFTER = 2**31 - 1

# A shell command counts as a test run when it starts with a test runner (after optional
# VAR=value prefixes and a wrapper such as `npx` or `python -m`). The pattern is anchored on
# `search_text`, which for a command begins with the command line. It avoids `\b`, which
# PostgreSQL reads as a backspace, so it means the same on SQLite and PostgreSQL.
_END = r"(?:\s|$)"
TEST_COMMAND_PATTERN = (
    r"^(?:[a-z_][a-z0-9_]*=\S*\s+)*"
    r"(?:(?:npx|bunx|uv run|uvx|poetry run|pipenv run|hatch run|pdm run|bundle exec|"
    r"python3?(?:\.[0-9]+)? -m|pnpm exec|pnpm dlx|yarn)\s+)?"
    r"(?:\S*/)?"
    r"(?:(?:pytest|py\.test|unittest|nose2|tox|nox|jest|vitest|mocha|ava|karma|rspec|"
    r"phpunit|ctest|playwright test|cypress run)" + _END + "|"
    r"(?:npm|yarn|pnpm|bun|go|cargo|make|mvn|gradle|gradlew|dotnet|mix|deno|swift|zig|"
    r"rake|sbt|lein|stack|cabal)\s+(?:run\s+)?test(?::\S*)?" + _END + ")"
)

# Activity groups for the "what kind of activity" stack (labels in charts.ACTIVITY_LABELS);
# any other kind is "other".
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


def _pct(part: float, whole: float) -> float | None:
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
            for attr in timeline.ATTRIBUTIONS
            if attr in self.by_attribution
        ]

    @property
    def chart(self) -> charts.Chart:
        return charts.file_bar(self)


@dataclass(frozen=True)
class Process:
    """Working-process facts: what the candidate did, not who wrote what."""

    prompts: int
    ai_responses: int
    commands: int
    commands_failed: int
    test_runs: int
    test_runs_failed: int
    test_commands: int
    test_commands_failed: int
    ai_changes: int
    ai_changes_tested: int
    hand_changes: int
    decisions: int
    first_change_after: timedelta | None
    other_kinds: dict[str, int]

    @property
    def command_fail_pct(self) -> float | None:
        return _pct(self.commands_failed, self.commands)

    @property
    def test_pass_pct(self) -> float | None:
        return _pct(self.test_runs - self.test_runs_failed, self.test_runs)

    @property
    def test_command_pass_pct(self) -> float | None:
        return _pct(self.test_commands - self.test_commands_failed, self.test_commands)

    @property
    def tested_after_ai_pct(self) -> float | None:
        return _pct(self.ai_changes_tested, self.ai_changes)


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
        return _pct(self.hand_lines, self.total_lines)

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
            return [("whole session", runs, failing, _pct(runs - failing, runs))]
        parts = []
        for third, name in enumerate(("first third", "middle third", "last third")):
            chosen = [b for b in self.buckets if b.index * 3 // len(self.buckets) == third]
            runs = sum(b.tests for b in chosen)
            failing = sum(b.tests_failed for b in chosen)
            parts.append((name, runs, failing, _pct(runs - failing, runs)))
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

    # Charts are derived at render time (cheap) and never cached with the summary.

    @property
    def _chart_prefix(self) -> str:
        return "ch-" + self.session_id

    @cached_property
    def shares_chart(self) -> charts.Chart:
        return charts.share_bars(self.shares, chart_id=self._chart_prefix + "-shares")

    @cached_property
    def time_chart(self) -> charts.Chart:
        return charts.time_bars(self.buckets, "attribution", chart_id=self._chart_prefix + "-t")

    @cached_property
    def time_chart_compact(self) -> charts.Chart:
        return charts.time_bars(
            self.buckets, "attribution", chart_id=self._chart_prefix + "-tc", compact=True
        )

    @cached_property
    def activity_chart(self) -> charts.Chart:
        return charts.time_bars(self.buckets, "activity", chart_id=self._chart_prefix + "-a")

    @property
    def attribution_labels(self) -> dict[str, str]:
        return rendering.ATTRIBUTION_LABELS


def _events(sync: TimelineSync) -> QuerySet[StoredEvent]:
    return StoredEvent.objects.for_sync(sync).order_by()


def _test_command_q() -> Q:
    return Q(kind="command", search_text__regex=TEST_COMMAND_PATTERN)


def _bucket_expression(start: datetime, width: timedelta, count: int) -> Case:
    """Bucket index of an event's ts: -1 when undated, 0..count-1 otherwise (clamped)."""
    whens = [When(ts__isnull=True, then=Value(-1))]
    whens += [When(ts__lt=start + width * (i + 1), then=Value(i)) for i in range(count - 1)]
    return Case(*whens, default=Value(count - 1), output_field=IntegerField())


def _tested_ai_changes(sync: TimelineSync) -> tuple[int, int]:
    """(likely-AI file changes, those followed by a test run or test command before the next
    prompt). Each change costs a few index lookups, not a scan of the session."""
    events = _events(sync)
    # Seen from inside the Exists below: the first prompt after the outer change.
    next_prompt = Coalesce(
        Subquery(
            events.filter(kind="prompt", seq__gt=OuterRef(OuterRef("seq")))
            .order_by("seq")
            .values("seq")[:1]
        ),
        Value(_NO_PROMPT_AFTER),
    )
    window = Q(seq__gt=OuterRef("seq"), seq__lt=next_prompt)
    tested = Exists(events.filter(window, kind="test_run")) | Exists(
        events.filter(window, _test_command_q())
    )
    result = events.filter(kind__in=CHANGE_KINDS, attribution="likely_ai").aggregate(
        total=Count("id"), tested=Count("id", filter=tested)
    )
    return result["total"] or 0, result["tested"] or 0


def compute_summary(
    sync: TimelineSync, started_at: datetime | None, ended_at: datetime | None
) -> SessionSummary:
    """Summarise what is stored for `sync` now (see the module docstring for the queries).

    The span runs from the earlier of the session's start and its first event to the later of
    its end and its last event, cut into `BUCKET_COUNT` equal buckets (one when it has no
    length). Events without a timestamp are counted everywhere except in the buckets.
    """
    events = _events(sync)
    confidence = Coalesce(F("confidence"), Value(DEFAULT_CONFIDENCE), output_field=FloatField())
    lines = F("lines_added") + F("lines_removed")

    span = events.aggregate(
        first=Min("ts"),
        last=Max("ts"),
        first_change=Min("ts", filter=Q(kind__in=CHANGE_KINDS)),
        undated=Count("id", filter=Q(ts__isnull=True)),
    )
    starts = [t for t in (started_at, span["first"]) if t is not None]
    ends = [t for t in (ended_at, span["last"]) if t is not None]
    start = min(starts) if starts else None
    end = max(ends) if ends else None
    if start is not None and end is not None and end > start:
        count, width = BUCKET_COUNT, (end - start) / BUCKET_COUNT
    else:
        count, width = 1, timedelta(0)
    bucket_start = start or datetime.min

    test_command = _test_command_q()
    rows = list(
        events.annotate(bucket=_bucket_expression(bucket_start, width, count))
        .values("bucket", "kind", "attribution")
        .annotate(
            n=Count("id"),
            weight=Sum(confidence),
            rated=Count("confidence"),
            confidence_sum=Sum("confidence"),
            changed_lines=Sum(lines),
            weighted_lines=Sum(ExpressionWrapper(lines * confidence, output_field=FloatField())),
            failures=Count("id", filter=Q(failed=True)),
            test_commands=Count("id", filter=test_command),
            test_commands_failed=Count("id", filter=test_command & Q(failed=True)),
        )
    )

    # Fold the grouped rows into per-class, per-kind and per-bucket totals.
    cls: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    kinds: dict[str, int] = defaultdict(int)
    failed_by_kind: dict[str, int] = defaultdict(int)
    test_commands = test_commands_failed = 0
    per_bucket: dict[int, dict[str, Any]] = {
        i: {
            "attr": defaultdict(int),
            "act": defaultdict(int),
            "n": 0,
            "lines": 0,
            "cmd": 0,
            "cmd_failed": 0,
            "tests": 0,
            "tests_failed": 0,
        }
        for i in range(count)
    }
    for row in rows:
        n, kind, attr = row["n"], row["kind"], row["attribution"]
        row_lines = (row["changed_lines"] or 0) if kind in CHANGE_KINDS else 0
        c = cls[attr]
        c["events"] += n
        c["weight"] += row["weight"] or 0.0
        c["rated"] += row["rated"]
        c["confidence_sum"] += row["confidence_sum"] or 0.0
        c["lines"] += row_lines
        c["weighted_lines"] += (row["weighted_lines"] or 0.0) if kind in CHANGE_KINDS else 0.0
        kinds[kind] += n
        failed_by_kind[kind] += row["failures"]
        test_commands += row["test_commands"]
        test_commands_failed += row["test_commands_failed"]
        b = per_bucket.get(row["bucket"])
        if b is None:  # undated
            continue
        b["n"] += n
        b["attr"][attr] += n
        b["act"][activity_of(kind)] += n
        b["lines"] += row_lines
        if kind == "command":
            b["cmd"] += n
            b["cmd_failed"] += row["failures"]
            b["tests"] += row["test_commands"]
            b["tests_failed"] += row["test_commands_failed"]
        elif kind == "test_run":
            b["tests"] += n
            b["tests_failed"] += row["failures"]

    total_events = int(sum(c["events"] for c in cls.values()))
    total_weight = sum(c["weight"] for c in cls.values())
    total_lines = int(sum(c["lines"] for c in cls.values()))
    total_weighted_lines = sum(c["weighted_lines"] for c in cls.values())
    shares = [
        ClassShare(
            attribution=attr,
            events=int(c["events"]),
            events_weight=c["weight"],
            events_pct=_pct(c["events"], total_events),
            events_weighted_pct=_pct(c["weight"], total_weight),
            lines=int(c["lines"]),
            lines_weight=c["weighted_lines"],
            lines_pct=_pct(c["lines"], total_lines),
            lines_weighted_pct=_pct(c["weighted_lines"], total_weighted_lines),
            rated=int(c["rated"]),
            mean_confidence=c["confidence_sum"] / c["rated"] if c["rated"] else None,
        )
        for attr in timeline.ATTRIBUTIONS
        if (c := cls.get(attr)) is not None
    ]

    buckets = []
    if start is not None:
        for i in range(count):
            b = per_bucket[i]
            lo = start + width * i
            hi = end if (i == count - 1 and end is not None) else start + width * (i + 1)
            buckets.append(
                Bucket(
                    index=i,
                    start=lo,
                    end=hi,
                    offset_start=lo - start,
                    offset_end=hi - start,
                    events=b["n"],
                    by_attribution=dict(b["attr"]),
                    by_activity=dict(b["act"]),
                    lines=b["lines"],
                    commands=b["cmd"],
                    commands_failed=b["cmd_failed"],
                    tests=b["tests"],
                    tests_failed=b["tests_failed"],
                )
            )

    files, files_total, hand_files = _files(sync)
    ai_changes, ai_tested = _tested_ai_changes(sync) if cls.get("likely_ai") else (0, 0)
    first_change = span["first_change"]
    known = set(rendering.CANONICAL_KINDS)
    process = Process(
        prompts=kinds.get("prompt", 0),
        ai_responses=kinds.get("ai_response", 0),
        commands=kinds.get("command", 0),
        commands_failed=failed_by_kind.get("command", 0),
        test_runs=kinds.get("test_run", 0),
        test_runs_failed=failed_by_kind.get("test_run", 0),
        test_commands=test_commands,
        test_commands_failed=test_commands_failed,
        ai_changes=ai_changes,
        ai_changes_tested=ai_tested,
        hand_changes=sum(f.hand_changes for f in files),
        decisions=kinds.get("decision_event", 0),
        first_change_after=(first_change - start)
        if first_change is not None and start is not None
        else None,
        other_kinds={k: n for k, n in sorted(kinds.items()) if k not in known},
    )
    return SessionSummary(
        session_id=sync.session_id,
        complete=sync.complete,
        total_events=total_events,
        total_lines=total_lines,
        unrated_events=int(sum(c["events"] - c["rated"] for c in cls.values())),
        shares=shares,
        kinds=dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        start=start,
        end=end,
        bucket_width=width if start is not None else None,
        buckets=buckets,
        undated_events=span["undated"] or 0,
        files=files,
        files_total=files_total,
        hand_files=hand_files,
        process=process,
    )


def _files(sync: TimelineSync) -> tuple[list[FileRow], int, int]:
    """The `MAX_FILES` most-changed files, how many files were changed, how many by hand."""
    rows = (
        _events(sync)
        .filter(kind__in=CHANGE_KINDS)
        .values("path", "attribution")
        .annotate(n=Count("id"), added=Sum("lines_added"), removed=Sum("lines_removed"))
    )
    by_path: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_path.setdefault(
            row["path"], {"n": 0, "added": 0, "removed": 0, "attr": {}, "hand": 0}
        )
        added, removed = row["added"] or 0, row["removed"] or 0
        entry["n"] += row["n"]
        entry["added"] += added
        entry["removed"] += removed
        entry["attr"][row["attribution"]] = (added, removed)
        if row["attribution"] in HAND_ATTRIBUTIONS:
            entry["hand"] += row["n"]
    files = [
        FileRow(
            path=path,
            changes=e["n"],
            added=e["added"],
            removed=e["removed"],
            by_attribution=e["attr"],
            hand_changes=e["hand"],
        )
        for path, e in by_path.items()
    ]
    files.sort(key=lambda f: (-f.lines, -f.changes, f.path))
    hand_files = sum(1 for f in files if f.hand_edited)
    return files[:MAX_FILES], len(files), hand_files


def _version(sync: TimelineSync, session: promptster.Session) -> str:
    # The span (and so the buckets) depends on the session's own start and end as well.
    started = session.started_at.isoformat() if session.started_at else ""
    ended = session.ended_at.isoformat() if session.ended_at else ""
    return f"{timeline.store_version(sync)}:{started}:{ended}"


def summary_for(
    org: Organization, session: promptster.Session, sync: TimelineSync | None
) -> SessionSummary | None:
    """The session's summary from its local store; None while nothing is stored.

    A session whose (complete) timeline has no events gets an empty summary, not None.
    """
    if sync is None or (sync.events_stored == 0 and not sync.complete):
        return None

    def compute() -> SessionSummary:
        return compute_summary(sync, session.started_at, session.ended_at)

    summary = cache.get_summary(org, session.id, _version(sync, session), compute)
    if not isinstance(summary, SessionSummary):  # an entry from an older code version
        summary = compute()
    expected = sync.expected_events if sync.expected_events is not None else session.event_count
    return replace(
        summary,
        ai_pct=session.ai_pct,
        expected_events=max(expected, summary.total_events) if expected else None,
        session_running=session.is_running,
    )


def summary_html(
    org: Organization,
    session: promptster.Session,
    sync: TimelineSync | None,
    place: Any,
    *,
    full: bool = False,
) -> SafeString:
    """The sidebar panel (or, `full`, the attribution page's body), rendered once per summary
    and place: its charts are the costly part of a session page."""
    summary = summary_for(org, session, sync)
    template = "attribution/_summary.html" if full else "attribution/panel.html"
    context = {"summary": summary, "session": session, "place": place, "compact": not full}
    if summary is None or sync is None:
        return mark_safe(render_to_string(template, context))  # noqa: S308
    name = hashlib.sha256(repr((template, place.base, place.shared)).encode()).hexdigest()[:20]
    version = repr(
        (_version(sync, session), session.ai_pct, summary.expected_events, session.is_running)
    )
    html = cache.get_derived(
        org,
        session.id,
        f"summary-html-{name}",
        version,
        lambda: render_to_string(template, context),
    )
    return mark_safe(html)  # noqa: S308 - rendered by our own templates, escaped there


# --- the cohort ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A number compared across a cohort. `source` "upstream" metrics exist without a store."""

    key: str
    label: str
    unit: str  # "pct", "count" or "seconds"
    help: str
    source: str = "store"

    def format(self, value: float | None) -> str:
        return charts.format_value(value, self.unit)


METRICS: tuple[Metric, ...] = (
    Metric(
        "promptster_ai_pct",
        "Promptster AI %",
        "pct",
        "Promptster's own aiAttributionPct for the session.",
        "upstream",
    ),
    Metric(
        "ai_lines_pct",
        "Likely-AI lines",
        "pct",
        "Share of changed lines (added + removed) labelled likely_ai.",
    ),
    Metric(
        "ai_lines_weighted_pct",
        "Likely-AI lines, weighted",
        "pct",
        "The same share with every change weighted by Promptster's confidence.",
    ),
    Metric(
        "hand_lines_pct",
        "Hand-edited lines",
        "pct",
        "Share of changed lines labelled likely_human or ai_revised_by_human.",
    ),
    Metric("prompts", "Prompts", "count", "Prompts sent to the AI."),
    Metric(
        "command_fail_pct", "Failed commands", "pct", "Commands that exited with a non-zero code."
    ),
    Metric(
        "test_pass_pct",
        "Passing test runs",
        "pct",
        "Test runs (test_run events) with no failed test.",
    ),
    Metric(
        "tested_after_ai_pct",
        "AI changes tested",
        "pct",
        "Likely-AI file changes followed by a test run or test command before the next prompt.",
    ),
    Metric(
        "first_change_s",
        "Time to first change",
        "seconds",
        "From the session's start to its first file change.",
    ),
    Metric("decisions", "Decisions", "count", "Decisions captured in the timeline."),
    Metric("duration_s", "Duration", "seconds", "From start to end of the session.", "upstream"),
)
METRICS_BY_KEY = {m.key: m for m in METRICS}
# Sortable columns: the metrics plus the row's identity columns.
SORT_KEYS = ("number", "candidate", "status", "started", "events", *METRICS_BY_KEY)
DEFAULT_SORT = "number"


class RowStatus:
    RUNNING = "running"
    NOT_FETCHED = "not_fetched"
    PARTIAL = "partial"
    STORED = "stored"


@dataclass
class CohortRow:
    number: int  # 1-based, in upstream order: the label of the candidate's dot in the charts
    session: promptster.Session
    summary: SessionSummary | None
    sync: TimelineSync | None
    status: str
    values: dict[str, float | None]
    percentiles: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.session.candidate_name or self.session.short_id

    @property
    def running(self) -> bool:
        return self.status == RowStatus.RUNNING

    def counts_for(self, metric: Metric) -> bool:
        """Whether this row's value enters the cohort statistics for `metric`."""
        if self.running or self.values.get(metric.key) is None:
            return False
        return metric.source == "upstream" or self.status == RowStatus.STORED

    def cells(self) -> list[Cell]:
        return [
            Cell(
                metric=m,
                value=self.values.get(m.key),
                text=m.format(self.values.get(m.key)),
                percentile=self.percentiles.get(m.key),
                counted=self.counts_for(m),
            )
            for m in METRICS
        ]


@dataclass(frozen=True)
class Cell:
    metric: Metric
    value: float | None
    text: str
    percentile: int | None
    counted: bool


@dataclass(frozen=True)
class Point:
    number: int
    label: str
    session_id: str
    value: float
    text: str
    percentile: int


@dataclass(frozen=True)
class MetricStats:
    metric: Metric
    count: int
    median: float | None
    low: float | None
    high: float | None
    points: list[Point]  # ordered by value
    chart: charts.Chart | None

    @property
    def median_text(self) -> str:
        return self.metric.format(self.median)

    @property
    def range_text(self) -> str:
        return f"{self.metric.format(self.low)} – {self.metric.format(self.high)}"


@dataclass
class Cohort:
    assessment_id: str
    rows: list[CohortRow]
    total: int  # as reported upstream
    truncated: bool
    stale: bool
    stats: list[MetricStats] = field(default_factory=list)

    @property
    def running(self) -> int:
        return sum(1 for r in self.rows if r.status == RowStatus.RUNNING)

    @property
    def not_fetched(self) -> int:
        return sum(1 for r in self.rows if r.status == RowStatus.NOT_FETCHED)

    @property
    def partial(self) -> int:
        return sum(1 for r in self.rows if r.status == RowStatus.PARTIAL)

    @property
    def stored(self) -> int:
        return sum(1 for r in self.rows if r.status == RowStatus.STORED)

    def sorted_rows(self, key: str, descending: bool) -> list[CohortRow]:
        """Rows ordered by one column; rows without a value always come last."""
        getter = _SORTERS.get(key) or _metric_sorter(key)
        present = [r for r in self.rows if getter(r) is not None]
        missing = [r for r in self.rows if getter(r) is None]
        present.sort(key=lambda r: (getter(r), r.number), reverse=descending)
        return present + sorted(missing, key=lambda r: r.number)


def _metric_sorter(key: str) -> Callable[[CohortRow], Any]:
    return lambda row: row.values.get(key)


_STATUS_ORDER = {
    RowStatus.STORED: 0,
    RowStatus.PARTIAL: 1,
    RowStatus.NOT_FETCHED: 2,
    RowStatus.RUNNING: 3,
}
_SORTERS: dict[str, Callable[[CohortRow], Any]] = {
    "number": lambda r: r.number,
    "candidate": lambda r: r.label.casefold(),
    "status": lambda r: _STATUS_ORDER.get(r.status, 9),
    "started": lambda r: r.session.started_at,
    "events": lambda r: r.session.event_count,
}


def _row_status(session: promptster.Session, sync: TimelineSync | None) -> str:
    if session.is_running:
        return RowStatus.RUNNING
    if sync is None or (sync.events_stored == 0 and not sync.complete):
        return RowStatus.NOT_FETCHED
    return RowStatus.STORED if sync.complete else RowStatus.PARTIAL


def _upstream_values(session: promptster.Session) -> dict[str, float | None]:
    duration = session.duration
    return {
        "promptster_ai_pct": session.ai_pct,
        "duration_s": duration.total_seconds() if duration is not None else None,
    }


def median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile_rank(value: float, values: list[float]) -> int:
    """Mid-rank percentile: the share of the cohort below `value`, counting ties as half."""
    below = sum(1 for v in values if v < value)
    equal = sum(1 for v in values if v == value)
    return round((below + 0.5 * equal) * 100 / len(values))


def _statistics(rows: list[CohortRow]) -> list[MetricStats]:
    stats = []
    for metric in METRICS:
        included = [r for r in rows if r.counts_for(metric)]
        values = [float(r.values[metric.key]) for r in included]  # type: ignore[arg-type]
        points = []
        for row in included:
            value = float(row.values[metric.key])  # type: ignore[arg-type]
            rank = percentile_rank(value, values)
            row.percentiles[metric.key] = rank
            points.append(
                Point(row.number, row.label, row.session.id, value, metric.format(value), rank)
            )
        mid = median(values)
        chart = (
            charts.strip_plot(
                [(p.number, p.label, p.value, p.percentile) for p in points],
                mid,
                metric.unit,
                metric.label,
                chart_id=f"dist-{metric.key}",
            )
            if points
            else None
        )
        stats.append(
            MetricStats(
                metric=metric,
                count=len(values),
                median=mid,
                low=min(values) if values else None,
                high=max(values) if values else None,
                points=sorted(points, key=lambda p: (p.value, p.number)),
                chart=chart,
            )
        )
    return stats


def cohort_for(org: Organization, assessment_id: str) -> Cohort:
    """Every session of an assessment (as this organization's token sees them), summarised.

    1. Page through the upstream list, 100 at a time (cached, at most `COHORT_MAX_SESSIONS`).
    2. Read all their local stores in one query; summarise the stored ones (cached each).
    3. Compute medians and percentiles over ended sessions only: upstream metrics over every
       ended session, timeline metrics over those whose timeline is fully stored.
    Upstream errors propagate (`promptster.PromptsterError`) for the view to explain.
    """
    sessions: list[promptster.Session] = []
    seen: set[str] = set()
    total = 0
    stale = False
    offset = 0
    while offset < COHORT_MAX_SESSIONS:
        fetched = cache.get_session_list(
            org, assessment_id=assessment_id, limit=promptster.SESSIONS_MAX_LIMIT, offset=offset
        )
        page = fetched.value
        stale = stale or fetched.stale
        total = page.total
        for session in page.sessions:
            # Filter again: a list must never show a session of another assessment.
            if session.id not in seen and session.assessment_id in ("", assessment_id):
                seen.add(session.id)
                sessions.append(session)
        offset += promptster.SESSIONS_MAX_LIMIT
        if not page.sessions or offset >= page.total:
            break
    syncs = {
        s.session_id: s
        for s in TimelineSync.objects.for_org(org).filter(session_id__in=[s.id for s in sessions])
    }
    rows = []
    for number, session in enumerate(sessions, start=1):
        sync = syncs.get(session.id)
        status = _row_status(session, sync)
        summary = summary_for(org, session, sync) if status != RowStatus.NOT_FETCHED else None
        values = _upstream_values(session)
        if summary is not None:
            values.update(summary.metrics())
        rows.append(CohortRow(number, session, summary, sync, status, values))
    return Cohort(
        assessment_id=assessment_id,
        rows=rows,
        total=total,
        truncated=total > len(rows) and offset >= COHORT_MAX_SESSIONS,
        stale=stale,
        stats=_statistics(rows),
    )


# --- CSV ----------------------------------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will show as text: formula-like strings get a leading quote."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else f"{value:.1f}"
    else:
        text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def csv_header() -> list[str]:
    return [
        "number",
        "session_id",
        "candidate",
        "status",
        "started_at",
        "ended_at",
        "events",
        *(m.key for m in METRICS),
        *(f"{m.key}_percentile" for m in METRICS),
    ]


def csv_rows(rows: Iterable[CohortRow]) -> Iterable[list[str]]:
    for row in rows:
        s = row.session
        yield [
            csv_cell(v)
            for v in (
                row.number,
                s.id,
                s.candidate_name,
                row.status,
                s.started_at.isoformat() if s.started_at else "",
                s.ended_at.isoformat() if s.ended_at else "",
                s.event_count,
                *(row.values.get(m.key) for m in METRICS),
                *(row.percentiles.get(m.key) for m in METRICS),
            )
        ]
