"""The session map: a strip over the session's time with its landmarks, computed in buckets.

Prompts, failures, test runs (passing or failing), decisions and commits are counted per
bucket by one grouped query, and idle gaps (longer than `IDLE_GAP`) come from the events'
timestamps in order; nothing else of the events is read, so the map of a 100,000-event
session costs two queries and is cached until the store changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Max, Min, Q, QuerySet, Value, When

from reviewer.models import StoredEvent, TimelineSync, event_key
from reviewer.summarize import lone_test_command_q

BUCKETS = 120
IDLE_GAP = timedelta(minutes=5)
MAX_GAPS = 200


@dataclass(frozen=True)
class Mark:
    """One bucket's landmarks."""

    index: int
    start: datetime
    end: datetime
    first_key: str  # the first event of the bucket: where a click jumps
    events: int
    prompts: int
    failures: int
    tests_passed: int
    tests_failed: int
    decisions: int
    commits: int

    @property
    def kinds(self) -> list[str]:
        """What is worth a mark here, most important first."""
        out = []
        if self.failures:
            out.append("failure")
        if self.tests_failed:
            out.append("test-fail")
        elif self.tests_passed:
            out.append("test-pass")
        if self.prompts:
            out.append("prompt")
        if self.decisions:
            out.append("decision")
        if self.commits:
            out.append("commit")
        return out

    @property
    def label(self) -> str:
        parts = []
        if self.prompts:
            parts.append(f"{self.prompts} prompt{'s' if self.prompts != 1 else ''}")
        if self.failures:
            parts.append(f"{self.failures} failure{'s' if self.failures != 1 else ''}")
        tests = self.tests_passed + self.tests_failed
        if tests:
            parts.append(
                f"{tests} test run{'s' if tests != 1 else ''} ({self.tests_failed} failing)"
            )
        if self.decisions:
            parts.append(f"{self.decisions} decision{'s' if self.decisions != 1 else ''}")
        if self.commits:
            parts.append(f"{self.commits} commit{'s' if self.commits != 1 else ''}")
        return ", ".join(parts) or f"{self.events} event{'s' if self.events != 1 else ''}"


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    after_key: str  # the event that ended the gap

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass
class SessionMap:
    start: datetime | None
    end: datetime | None
    marks: list[Mark] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def span(self) -> timedelta:
        if self.start is None or self.end is None:
            return timedelta(0)
        return self.end - self.start

    def pct(self, moment: datetime) -> float:
        """Where `moment` lies along the strip, 0–100."""
        if self.start is None or not self.span:
            return 0.0
        return max(0.0, min(100.0, (moment - self.start) / self.span * 100))


def _bucket(start: datetime, width: timedelta, count: int) -> Case:
    whens = [When(ts__lt=start + width * (i + 1), then=Value(i)) for i in range(count - 1)]
    return Case(*whens, default=Value(count - 1), output_field=IntegerField())


def compute(sync: TimelineSync) -> SessionMap:
    """The map of what is stored for `sync` now (undated events are left out)."""
    events: QuerySet[StoredEvent] = StoredEvent.objects.for_sync(sync).filter(ts__isnull=False)
    span = events.aggregate(first=Min("ts"), last=Max("ts"))
    first, last = span["first"], span["last"]
    if first is None or last is None:
        return SessionMap(None, None)
    count = BUCKETS if last > first else 1
    width = (last - first) / count if last > first else timedelta(0)
    # A test command and the test_run it produced are one test run.
    tests = Q(kind="test_run") | lone_test_command_q(StoredEvent.objects.for_sync(sync))
    rows = (
        events.annotate(bucket=_bucket(first, width, count) if count > 1 else Value(0))
        .values("bucket")
        .annotate(
            n=Count("id"),
            first_seq=Min("seq"),
            prompts=Count("id", filter=Q(kind="prompt")),
            failures=Count("id", filter=Q(failed=True) & ~Q(kind="test_run")),
            tests_passed=Count("id", filter=tests & Q(failed=False)),
            tests_failed=Count("id", filter=tests & Q(failed=True)),
            decisions=Count("id", filter=Q(kind="decision_event")),
            commits=Count("id", filter=Q(kind="git_action", subject="commit")),
        )
        .order_by("bucket")
    )
    found = list(rows)
    keys = {
        seq: event_key(event_id, variant)
        for seq, event_id, variant in StoredEvent.objects.for_sync(sync)
        .filter(seq__in=[r["first_seq"] for r in found])
        .values_list("seq", "event_id", "variant")
    }
    marks = [
        Mark(
            index=r["bucket"],
            start=first + width * r["bucket"],
            end=first + width * (r["bucket"] + 1) if count > 1 else last,
            first_key=keys[r["first_seq"]],
            events=r["n"],
            prompts=r["prompts"],
            failures=r["failures"],
            tests_passed=r["tests_passed"],
            tests_failed=r["tests_failed"],
            decisions=r["decisions"],
            commits=r["commits"],
        )
        for r in found
    ]
    return SessionMap(first, last, marks, idle_gaps(sync))


def idle_gaps(sync: TimelineSync, *, longer_than: timedelta = IDLE_GAP) -> list[Gap]:
    """Pauses between consecutive dated events longer than `longer_than`, in order."""
    gaps: list[Gap] = []
    previous: datetime | None = None
    stamps = (
        StoredEvent.objects.for_sync(sync)
        .filter(ts__isnull=False)
        .order_by("seq")
        .values_list("ts", "event_id", "variant")
    )
    for ts, event_id, variant in stamps.iterator(chunk_size=5000):
        if ts is None:
            continue
        if previous is not None and ts - previous > longer_than:
            gaps.append(Gap(previous, ts, event_key(event_id, variant)))
            if len(gaps) >= MAX_GAPS:
                break
        if previous is None or ts > previous:
            previous = ts
    return gaps


def from_data(data: dict[str, Any]) -> SessionMap:
    """A map from its plain data (`dataclasses.asdict`), for caches."""
    return SessionMap(
        start=data["start"],
        end=data["end"],
        marks=[Mark(**m) for m in data["marks"]],
        gaps=[Gap(**g) for g in data["gaps"]],
    )


@dataclass(frozen=True)
class Shape:
    """One mark of the strip as drawn: x and width in 0–1000, what it shows on each row (a
    CSS class, "" for nothing), a title, and the event a click opens ("" for an idle gap)."""

    x: str
    width: str
    top: str  # prompts, decisions, commits
    bottom: str  # failures and tests
    title: str
    key: str


_TOP = ("prompt", "decision", "commit")
_BOTTOM = ("failure", "test-fail", "test-pass")


def shapes(found: SessionMap) -> list[Shape]:
    """The strip's marks in drawing order: idle gaps, then one mark per busy bucket."""
    if found.start is None:
        return []
    out = [
        Shape(
            f"{found.pct(g.start) * 10:.1f}",
            f"{max(2.0, (found.pct(g.end) - found.pct(g.start)) * 10):.1f}",
            "",
            "",
            f"{g.minutes} min idle, {g.start:%H:%M}–{g.end:%H:%M}",
            "",
        )
        for g in found.gaps
    ]
    for mark in found.marks:
        kinds = mark.kinds
        top = next((k for k in kinds if k in _TOP), "")
        bottom = next((k for k in kinds if k in _BOTTOM), "")
        if top or bottom:
            out.append(
                Shape(
                    f"{found.pct(mark.start) * 10:.1f}",
                    "4",
                    f"map-{top}" if top else "",
                    f"map-{bottom}" if bottom else "",
                    f"{mark.start:%H:%M:%S}: {mark.label}",
                    mark.first_key,
                )
            )
    return out
