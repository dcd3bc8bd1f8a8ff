"""Two sessions compared: the cohort's metrics side by side, with the differences that matter.

A difference "matters" when it is large in the metric's own unit, not merely non-zero:
percentages 15 points or more apart; counts at least half again as many and 2 or more apart;
durations at least half again as long and a minute or more apart. The thresholds are coarse on
purpose: the marks point a reviewer at what to read, they are not a score.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reviewer import upstream
from reviewer.attribution import SessionSummary
from reviewer.cohort import METRICS, Metric, upstream_values

PCT_POINTS = 15.0
RATIO = 1.5
MIN_COUNT_GAP = 2.0
MIN_SECONDS_GAP = 60.0


@dataclass(frozen=True)
class MetricPair:
    """One metric for sides A and B; `differs` marks a difference that matters."""

    metric: Metric
    a: float | None
    b: float | None

    @property
    def a_text(self) -> str:
        return self.metric.format(self.a)

    @property
    def b_text(self) -> str:
        return self.metric.format(self.b)

    @property
    def differs(self) -> bool:
        return differs(self.metric, self.a, self.b)

    @property
    def higher(self) -> str:
        """ "a" or "b": the side with the larger value, when the difference matters."""
        if not self.differs or self.a is None or self.b is None:
            return ""
        return "a" if self.a > self.b else "b"


def differs(metric: Metric, a: float | None, b: float | None) -> bool:
    """Whether two values of `metric` are far enough apart to point a reviewer at them.
    A value known on one side only never differs (there is nothing to compare)."""
    if a is None or b is None:
        return False
    gap = abs(a - b)
    if metric.unit == "pct":
        return gap >= PCT_POINTS
    low, high = sorted((abs(a), abs(b)))
    far = high >= RATIO * low if low else high > 0
    minimum = MIN_SECONDS_GAP if metric.unit == "seconds" else MIN_COUNT_GAP
    return far and gap >= minimum


def values_of(session: upstream.Session, summary: SessionSummary | None) -> dict[str, float | None]:
    """The cohort's metric values for one session: Promptster's fields, plus the timeline's
    when it is stored."""
    values = upstream_values(session)
    if summary is not None:
        values.update(summary.metrics())
    return values


def pairs(a: dict[str, float | None], b: dict[str, float | None]) -> list[MetricPair]:
    """Every cohort metric for both sides, in the cohort's column order."""
    return [MetricPair(m, a.get(m.key), b.get(m.key)) for m in METRICS]


def find_candidates(
    sessions: Iterable[upstream.Session], text: str, titles: dict[str, str]
) -> list[upstream.Session]:
    """Sessions whose candidate name, id or assessment title contains `text` (any case)."""
    needle = text.casefold().strip()
    if not needle:
        return list(sessions)
    return [
        s
        for s in sessions
        if needle in s.candidate_name.casefold()
        or s.id.casefold().startswith(needle)
        or needle in titles.get(s.assessment_id, "").casefold()
    ]
