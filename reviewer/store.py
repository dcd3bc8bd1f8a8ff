"""How one page of upstream events becomes rows of the local store.

`PageWriter` turns a page into `StoredEvent` rows and their search text: the exact repeat of
an event already stored is dropped, a different record under an id already seen becomes the
next variant of that id, an event of another session is left out, and an event the database
refuses is left out and named, so one bad event never blocks a session. Rows go in with one
COPY on PostgreSQL and multi-row INSERTs on SQLite. The lease, the cursor and the walk over
pages are `reviewer.prefetch`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection, transaction

from reviewer import rendering, search, text, upstream
from reviewer.models import EventText, StoredEvent, TimelineSync

log = logging.getLogger(__name__)

DISPLAY_COPY_OVER = 64 * 1024
DISPLAY_FIELD_CHARS = 24_000
DISPLAY_FIELD_LINES = 450


class StoreError(Exception):
    """No event of a page could be stored; `event_id` names the first."""

    def __init__(self, event_id: str, reason: str) -> None:
        super().__init__(f"event {event_id}: {reason}")
        self.event_id = event_id
        self.reason = reason


# --- one event's store columns -----------------------------------------------------------------


def _display_copy(event: upstream.Event, raw_json: str) -> str:
    """For a large event, its JSON with long fields cut to their head ("" if not needed).

    Timeline chunks render from this copy; the full event is read only when asked for.
    """
    if len(raw_json) <= DISPLAY_COPY_OVER:
        return ""
    small: dict[str, Any] = {}
    cut: dict[str, list[int | str]] = {}
    for name, value in event.data.items():
        if isinstance(value, str) and (
            len(value) > DISPLAY_FIELD_CHARS or value.count("\n") > DISPLAY_FIELD_LINES
        ):
            # The head and the tail: a test runner's verdict is at the end.
            small[name], cut[name] = rendering.cut_field(
                value, DISPLAY_FIELD_LINES, DISPLAY_FIELD_CHARS
            )
        else:
            small[name] = value
    if not cut:
        return ""
    return text.dumps({**event.raw, "data": small, rendering.CUT_KEY: cut})


def _columns(sync_id: int, seq: int, variant: int, event: upstream.Event, raw: str) -> dict:
    """The store columns of one event (by attribute name)."""
    prov = event.provenance
    return {
        "sync_id": sync_id,
        "seq": seq,
        "event_id": event.id,
        "variant": variant,
        "kind": text.clean(event.kind)[:60],
        "ts": event.ts,
        "attribution": prov.attribution,
        "confidence": prov.confidence,
        "observability": prov.observability,
        "path": text.clean(event.path)[:500],
        "lines_added": event.lines_added,
        "lines_removed": event.lines_removed,
        "failed": event.failed,
        "failure": event.failure,
        "is_test": event.is_test,
        "subject": event.subject,
        "turn": -1,  # set with the position, when the row is stored
        "raw": raw,
        "preview": _display_copy(event, raw),
    }


_EVENT_FIELDS = [f for f in StoredEvent._meta.concrete_fields if not f.primary_key]
_TEXT_FIELDS = list(EventText._meta.concrete_fields)


def _copy(model: Any, fields: list[Any], rows: list[dict]) -> None:
    """Insert rows (column values by attribute name): COPY on PostgreSQL, several times
    faster than INSERT for large JSON text; a bulk INSERT elsewhere."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    if connection.vendor != "postgresql":
        # Multi-row INSERTs of as many rows as the statement may bind: the ORM's bulk_create
        # spends most of its time building model instances and preparing each value, and an
        # executemany hands the GIL over for every row, which, while another thread reads
        # the next page, costs up to a switch interval (5 ms) per row.
        dates = {f.attname for f in fields if f.get_internal_type() == "DateTimeField"}
        adapt = connection.ops.adapt_datetimefield_value
        values = [
            [adapt(row[f.attname]) if f.attname in dates else row[f.attname] for f in fields]
            for row in rows
        ]
        marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
        per_statement = max(1, (connection.features.max_query_params or 999) // len(fields))
        with connection.cursor() as cursor:
            for start in range(0, len(values), per_statement):
                batch = values[start : start + per_statement]
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608 - model names
                    + ", ".join([marks] * len(batch)),
                    [value for row in batch for value in row],
                )
        return
    with (
        connection.wrap_database_errors,  # psycopg's own errors become Django's
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} ({columns}) FROM STDIN"  # noqa: S608 - names come from the model
        ) as copy,
    ):
        for row in rows:
            copy.write_row([row[f.attname] for f in fields])


def _insert(sync_id: int, rows: list[dict], texts: list[str]) -> None:
    """Insert events and their search text (one text per row, in order)."""
    _copy(StoredEvent, _EVENT_FIELDS, rows)
    if not rows:
        return
    ids = dict(
        StoredEvent.objects.filter(
            sync_id=sync_id, seq__gte=rows[0]["seq"], seq__lte=rows[-1]["seq"]
        ).values_list("seq", "id")
    )
    _copy(
        EventText,
        _TEXT_FIELDS,
        [
            {"event_id": ids[row["seq"]], "sync_id": sync_id, "text": body, "indexed": False}
            for row, body in zip(rows, texts, strict=True)
        ],
    )


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


