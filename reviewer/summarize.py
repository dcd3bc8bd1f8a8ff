"""A session's attribution summary computed from its stored events.

A summary costs four aggregate queries over the stored events, whatever the size of the
session:

1. the span (first and last timestamp, first file change, undated events);
2. events grouped by time bucket × kind × attribution, with line sums, confidence sums and
   failure counts: shares, activity over time, tests and commands all come from it;
3. file changes grouped by path × attribution;
4. likely-AI file changes, each checked for a test before the next prompt (index lookups).

The shapes it returns live in `reviewer.attribution`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
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

from reviewer import rendering, upstream
from reviewer.attribution import (
    BUCKET_COUNT,
    CHANGE_KINDS,
    DEFAULT_CONFIDENCE,
    HAND_ATTRIBUTIONS,
    MAX_FILES,
    Bucket,
    ClassShare,
    FileRow,
    Process,
    SessionSummary,
    activity_of,
    share_pct,
)
from reviewer.models import StoredEvent, TimelineSync

_NO_PROMPT_AFTER = 2**31 - 1  # the seq bound of "before the next prompt" after the last one


def _events(sync: TimelineSync) -> QuerySet[StoredEvent]:
    return StoredEvent.objects.for_sync(sync).order_by()


def lone_test_command_q(events: QuerySet[StoredEvent]) -> Q:
    """A test command that produced no test_run event of its own: counted as a test run
    itself. A command whose next event (tool calls aside) is a test_run counts once, as that
    run (a real session showed 33 "tests" for 19 runs when both were counted)."""
    next_event = Subquery(
        events.filter(seq__gt=OuterRef(OuterRef("seq")))
        .exclude(kind__in=upstream.TOOL_KINDS)
        .order_by("seq")
        .values("seq")[:1]
    )
    reported = Exists(events.filter(kind="test_run", seq=next_event))
    return Q(kind="command", is_test=True) & ~Q(reported)


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
    tested = Exists(events.filter(window, is_test=True))
    result = events.filter(kind__in=CHANGE_KINDS, attribution="likely_ai").aggregate(
        total=Count("id"), tested=Count("id", filter=tested)
    )
    return result["total"] or 0, result["tested"] or 0


@dataclass(frozen=True)
class _Span:
    """Where a session lies in time, and how it is cut into buckets."""

    start: datetime | None
    end: datetime | None
    count: int
    width: timedelta
    first_change: datetime | None
    undated: int


def _span(
    events: QuerySet[StoredEvent], started_at: datetime | None, ended_at: datetime | None
) -> _Span:
    """From the earlier of the session's start and its first event to the later of its end and
    its last event, in `BUCKET_COUNT` equal buckets (one when it has no length)."""
    found = events.aggregate(
        first=Min("ts"),
        last=Max("ts"),
        first_change=Min("ts", filter=Q(kind__in=CHANGE_KINDS)),
        undated=Count("id", filter=Q(ts__isnull=True)),
    )
    starts = [t for t in (started_at, found["first"]) if t is not None]
    ends = [t for t in (ended_at, found["last"]) if t is not None]
    start = min(starts) if starts else None
    end = max(ends) if ends else None
    if start is not None and end is not None and end > start:
        count, width = BUCKET_COUNT, (end - start) / BUCKET_COUNT
    else:
        count, width = 1, timedelta(0)
    return _Span(start, end, count, width, found["first_change"], found["undated"] or 0)


@dataclass
class _Tally:
    """Grouped rows folded into per-class, per-kind and per-bucket totals."""

    classes: dict[str, dict[str, float]]
    kinds: dict[str, int]
    failed_by_kind: dict[str, int]
    rejected: int
    test_commands: int
    test_commands_failed: int
    buckets: dict[int, dict[str, Any]]


def _tally(events: QuerySet[StoredEvent], span: _Span) -> _Tally:
    """One grouped query (bucket × kind × attribution) folded into totals."""
    confidence = Coalesce(F("confidence"), Value(DEFAULT_CONFIDENCE), output_field=FloatField())
    lines = F("lines_added") + F("lines_removed")
    test_command = lone_test_command_q(events)
    rows = (
        events.annotate(
            bucket=_bucket_expression(span.start or datetime.min, span.width, span.count)
        )
        .values("bucket", "kind", "attribution")
        .annotate(
            n=Count("id"),
            weight=Sum(confidence),
            rated=Count("confidence"),
            confidence_sum=Sum("confidence"),
            changed_lines=Sum(lines),
            weighted_lines=Sum(ExpressionWrapper(lines * confidence, output_field=FloatField())),
            failures=Count("id", filter=Q(failed=True)),
            rejected=Count("id", filter=Q(failure=upstream.Failure.REJECTED)),
            test_commands=Count("id", filter=test_command),
            test_commands_failed=Count("id", filter=test_command & Q(failed=True)),
        )
    )
    tally = _Tally(
        classes=defaultdict(lambda: defaultdict(float)),
        kinds=defaultdict(int),
        failed_by_kind=defaultdict(int),
        rejected=0,
        test_commands=0,
        test_commands_failed=0,
        buckets={
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
            for i in range(span.count)
        },
    )
    for row in rows:
        n, kind, attr = row["n"], row["kind"], row["attribution"]
        row_lines = (row["changed_lines"] or 0) if kind in CHANGE_KINDS else 0
        c = tally.classes[attr]
        c["events"] += n
        c["weight"] += row["weight"] or 0.0
        c["rated"] += row["rated"]
        c["confidence_sum"] += row["confidence_sum"] or 0.0
        c["lines"] += row_lines
        c["weighted_lines"] += (row["weighted_lines"] or 0.0) if kind in CHANGE_KINDS else 0.0
        tally.kinds[kind] += n
        tally.failed_by_kind[kind] += row["failures"]
        tally.rejected += row["rejected"]
        tally.test_commands += row["test_commands"]
        tally.test_commands_failed += row["test_commands_failed"]
        b = tally.buckets.get(row["bucket"])
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
    return tally


def _shares(tally: _Tally) -> list[ClassShare]:
    classes = tally.classes
    total_events = sum(c["events"] for c in classes.values())
    total_weight = sum(c["weight"] for c in classes.values())
    total_lines = sum(c["lines"] for c in classes.values())
    total_weighted_lines = sum(c["weighted_lines"] for c in classes.values())
    return [
        ClassShare(
            attribution=attr,
            events=int(c["events"]),
            events_weight=c["weight"],
            events_pct=share_pct(c["events"], total_events),
            events_weighted_pct=share_pct(c["weight"], total_weight),
            lines=int(c["lines"]),
            lines_weight=c["weighted_lines"],
            lines_pct=share_pct(c["lines"], total_lines),
            lines_weighted_pct=share_pct(c["weighted_lines"], total_weighted_lines),
            rated=int(c["rated"]),
            mean_confidence=c["confidence_sum"] / c["rated"] if c["rated"] else None,
        )
        for attr in upstream.ATTRIBUTIONS
        if (c := classes.get(attr)) is not None
    ]


def _buckets(tally: _Tally, span: _Span) -> list[Bucket]:
    if span.start is None:
        return []
    start = span.start
    buckets = []
    for i in range(span.count):
        b = tally.buckets[i]
        lo = start + span.width * i
        last = i == span.count - 1 and span.end is not None
        hi = span.end if last else start + span.width * (i + 1)
        buckets.append(
            Bucket(
                index=i,
                start=lo,
                end=hi,  # type: ignore[arg-type]
                offset_start=lo - start,
                offset_end=hi - start,  # type: ignore[operator]
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
    return buckets


def compute_summary(
    sync: TimelineSync, started_at: datetime | None, ended_at: datetime | None
) -> SessionSummary:
    """Summarise what is stored for `sync` now, in four aggregate queries whatever the size
    of the session (events without a timestamp count everywhere but in the buckets)."""
    events = _events(sync)
    # 1. The span: where the session lies in time and how it is cut into buckets.
    span = _span(events, started_at, ended_at)
    # 2. Events by bucket × kind × attribution: shares, activity, commands and tests.
    tally = _tally(events, span)
    shares = _shares(tally)
    # 3. File changes by path × attribution.
    files, files_total, hand_files = _files(sync)
    # 4. Likely-AI file changes followed by a test before the next prompt.
    ai_changes, ai_tested = _tested_ai_changes(sync) if tally.classes.get("likely_ai") else (0, 0)

    kinds, failed = tally.kinds, tally.failed_by_kind
    known = {*rendering.CANONICAL_KINDS, *upstream.TOOL_KINDS}  # tool calls have a line
    process = Process(
        prompts=kinds.get("prompt", 0),
        ai_responses=kinds.get("ai_response", 0),
        commands=kinds.get("command", 0),
        commands_failed=failed.get("command", 0),
        test_runs=kinds.get("test_run", 0),
        test_runs_failed=failed.get("test_run", 0),
        test_commands=tally.test_commands,
        test_commands_failed=tally.test_commands_failed,
        tool_calls=sum(kinds.get(k, 0) for k in upstream.TOOL_KINDS),
        tool_calls_failed=sum(failed.get(k, 0) for k in upstream.TOOL_KINDS),
        tool_calls_rejected=tally.rejected,
        ai_changes=ai_changes,
        ai_changes_tested=ai_tested,
        hand_changes=sum(f.hand_changes for f in files),
        decisions=kinds.get("decision_event", 0),
        first_change_after=(span.first_change - span.start)
        if span.first_change is not None and span.start is not None
        else None,
        other_kinds={k: n for k, n in sorted(kinds.items()) if k not in known},
    )
    return SessionSummary(
        session_id=sync.session_id,
        complete=sync.complete,
        total_events=sum(s.events for s in shares),
        total_lines=sum(s.lines for s in shares),
        unrated_events=sum(s.unrated for s in shares),
        shares=shares,
        kinds=dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        start=span.start,
        end=span.end,
        bucket_width=span.width if span.start is not None else None,
        buckets=_buckets(tally, span),
        undated_events=span.undated,
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
