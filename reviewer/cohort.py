"""An assessment's cohort: every session's metrics side by side, their statistics, and CSV.

The rows come from the upstream session list (cached) and each session's attribution summary
(`reviewer.attribution`), which exists only for sessions whose timeline is stored. Medians
and percentiles cover ended sessions only: upstream metrics over every ended session,
timeline metrics over those whose timeline is fully stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from reviewer import cache, charts, fragments, upstream
from reviewer.attribution import SessionSummary
from reviewer.models import Organization, TimelineSync
from reviewer.rendering import duration

COHORT_MAX_SESSIONS = 1000


def format_value(value: float | None, unit: str) -> str:
    """A metric value for people: 42%, 12m 30s, 7 or 3.5; "—" for none."""
    if value is None:
        return "—"
    if unit == "pct":
        return f"{value:.0f}%"
    if unit == "seconds":
        return duration(timedelta(seconds=value)) or "0s"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


@dataclass(frozen=True)
class Metric:
    """A number compared across a cohort. `source` "upstream" metrics exist without a store."""

    key: str
    label: str
    unit: str  # "pct", "count" or "seconds"
    help: str
    source: str = "store"

    def format(self, value: float | None) -> str:
        return format_value(value, self.unit)


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
    session: upstream.Session
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


def _row_status(session: upstream.Session, sync: TimelineSync | None) -> str:
    if session.is_running:
        return RowStatus.RUNNING
    if sync is None or (sync.events_stored == 0 and not sync.complete):
        return RowStatus.NOT_FETCHED
    return RowStatus.STORED if sync.complete else RowStatus.PARTIAL


def upstream_values(session: upstream.Session) -> dict[str, float | None]:
    """The metrics Promptster's own session fields give, known without a stored timeline."""
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
                metric.format,
                metric.label,
                chart_id=f"dist-{metric.key}",
                percent=metric.unit == "pct",
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
    listing = cache.list_all_sessions(org, assessment_id=assessment_id, limit=COHORT_MAX_SESSIONS)
    # Filter again: a list must never show a session of another assessment.
    sessions = [s for s in listing.sessions if s.assessment_id in ("", assessment_id)]
    syncs = {
        s.session_id: s
        for s in TimelineSync.objects.for_org(org).filter(session_id__in=[s.id for s in sessions])
    }
    rows = []
    for number, session in enumerate(sessions, start=1):
        sync = syncs.get(session.id)
        status = _row_status(session, sync)
        summary = fragments.summary(org, session, sync) if status != RowStatus.NOT_FETCHED else None
        values = upstream_values(session)
        if summary is not None:
            values.update(summary.metrics())
        rows.append(CohortRow(number, session, summary, sync, status, values))
    return Cohort(
        assessment_id=assessment_id,
        rows=rows,
        total=listing.total,
        truncated=listing.truncated,
        stale=listing.stale,
        stats=_statistics(rows),
    )


# --- CSV ----------------------------------------------------------------------------------------

# A spreadsheet reads a cell as a formula when, after any leading separators, quotes or spaces
# (`;=1+1` in a semicolon locale), it starts with one of these.
_FORMULA = re.compile(r"^[\s;,\"']*[=+\-@\t\r]")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will show as text: a formula-like string gets a leading quote
    (numbers are numbers). The writer quotes every cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _FORMULA.match(text):
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
