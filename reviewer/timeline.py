"""The read path of the local store: chunks of a session's timeline, filters, counts.

The write path (prefetching from upstream) is `reviewer.prefetch`; text search is
`reviewer.search`. Everything here reads `StoredEvent` rows by position (`seq`), which is
gapless per session, so paging can never skip or repeat an event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q

from reviewer import search
from reviewer.models import (
    EventQuerySet,
    Organization,
    StoredEvent,
    TimelineSync,
    parse_event_key,
)
from reviewer.upstream import ATTRIBUTIONS

__all__ = ["ATTRIBUTIONS"]


def get_sync(org: Organization, session_id: str) -> TimelineSync:
    """The session's store row, created empty when missing."""
    sync, _ = TimelineSync.objects.get_or_create(organization=org, session_id=session_id)
    return sync


def find_sync(org: Organization, session_id: str) -> TimelineSync | None:
    return TimelineSync.objects.filter(organization=org, session_id=session_id).first()


def store_version(sync: TimelineSync) -> str:
    """Changes whenever the stored timeline does: the cache key of anything derived from it."""
    return f"{sync.pk}:{sync.events_stored}:{sync.last_seq}:{int(sync.complete)}:{sync.rebuilds}"


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineFilter:
    kinds: tuple[str, ...] = ()
    attribution: str = ""
    q: str = ""
    failures_only: bool = False

    @property
    def active(self) -> bool:
        return bool(self.kinds or self.attribution or self.q or self.failures_only)

    def canonical(self) -> str:
        """The filter as a stable string (kinds sorted), for cache keys: no typed text."""
        return f"k={','.join(sorted(self.kinds))};a={self.attribution};f={int(self.failures_only)}"

    def apply(self, qs: EventQuerySet, sync: TimelineSync) -> EventQuerySet:
        """`qs` (events of `sync`) narrowed to what this filter matches."""
        if self.kinds:
            qs = qs.filter(kind__in=self.kinds)
        if self.attribution:
            qs = qs.filter(attribution=self.attribution)
        if self.failures_only:
            qs = qs.failures()
        if self.q:
            qs = search.filter_matching(qs, self.q, [sync.pk])
        return qs

    def events(self, sync: TimelineSync) -> EventQuerySet:
        """The events of `sync` this filter matches."""
        return self.apply(StoredEvent.objects.for_sync(sync), sync)


@dataclass
class Chunk:
    events: list[StoredEvent]
    has_more: bool
    has_earlier: bool

    @property
    def last_id(self) -> str:
        """The key of the last event (the `after` cursor of the next chunk)."""
        return self.events[-1].key if self.events else ""

    @property
    def first_id(self) -> str:
        return self.events[0].key if self.events else ""


def seq_of(sync: TimelineSync, key: str) -> int | None:
    """The position of the event with this key (`<id>` or `<id>~N`), None when not stored."""
    event_id, variant = parse_event_key(key)
    return (
        StoredEvent.objects.filter(sync=sync, event_id=event_id, variant=variant)
        .values_list("seq", flat=True)
        .first()
    )


def chunk(
    sync: TimelineSync,
    flt: TimelineFilter,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    from_seq: int | None = None,
    size: int | None = None,
) -> Chunk:
    """One chunk of matching events: after a position, before one, or starting at one."""
    size = size or settings.TIMELINE_CHUNK_SIZE
    qs = flt.events(sync).for_display()
    if before_seq is not None:
        rows = list(qs.filter(seq__lt=before_seq).order_by("-seq")[: size + 1])
        has_earlier = len(rows) > size
        return Chunk(list(reversed(rows[:size])), has_more=True, has_earlier=has_earlier)
    if from_seq is not None:
        qs_from = qs.filter(seq__gte=from_seq)
        has_earlier = qs.filter(seq__lt=from_seq).exists()
    elif after_seq is not None:
        qs_from = qs.filter(seq__gt=after_seq)
        has_earlier = True
    else:
        qs_from = qs
        has_earlier = False
    rows = list(qs_from.order_by("seq")[: size + 1])
    return Chunk(rows[:size], has_more=len(rows) > size, has_earlier=has_earlier)


def kind_counts(sync: TimelineSync) -> dict[str, int]:
    rows = StoredEvent.objects.for_sync(sync).values("kind").annotate(n=Count("id")).order_by("-n")
    return {r["kind"]: r["n"] for r in rows}


def count_matching(sync: TimelineSync, flt: TimelineFilter) -> int:
    return flt.events(sync).count()


def first_ts(sync: TimelineSync) -> Any:
    return (
        StoredEvent.objects.for_sync(sync)
        .filter(ts__isnull=False)
        .order_by("seq")
        .values_list("ts", flat=True)
        .first()
    )


def neighbour_failure(sync: TimelineSync, seq: int, direction: str) -> StoredEvent | None:
    qs = StoredEvent.objects.for_sync(sync).failures()
    if direction == "prev":
        return qs.filter(seq__lt=seq).order_by("-seq").first()
    return qs.filter(seq__gt=seq).order_by("seq").first()


FILE_KINDS = ("file_diff", "file_create", "file_delete")
FOLLOWUP_KINDS = (*FILE_KINDS, "command", "test_run", "build_run", "git_action")


def followups(sync: TimelineSync, prompt_seq: int, limit: int = 200) -> list[StoredEvent]:
    """Changes, commands, tests and failed tool calls between a prompt and the next one."""
    next_prompt = (
        StoredEvent.objects.for_sync(sync)
        .filter(kind="prompt", seq__gt=prompt_seq)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    qs = (
        StoredEvent.objects.for_sync(sync)
        .for_display()
        .filter(seq__gt=prompt_seq)
        .filter(Q(kind__in=FOLLOWUP_KINDS) | Q(failed=True))
    )
    if next_prompt is not None:
        qs = qs.filter(seq__lt=next_prompt)
    return list(qs.order_by("seq")[:limit])


def iter_raw(sync: TimelineSync) -> Iterator[str]:
    """The stored events' JSON, in order, without loading the session into memory."""
    qs = StoredEvent.objects.for_sync(sync).order_by("seq").values_list("raw", flat=True)
    yield from qs.iterator(chunk_size=2000)