# --- writing pages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    """One event made ready for the store but for its position and variant: its JSON as
    sent, its store columns (by attribute name) and its search text."""

    event: upstream.Event
    raw: str
    columns: dict[str, Any]
    text: str


def prepare(sync_id: int, page: upstream.TimelinePage) -> list[Prepared]:
    """Everything about a page's events that needs no database, in page order. Pure, so a
    walk can prepare the next page while this one is written."""
    prepared = []
    for event in page.events:
        raw = text.dumps(event.raw)
        columns = _columns(sync_id, 0, 0, event, raw)
        prepared.append(Prepared(event, raw, columns, search.searchable_text(event)))
    return prepared


def stored_ids(sync_id: int) -> set[str]:
    """The ids of every event stored for a session (for `PageWriter.seen`)."""
    return set(StoredEvent.objects.filter(sync_id=sync_id).values_list("event_id", flat=True))


@dataclass
class PageWriter:
    """Writes consecutive pages of one session from position `next_seq`, counting what it
    did not store as it came. Call inside a transaction."""

    sync_id: int
    session_id: str
    next_seq: int
    last_prompt: int = -1  # the seq of the latest stored prompt: the turn of what follows
    stored: int = 0
    repeats: int = 0
    conflicts: int = 0
    foreign: int = 0
    unusable: int = 0
    file_changes: int = 0
    unstorable: list[dict[str, str]] = field(default_factory=list)
    # The ids stored for this session so far, when the caller keeps them across pages (see
    # `stored_ids`); None looks every id of a page up in the store.
    seen: set[str] | None = None

    def write(self, page: upstream.TimelinePage, prepared: list[Prepared] | None = None) -> None:
        """Store a page; `prepared` is `prepare(sync_id, page)` when the caller made it already
        (while the previous page was being written)."""
        self.unusable += page.unusable
        items = prepare(self.sync_id, page) if prepared is None else prepared
        known = self._known_records(item.event.id for item in items)
        rows: list[dict] = []
        texts: list[str] = []
        for item in items:
            event = item.event
            if event.session_id is not None and event.session_id != self.session_id:
                self.foreign += 1
                continue
            records = known.setdefault(event.id, {})
            if item.raw in records.values():
                self.repeats += 1
                continue
            variant = max(records) + 1 if records else 0
            self.conflicts += variant > 0
            records[variant] = item.raw
            item.columns["variant"] = variant
            rows.append(item.columns)
            texts.append(item.text)
        self._insert(rows, texts)
        if self.seen is not None:  # a superset of what went in: at worst one lookup more
            self.seen.update(known)

    def _known_records(self, ids: Iterable[str]) -> dict[str, dict[int, str]]:
        """The records already stored under these ids: {id: {variant: raw JSON}}. With `seen`,
        only ids in it can be stored already, so only those are looked up."""
        wanted = set(ids)
        if self.seen is not None:
            wanted &= self.seen
        known: dict[str, dict[int, str]] = {}
        if not wanted:
            return known
        rows = StoredEvent.objects.filter(sync_id=self.sync_id, event_id__in=wanted)
        for event_id, variant, raw in rows.values_list("event_id", "variant", "raw"):
            known.setdefault(event_id, {})[variant] = raw
        return known

    def _insert(self, rows: list[dict], texts: list[str]) -> None:
        """Insert the rows with gapless positions; a row the database refuses is left out
        and named, the others stored. Raises StoreError when no row of several could be."""
        if not rows:
            return
        self._place(rows, self.next_seq)
        try:
            with transaction.atomic():
                _insert(self.sync_id, rows, texts)
            self._count(rows)
            return
        except DatabaseError as exc:
            log.warning(
                "a page of %s was refused (%s); storing it event by event", self.session_id, exc
            )
        stored: list[dict] = []
        for row, body in zip(rows, texts, strict=True):
            self._place([row], self.next_seq + len(stored), stored[-1]["turn"] if stored else None)
            try:
                with transaction.atomic():
                    _insert(self.sync_id, [row], [body])
                stored.append(row)
            except DatabaseError as exc:
                self.unstorable.append({"id": row["event_id"], "reason": _reason(exc)})
        if not stored and len(rows) > 1:  # nothing of a page goes in: not one bad event
            first = self.unstorable[-len(rows)]
            raise StoreError(first["id"], first["reason"])
        self._count(stored)

    def _place(self, rows: list[dict], first_seq: int, turn: int | None = None) -> None:
        """Give consecutive positions from `first_seq`, and each row its turn (the position
        of the prompt that opened it)."""
        turn = self.last_prompt if turn is None else turn
        for offset, row in enumerate(rows):
            row["seq"] = first_seq + offset
            if row["kind"] == "prompt":
                turn = row["seq"]
            row["turn"] = turn

    def _count(self, rows: list[dict]) -> None:
        prompts = [r["seq"] for r in rows if r["kind"] == "prompt"]
        self.last_prompt = prompts[-1] if prompts else self.last_prompt
        self.next_seq += len(rows)
        self.stored += len(rows)
        self.file_changes += sum(1 for r in rows if r["kind"] in upstream.CHANGE_KINDS)

    def counters(self, base: TimelineSync | None = None) -> dict[str, Any]:
        """The sync's counters after this writer (added to `base`'s, when given)."""

        def plus(name: str, value: int) -> int:
            return (getattr(base, name) if base else 0) + value

        unstorable = [*(base.unstorable if base else []), *self.unstorable]
        return {
            "events_stored": plus("events_stored", self.stored),
            "last_seq": self.next_seq - 1,
            "repeats_dropped": plus("repeats_dropped", self.repeats),
            "id_conflicts": plus("id_conflicts", self.conflicts),
            "foreign_events": plus("foreign_events", self.foreign),
            "unusable_events": plus("unusable_events", self.unusable),
            "file_changes": plus("file_changes", self.file_changes),
            "unstorable": unstorable[: TimelineSync.UNSTORABLE_LISTED],
            "unstorable_count": plus("unstorable_count", len(self.unstorable)),
            "last_prompt_seq": self.last_prompt,
        }
