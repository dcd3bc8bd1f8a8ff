"""Finding events by their text, with the database's own text index.

What is searched is what a reviewer can see: every string of an event's data, nested ones
included (decision tradeoffs, plan items, tool inputs and errors), with terminal escapes
removed, folded on both sides (`reviewer.text.fold`), whole (a 50 MB output's last line too).
A query matches an event whose folded text contains the folded query.

Each stored event has an `EventText` row, written with it. The text index is the database's:
a pg_trgm GIN index on PostgreSQL (partial: `WHERE indexed`), an FTS5 trigram table on SQLite
(filled by triggers when a row turns `indexed`). Indexing costs more than storing, so rows
enter the index after the prefetch (`index_pending`), and until then they are found by a scan
of the session's pending rows: a search is always complete, and fast once indexed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from reviewer import text, upstream
from reviewer.models import EventText, TimelineSync

log = logging.getLogger(__name__)

QS = TypeVar("QS", bound=QuerySet[Any])

FTS_TABLE = "reviewer_eventtext_fts"
INDEX_BATCH = 1000
# Trigram indexes cannot narrow a query shorter than a trigram: those scan instead.
_TRIGRAM = 3


def searchable_text(event: upstream.Event) -> str:
    """The folded text of an event: its path and every string of its data."""
    parts = [event.path] if event.path else []
    parts += (text.strip_escapes(s) for s in text.strings_in(event.data) if s)
    return text.clean(text.fold("\n".join(parts)))


def _like_pattern(folded: str) -> str:
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(folded: str) -> str:
    return '"' + folded.replace('"', '""') + '"'


def _sync_list(syncs: Iterable[int]) -> tuple[str, list[int]]:
    ids = sorted(set(syncs))
    return ", ".join(["%s"] * len(ids)) or "NULL", ids


def matching_event_ids(query: str, sync_ids: Iterable[int]) -> RawSQL | None:
    """A subquery of the ids of stored events (of the given syncs) whose text contains
    `query`; None when the folded query is empty (no filter).

    Indexed rows are found through the text index, pending ones by a scan limited to their
    sessions; queries shorter than a trigram scan the sessions' rows.
    """
    folded = text.fold(text.clean(query)).strip()
    if not folded:
        return None
    table = EventText._meta.db_table
    placeholders, ids = _sync_list(sync_ids)
    like = _like_pattern(folded)
    # Table names come from the model; every value is a bound parameter.
    scan = f"SELECT event_id FROM {table} WHERE sync_id IN ({placeholders}) AND "  # noqa: S608
    sql = scan + "text LIKE %s ESCAPE '\\'"
    params: tuple[Any, ...] = (*ids, like)
    if len(folded) >= _TRIGRAM and connection.vendor == "postgresql":
        sql = (
            f"SELECT event_id FROM {table} WHERE indexed AND text LIKE %s ESCAPE '\\' "  # noqa: S608
            f"AND sync_id IN ({placeholders}) "
            f"UNION ALL {scan}NOT indexed AND text LIKE %s ESCAPE '\\'"
        )
        params = (like, *ids, *ids, like)
    elif len(folded) >= _TRIGRAM and connection.vendor == "sqlite":
        sql = (
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s "  # noqa: S608
            f"UNION ALL {scan}NOT indexed AND text LIKE %s ESCAPE '\\'"
        )
        params = (_fts_phrase(folded), *ids, like)
    return RawSQL(sql, params)  # noqa: S611 - see above


def filter_matching(qs: QS, query: str, sync_ids: Iterable[int]) -> QS:
    """`qs` (of StoredEvent) narrowed to events whose text contains `query`."""
    ids = matching_event_ids(query, sync_ids)
    return qs if ids is None else qs.filter(pk__in=ids)


def pending_count(sync_ids: Iterable[int]) -> int:
    """How many events of these sessions are not in the text index yet (found by a scan)."""
    return EventText.objects.filter(sync_id__in=list(sync_ids), indexed=False).count()


def index_pending(sync: TimelineSync, *, batch: int = INDEX_BATCH) -> int:
    """Move the session's pending rows into the text index, a batch per transaction (so the
    writer lock is never held long); return how many were indexed."""
    done = 0
    while True:
        with transaction.atomic():
            ids = list(
                EventText.objects.filter(sync=sync, indexed=False).values_list(
                    "event_id", flat=True
                )[:batch]
            )
            if not ids:
                return done
            done += EventText.objects.filter(event_id__in=ids).update(indexed=True)


def index_all_pending(*, limit_sessions: int = 50) -> int:
    """Index the pending rows of any session that has some (a periodic catch-up)."""
    sync_ids = (
        EventText.objects.filter(indexed=False)
        .values_list("sync_id", flat=True)
        .distinct()[:limit_sessions]
    )
    total = 0
    for sync in TimelineSync.objects.filter(pk__in=list(sync_ids)):
        total += index_pending(sync)
    return total


def highlight_spans(value: str, query: str) -> list[tuple[int, int]]:
    """Where `query` occurs in `value` as search finds it (folded), as (start, end) spans."""
    if not query.strip():
        return []
    return list(text.find_all(value, query.strip()))
