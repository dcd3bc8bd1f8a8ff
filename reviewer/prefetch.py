"""The write path of the local store: bringing a session's timeline down from upstream.

`prefetch()` is the one function that both the Celery task and the `prefetch` management
command call. It is idempotent and resumable: events are written page by page together with
the resume cursor in one transaction, so a crash loses at most the page in flight and a rerun
continues from the last stored event without writing anything twice.

What upstream sends is stored as it was sent, and what is not stored is counted on the
session's `TimelineSync` so the page can say so: an exact repeat of an event is dropped; a
different record under an id already seen is kept as the next variant of that id; an event
of another session is left out; an event the database refuses is left out and named. One bad
event never blocks a session.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from reviewer import cache, promptster, rendering, search, text, upstream
from reviewer.models import (
    EventText,
    Organization,
    StoredEvent,
    TimelineSync,
    session_is_deleted,
)

log = logging.getLogger(__name__)

QUEUE_PATIENCE = timedelta(minutes=5)
FAILURE_PATIENCE = timedelta(minutes=2)
DISPLAY_COPY_OVER = 64 * 1024
DISPLAY_FIELD_CHARS = 24_000
DISPLAY_FIELD_LINES = 450


@dataclass
class PrefetchResult:
    status: str  # "done", "busy", "up-to-date", "gone", "blocked"
    events_stored: int = 0
    pages: int = 0


class LeaseLost(Exception):
    """Another worker took over this session (our lease expired): stop quietly."""


class SessionPurged(Exception):
    """The session was deleted here while it was being fetched: stop quietly."""


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
        # One prepared INSERT run for every row: the ORM's bulk_create spends most of its
        # time building model instances and preparing each value, which SQLite does not need.
        dates = {f.attname for f in fields if f.get_internal_type() == "DateTimeField"}
        adapt = connection.ops.adapt_datetimefield_value
        values = [
            [adapt(row[f.attname]) if f.attname in dates else row[f.attname] for f in fields]
            for row in rows
        ]
        marks = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 - model names
                values,
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


@dataclass
class _Writer:
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

    def write(self, page: upstream.TimelinePage) -> None:
        self.unusable += page.unusable
        known = self._known_records(e.id for e in page.events)
        rows: list[dict] = []
        texts: list[str] = []
        for event in page.events:
            if event.session_id is not None and event.session_id != self.session_id:
                self.foreign += 1
                continue
            raw = text.dumps(event.raw)
            records = known.setdefault(event.id, {})
            if raw in records.values():
                self.repeats += 1
                continue
            variant = max(records) + 1 if records else 0
            self.conflicts += variant > 0
            records[variant] = raw
            rows.append(_columns(self.sync_id, 0, variant, event, raw))
            texts.append(search.searchable_text(event))
        self._insert(rows, texts)

    def _known_records(self, ids: Iterable[str]) -> dict[str, dict[int, str]]:
        """The records already stored under these ids: {id: {variant: raw JSON}}."""
        known: dict[str, dict[int, str]] = {}
        rows = StoredEvent.objects.filter(sync_id=self.sync_id, event_id__in=set(ids))
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


def _lease_until() -> Any:
    return timezone.now() + timedelta(seconds=settings.PREFETCH_LEASE_SECONDS)


def _locked(sync: TimelineSync, token: str) -> TimelineSync:
    """The sync row, locked, if our lease still holds it."""
    current = TimelineSync.objects.select_for_update().filter(pk=sync.pk).first()
    if current is None:
        raise SessionPurged()
    if current.claim_token != token:
        raise LeaseLost()
    return current


def _store_page(sync: TimelineSync, token: str, page: upstream.TimelinePage) -> int:
    """Write one page and advance the cursor in one transaction; return events written."""
    with transaction.atomic():
        current = _locked(sync, token)
        writer = _Writer(
            sync.pk, sync.session_id, current.last_seq + 1, last_prompt=current.last_prompt_seq
        )
        writer.write(page)
        TimelineSync.objects.filter(pk=sync.pk).update(
            **writer.counters(current),
            last_event_id=page.last_id or current.last_event_id,
            pages_fetched=current.pages_fetched + 1,
            claimed_until=_lease_until(),
        )
    return writer.stored


def _rebuild(sync: TimelineSync, token: str, client: promptster.Client, page_size: int) -> None:
    """Replace the stored timeline with a fresh walk of upstream, in one transaction.

    Used once when an ended session's store accounts for fewer events than upstream reports
    (an upstream page skipped an event). Readers keep seeing the old copy until the new one
    is complete; an interruption rolls back to it, and the next prefetch tries again.
    """
    with transaction.atomic():
        _locked(sync, token)
        EventText.objects.filter(sync=sync).delete()
        StoredEvent.objects.filter(sync=sync).delete()
        writer = _Writer(sync.pk, sync.session_id, 0)
        last_id = ""
        for page in client.iter_timeline(sync.session_id, limit=page_size):
            writer.write(page)
            last_id = page.last_id or last_id
        TimelineSync.objects.filter(pk=sync.pk).update(
            **writer.counters(),
            last_event_id=last_id,
            rebuilds=F("rebuilds") + 1,
            claimed_until=_lease_until(),
        )


def _read_ahead(pages: Iterator[upstream.TimelinePage]) -> Iterator[upstream.TimelinePage]:
    """Fetch the next page while the current one is being written (the API is sequential,
    but our writes need not wait for it)."""
    slot: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            while not stop.is_set():  # never fetch another page once the consumer has stopped
                page = next(pages, None)
                if page is None:
                    offer(("end", None))
                    return
                if not offer(("page", page)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(("error", exc))

    worker = threading.Thread(target=pump, name="timeline-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slot.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=5)  # an in-flight request finishes before another run can start


# --- prefetch ---------------------------------------------------------------------------------


def get_sync(org: Organization, session_id: str) -> TimelineSync:
    sync, _ = TimelineSync.objects.get_or_create(organization=org, session_id=session_id)
    return sync


def prefetch(
    org: Organization,
    session_id: str,
    *,
    client: promptster.Client | None = None,
    progress: Callable[[TimelineSync], None] | None = None,
    page_size: int | None = None,
    max_pages: int | None = None,
) -> PrefetchResult:
    """Bring the local store of one session up to date with upstream (or, with `max_pages`,
    store that many pages and stop: "partial", for a page that shows its first events at once
    while the worker fetches the rest).

    1. Claim the session's lease; if another worker holds it, return "busy".
    2. Read the session (for its eventCount and whether it has ended).
    3. An ended session whose store is complete is never fetched again.
    4. Otherwise page through the timeline from the last stored event, writing each page.
    5. If an ended session came up short, walk it once more to fill the gaps.
    6. Release the lease, then put the new events into the search index.
    Transient upstream errors propagate (after the client's own retries) so the caller can
    retry later; the stored events and cursor are kept either way. A page of which no event
    can be stored stops the fetch with "blocked", naming the event, without automatic retries.
    A session deleted here meanwhile stops it quietly ("gone").
    """
    if session_is_deleted(org, session_id):
        return PrefetchResult("gone")
    client = client or promptster.client_for(
        org, retries=settings.PROMPTSTER_TASK_RETRIES, background=True
    )
    page_size = page_size or settings.PREFETCH_PAGE_SIZE
    sync = get_sync(org, session_id)
    token = sync.claim(settings.PREFETCH_LEASE_SECONDS)
    if token is None:
        return PrefetchResult("busy", sync.events_stored)
    pages = 0
    try:
        result = _walk(org, sync, token, client, page_size, progress, max_pages)
        pages = result.pages
    except (LeaseLost, SessionPurged, TimelineSync.DoesNotExist):
        still_here = TimelineSync.objects.filter(pk=sync.pk).exists()
        return PrefetchResult("busy" if still_here else "gone")
    except StoreError as exc:
        sync.release(
            token,
            state=TimelineSync.State.FAILED,
            blocked_event_id=exc.event_id[:100],
            last_error=f"Event {exc.event_id} could not be stored ({exc.reason}). "
            "Fetching stopped here and will not retry on its own.",
            finished_at=timezone.now(),
        )
        return PrefetchResult("blocked", sync.events_stored, pages)
    except promptster.NotFound:
        # Upstream lost the session mid-way, most often because a delete here is racing this
        # fetch (upstream goes first): stop quietly, and let the delete purge what is stored.
        sync.release(
            token,
            state=TimelineSync.State.FAILED,
            session_ended=True,
            last_error="Promptster has no such session (deleted, or not this organization's).",
            finished_at=timezone.now(),
        )
        return PrefetchResult("gone")
    except promptster.PromptsterError as exc:
        sync.release(
            token,
            state=TimelineSync.State.FAILED,
            last_error=exc.user_message,
            finished_at=timezone.now(),
        )
        raise
    except BaseException:
        sync.release(
            token,
            state=TimelineSync.State.FAILED,
            last_error="The fetch stopped unexpectedly; it will resume where it stopped.",
            finished_at=timezone.now(),
        )
        raise
    if result.status in ("done", "up-to-date"):
        search.index_pending(sync)
    return result


def _walk(
    org: Organization,
    sync: TimelineSync,
    token: str,
    client: promptster.Client,
    page_size: int,
    progress: Callable[[TimelineSync], None] | None,
    max_pages: int | None = None,
) -> PrefetchResult:
    """Steps 2–5 of `prefetch`, under the lease; releases it when done."""
    session_id = sync.session_id
    try:
        session = client.get_session(session_id)
    except promptster.NotFound:
        # Nothing more will ever arrive: session_ended keeps periodic resyncs away.
        sync.release(
            token,
            state=TimelineSync.State.FAILED,
            session_ended=True,
            last_error="Promptster has no such session (deleted, or not this organization's).",
            finished_at=timezone.now(),
        )
        return PrefetchResult("gone")
    cache.put_session(org, session)
    sync.refresh_from_db()
    TimelineSync.objects.filter(pk=sync.pk).update(
        expected_events=session.event_count, session_ended=not session.is_running
    )
    if sync.complete and not session.is_running and sync.accounted >= session.event_count:
        sync.release(token, state=TimelineSync.State.DONE, finished_at=timezone.now())
        return PrefetchResult("up-to-date", sync.events_stored)

    pages = 0
    after = sync.last_event_id or None
    for page in _read_ahead(client.iter_timeline(session_id, after=after, limit=page_size)):
        if page.events or page.unusable:
            _store_page(sync, token, page)
        pages += 1
        if progress is not None:
            sync.refresh_from_db()
            progress(sync)
        if max_pages is not None and pages >= max_pages and page.has_more:
            sync.release(token, state=TimelineSync.State.IDLE)
            sync.refresh_from_db()
            return PrefetchResult("partial", sync.events_stored, pages)

    sync.refresh_from_db()
    note = ""
    if not session.is_running and sync.accounted < session.event_count:
        log.warning("session %s came up short; walking it again", session_id)
        _rebuild(sync, token, client, page_size)
        sync.refresh_from_db()
        if sync.accounted != session.event_count:
            note = (
                f"Promptster reports {session.event_count} events; "
                f"its timeline returned {sync.accounted}."
            )
    sync.release(
        token,
        state=TimelineSync.State.DONE,
        complete=not session.is_running,
        note=note,
        finished_at=timezone.now(),
    )
    sync.refresh_from_db()
    return PrefetchResult("done", sync.events_stored, pages)


# --- scheduling -------------------------------------------------------------------------------


def needs_sync(sync: TimelineSync, *, running_every: timedelta = timedelta(seconds=30)) -> bool:
    """Should opening the session (re)start a prefetch?"""
    now = timezone.now()
    if sync.blocked_event_id:
        return False  # a refused page is not retried on its own; "Fetch now" can
    if sync.state == TimelineSync.State.RUNNING and not sync.lease_expired:
        return False
    if sync.state == TimelineSync.State.QUEUED and sync.queued_at is not None:
        return now - sync.queued_at > QUEUE_PATIENCE  # the message was lost; ask again
    if sync.complete:
        return False
    if sync.state == TimelineSync.State.FAILED and sync.finished_at is not None:
        # Views and cohorts do not hammer a failing upstream; "Fetch now" always can.
        return now - sync.finished_at > FAILURE_PATIENCE
    if not sync.session_ended and sync.finished_at is not None:
        return now - sync.finished_at > running_every
    return True


def mark_queued(sync: TimelineSync, *, unblock: bool = False) -> str | None:
    """Mark the row queued unless a worker is on it; return the state it had, if changed.

    `unblock` (someone asked for this fetch) lets a session blocked by a refused page try
    once more.
    """
    previous = TimelineSync.objects.filter(pk=sync.pk).values_list("state", flat=True).first()
    fields: dict[str, Any] = {"state": TimelineSync.State.QUEUED, "queued_at": timezone.now()}
    if unblock:
        fields["blocked_event_id"] = ""
    changed = (
        TimelineSync.objects.filter(pk=sync.pk)
        .exclude(state=TimelineSync.State.RUNNING)
        .update(**fields)
    )
    return previous if changed else None


def unmark_queued(sync: TimelineSync, previous: str) -> None:
    TimelineSync.objects.filter(pk=sync.pk, state=TimelineSync.State.QUEUED).update(state=previous)


def purge(org: Organization, session_id: str) -> int:
    """Delete the local store of a session; return how many events were removed."""
    sync = TimelineSync.objects.filter(organization=org, session_id=session_id).first()
    if sync is None:
        return 0
    count = sync.events_stored
    with transaction.atomic():
        EventText.objects.filter(sync=sync).delete()
        StoredEvent.objects.filter(sync=sync).delete()
        sync.delete()
    return count
