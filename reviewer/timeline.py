"""The local timeline store: prefetching upstream timelines and querying them.

`prefetch()` is the one function that both the Celery task and the `prefetch` management
command call. It is idempotent and resumable: events are written page by page together with
the resume cursor in one transaction, so a crash loses at most the page in flight and a rerun
continues from the last stored event without writing anything twice.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from reviewer import cache, promptster, rendering
from reviewer.models import Organization, StoredEvent, TimelineSync

log = logging.getLogger(__name__)

ATTRIBUTIONS = (
    "likely_ai",
    "ai_revised_by_human",
    "likely_human",
    "mixed",
    "system_generated",
    "unknown",
)
OBSERVABILITIES = ("high", "medium", "partial", "low", "unknown")
SEARCH_TEXT_LIMIT = 64 * 1024
_SEARCH_FIELDS = (
    "text",
    "prompt",
    "lastAssistantMessage",
    "message",
    "content",
    "command",
    "path",
    "diff",
    "stdout",
    "stderr",
    "title",
    "chosenOption",
    "rationale",
    "context",
    "tradeoffs",
    "suite",
    "label",
    "summary",
    "toolName",
    "tool",
    "inputPreview",
    "argsPreview",
    "ref",
)


# --- normalising one upstream event into store columns ----------------------------------------


@dataclass(frozen=True)
class Provenance:
    attribution: str
    confidence: float | None
    observability: str


def read_provenance(event: dict[str, Any]) -> Provenance:
    """Provenance is documented as an object, sometimes shown as a bare string (REFERENCE §7.2)."""
    raw = event.get("provenance")
    if isinstance(raw, dict):
        attribution = raw.get("attribution")
        confidence = promptster._as_float(raw.get("confidence"))
        observability = raw.get("observability")
        return Provenance(
            attribution=attribution if attribution in ATTRIBUTIONS else "unknown",
            confidence=None if confidence is None else max(0.0, min(1.0, confidence)),
            observability=observability if observability in OBSERVABILITIES else "unknown",
        )
    if raw is None and event.get("kind") in ("session_start", "session_end", "checkpoint"):
        return Provenance("system_generated", None, "unknown")
    return Provenance("unknown", None, "unknown")


def event_data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _count_diff_lines(diff: str) -> tuple[int, int]:
    return rendering.diff_counts(diff)


def _is_failure(kind: str, data: dict[str, Any]) -> bool:
    if kind == "command":
        code = data.get("exitCode")
        return isinstance(code, int) and not isinstance(code, bool) and code != 0
    if kind == "test_run":
        failed = data.get("failed")
        return isinstance(failed, int) and not isinstance(failed, bool) and failed > 0
    return False


def line_counts(kind: str, data: dict[str, Any]) -> tuple[int, int]:
    """Changed lines of a file_diff or file_create, from the counts or else the diff itself."""
    if kind not in ("file_diff", "file_create"):
        return 0, 0
    added = promptster._as_int(data.get("linesAdded"), -1)
    removed = promptster._as_int(data.get("linesRemoved"), -1)
    if (added < 0 or removed < 0) and isinstance(data.get("diff"), str):
        counted_added, counted_removed = _count_diff_lines(data["diff"])
        added = counted_added if added < 0 else added
        removed = counted_removed if removed < 0 else removed
    if added < 0 and kind == "file_create" and isinstance(data.get("content"), str):
        added = len(data["content"].splitlines())
    return max(0, added), max(0, removed)


def _search_text(data: dict[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for name in _SEARCH_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value:
            parts.append(value)
            size += len(value)
            if size >= SEARCH_TEXT_LIMIT:
                break
    return "\n".join(parts)[:SEARCH_TEXT_LIMIT].lower()


def _text(value: str, limit: int) -> str:
    """A column value: cut to size, without NUL (PostgreSQL text cannot hold it)."""
    return value.replace("\x00", "")[:limit]


DISPLAY_COPY_OVER = 64 * 1024
DISPLAY_FIELD_CHARS = 24_000
DISPLAY_FIELD_LINES = 450


def _display_copy(event: dict[str, Any], raw: str) -> str:
    """For a large event, its JSON with long fields cut to their head ("" if not needed).

    Timeline chunks render from this copy; the full event is read only when asked for.
    """
    if len(raw) <= DISPLAY_COPY_OVER:
        return ""
    data = event_data(event)
    small: dict[str, Any] = {}
    cut: dict[str, list[int | str]] = {}
    for name, value in data.items():
        if isinstance(value, str) and (
            len(value) > DISPLAY_FIELD_CHARS or value.count("\n") > DISPLAY_FIELD_LINES
        ):
            small[name], cut[name] = rendering.cut_field(
                value, DISPLAY_FIELD_LINES, DISPLAY_FIELD_CHARS
            )
        else:
            small[name] = value
    if not cut:
        return ""
    copy = {**event, "data": small, rendering.CUT_KEY: cut}
    return json.dumps(copy, separators=(",", ":"), ensure_ascii=False)


def to_values(sync_id: int, seq: int, event: dict[str, Any]) -> dict[str, Any]:
    """The store columns of one upstream event (by attribute name)."""
    kind = _text(event["kind"], 60) if isinstance(event.get("kind"), str) else ""
    data = event_data(event)
    prov = read_provenance(event)
    added, removed = line_counts(kind, data)
    path = data.get("path")
    raw = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return {
        "sync_id": sync_id,
        "seq": seq,
        "event_id": _text(event["id"], 100),
        "kind": kind or "unknown",
        "ts": promptster.parse_ts(event.get("ts")),
        "attribution": prov.attribution,
        "confidence": prov.confidence,
        "observability": prov.observability,
        "path": _text(path, 500) if isinstance(path, str) else "",
        "lines_added": added,
        "lines_removed": removed,
        "failed": _is_failure(kind, data),
        "search_text": _text(_search_text(data), SEARCH_TEXT_LIMIT),
        "raw": raw,
        "preview": _display_copy(event, raw),
    }


# --- prefetch ---------------------------------------------------------------------------------


@dataclass
class PrefetchResult:
    status: str  # "done", "busy", "up-to-date", "gone"
    events_stored: int = 0
    pages: int = 0


def get_sync(org: Organization, session_id: str) -> TimelineSync:
    sync, _ = TimelineSync.objects.get_or_create(organization=org, session_id=session_id)
    return sync


def find_sync(org: Organization, session_id: str) -> TimelineSync | None:
    return TimelineSync.objects.filter(organization=org, session_id=session_id).first()


def _claim(sync: TimelineSync) -> str | None:
    """Take the session's lease with a conditional UPDATE; None if another worker holds it."""
    token = secrets.token_hex(8)
    now = timezone.now()
    won = (
        TimelineSync.objects.filter(pk=sync.pk)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(
            claimed_until=now + timedelta(seconds=settings.PREFETCH_LEASE_SECONDS),
            claim_token=token,
            state=TimelineSync.State.RUNNING,
            started_at=now,
            last_error="",
        )
    )
    return token if won else None


def _release(sync: TimelineSync, token: str, **fields: Any) -> None:
    TimelineSync.objects.filter(pk=sync.pk, claim_token=token).update(
        claimed_until=None, claim_token="", **fields
    )


class LeaseLost(Exception):
    """Another worker took over this session (our lease expired): stop quietly."""


_COPY_FIELDS = [f for f in StoredEvent._meta.concrete_fields if not f.primary_key]


def _insert(rows: list[dict[str, Any]]) -> None:
    """Insert rows (column values by attribute name) in bulk: COPY on PostgreSQL, several
    times faster than INSERT for large JSON text."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        StoredEvent.objects.bulk_create([StoredEvent(**row) for row in rows], batch_size=500)
        return
    table = connection.ops.quote_name(StoredEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _COPY_FIELDS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} ({columns}) FROM STDIN"  # noqa: S608 - names come from the model
        ) as copy,
    ):
        for row in rows:
            copy.write_row([row[f.attname] for f in _COPY_FIELDS])


def _read_ahead(pages: Iterator[promptster.TimelinePage]) -> Iterator[promptster.TimelinePage]:
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


def _unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events in order, each id once (an upstream page may repeat one)."""
    seen: set[str] = set()
    out = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            out.append(event)
    return out


def _store_page(sync: TimelineSync, token: str, events: list[dict[str, Any]]) -> int:
    """Write one page and advance the cursor in one transaction; return events written.

    Events already stored (a redelivered page, or an upstream page that repeats an id) are
    skipped, so positions stay gapless and nothing is written twice.
    """
    unique = _unique(events)
    with transaction.atomic():
        current = TimelineSync.objects.select_for_update().get(pk=sync.pk)
        if current.claim_token != token:
            raise LeaseLost()
        existing = set(
            StoredEvent.objects.filter(
                sync=sync, event_id__in=[e["id"] for e in unique]
            ).values_list("event_id", flat=True)
        )
        fresh = [e for e in unique if e["id"] not in existing]
        rows = [to_values(sync.pk, current.last_seq + 1 + i, e) for i, e in enumerate(fresh)]
        _insert(rows)
        last_id = events[-1]["id"] if events else current.last_event_id
        TimelineSync.objects.filter(pk=sync.pk).update(
            last_seq=current.last_seq + len(rows),
            last_event_id=last_id,
            events_stored=current.events_stored + len(rows),
            pages_fetched=current.pages_fetched + 1,
            claimed_until=timezone.now() + timedelta(seconds=settings.PREFETCH_LEASE_SECONDS),
        )
    return len(rows)


def _rebuild(sync: TimelineSync, token: str, client: promptster.Client, page_size: int) -> None:
    """Replace the stored timeline with a fresh walk of upstream, in one transaction.

    Used once when an ended session's store holds fewer events than upstream reports (an
    upstream page skipped an event). Readers keep seeing the old copy until the new one is
    complete; an interruption rolls back to it, and the next prefetch tries again.
    """
    with transaction.atomic():
        current = TimelineSync.objects.select_for_update().get(pk=sync.pk)
        if current.claim_token != token:
            raise LeaseLost()
        StoredEvent.objects.filter(sync=sync).delete()
        position = 0
        last_id = ""
        for page in client.iter_timeline(sync.session_id, limit=page_size):
            events = _unique(page.events)
            # A page may repeat an event of the previous page: skip what is stored already.
            stored = set(
                StoredEvent.objects.filter(
                    sync=sync, event_id__in=[e["id"] for e in events]
                ).values_list("event_id", flat=True)
            )
            rows = []
            for event in events:
                if event["id"] not in stored:
                    rows.append(to_values(sync.pk, position, event))
                    position += 1
            _insert(rows)
            last_id = page.last_id or last_id
        TimelineSync.objects.filter(pk=sync.pk).update(
            events_stored=position,
            last_seq=position - 1,
            last_event_id=last_id,
            rebuilds=F("rebuilds") + 1,
            claimed_until=timezone.now() + timedelta(seconds=settings.PREFETCH_LEASE_SECONDS),
        )


def prefetch(
    org: Organization,
    session_id: str,
    *,
    client: promptster.Client | None = None,
    progress: Callable[[TimelineSync], None] | None = None,
    page_size: int | None = None,
) -> PrefetchResult:
    """Bring the local store of one session up to date with upstream.

    1. Claim the session's lease; if another worker holds it, return "busy".
    2. Read the session (for its eventCount and whether it has ended).
    3. An ended session whose store is complete is never fetched again.
    4. Otherwise page through the timeline from the last stored event, writing each page.
    5. If an ended session came up short, walk it once more to fill the gaps.
    Transient upstream errors propagate (after the client's own retries) so the caller can
    retry later; the stored events and cursor are kept either way.
    """
    client = client or promptster.client_for(
        org, retries=settings.PROMPTSTER_TASK_RETRIES, background=True
    )
    page_size = page_size or settings.PREFETCH_PAGE_SIZE
    sync = get_sync(org, session_id)
    token = _claim(sync)
    if token is None:
        return PrefetchResult("busy", sync.events_stored)
    pages = 0
    try:
        try:
            session = client.get_session(session_id)
        except promptster.NotFound:
            # Nothing more will ever arrive: session_ended keeps periodic resyncs away.
            _release(
                sync,
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
        if sync.complete and not session.is_running and sync.events_stored >= session.event_count:
            _release(sync, token, state=TimelineSync.State.DONE, finished_at=timezone.now())
            return PrefetchResult("up-to-date", sync.events_stored)

        after = sync.last_event_id or None
        for page in _read_ahead(client.iter_timeline(session_id, after=after, limit=page_size)):
            if page.events:
                _store_page(sync, token, page.events)
            pages += 1
            if progress is not None:
                sync.refresh_from_db()
                progress(sync)

        sync.refresh_from_db()
        note = ""
        if not session.is_running and sync.events_stored < session.event_count:
            log.warning("session %s came up short; walking it again", session_id)
            _rebuild(sync, token, client, page_size)
            sync.refresh_from_db()
            if sync.events_stored != session.event_count:
                note = (
                    f"Promptster reports {session.event_count} events; "
                    f"its timeline returned {sync.events_stored}."
                )
        _release(
            sync,
            token,
            state=TimelineSync.State.DONE,
            complete=not session.is_running,
            note=note,
            finished_at=timezone.now(),
        )
        sync.refresh_from_db()
        return PrefetchResult("done", sync.events_stored, pages)
    except LeaseLost:
        return PrefetchResult("busy", sync.events_stored, pages)
    except promptster.PromptsterError as exc:
        _release(
            sync,
            token,
            state=TimelineSync.State.FAILED,
            last_error=exc.user_message,
            finished_at=timezone.now(),
        )
        raise
    except BaseException:
        _release(
            sync,
            token,
            state=TimelineSync.State.FAILED,
            last_error="The fetch stopped unexpectedly; it will resume where it stopped.",
            finished_at=timezone.now(),
        )
        raise


def store_version(sync: TimelineSync) -> str:
    """Changes whenever the stored timeline does: the cache key of anything derived from it."""
    return f"{sync.pk}:{sync.events_stored}:{sync.last_seq}:{int(sync.complete)}:{sync.rebuilds}"


QUEUE_PATIENCE = timedelta(minutes=5)
FAILURE_PATIENCE = timedelta(minutes=2)


def needs_sync(sync: TimelineSync, *, running_every: timedelta = timedelta(seconds=30)) -> bool:
    """Should opening the session (re)start a prefetch?"""
    now = timezone.now()
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


def mark_queued(sync: TimelineSync) -> str | None:
    """Mark the row queued unless a worker is on it; return the state it had, if changed."""
    previous = TimelineSync.objects.filter(pk=sync.pk).values_list("state", flat=True).first()
    changed = (
        TimelineSync.objects.filter(pk=sync.pk)
        .exclude(state=TimelineSync.State.RUNNING)
        .update(state=TimelineSync.State.QUEUED, queued_at=timezone.now())
    )
    return previous if changed else None


def unmark_queued(sync: TimelineSync, previous: str) -> None:
    TimelineSync.objects.filter(pk=sync.pk, state=TimelineSync.State.QUEUED).update(state=previous)


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

    def apply(self, qs: QuerySet[StoredEvent]) -> QuerySet[StoredEvent]:
        if self.kinds:
            qs = qs.filter(kind__in=self.kinds)
        if self.attribution:
            qs = qs.filter(attribution=self.attribution)
        if self.failures_only:
            qs = qs.filter(failed=True)
        if self.q:
            qs = qs.filter(search_text__contains=self.q.lower())
        return qs


@dataclass
class Chunk:
    events: list[StoredEvent]
    has_more: bool
    has_earlier: bool

    @property
    def last_id(self) -> str:
        return self.events[-1].event_id if self.events else ""

    @property
    def first_id(self) -> str:
        return self.events[0].event_id if self.events else ""


def seq_of(sync: TimelineSync, event_id: str) -> int | None:
    return (
        StoredEvent.objects.filter(sync=sync, event_id=event_id)
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
    qs = flt.apply(StoredEvent.objects.for_sync(sync)).for_display()
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
    return flt.apply(StoredEvent.objects.for_sync(sync)).count()


def first_ts(sync: TimelineSync) -> Any:
    return (
        StoredEvent.objects.for_sync(sync)
        .filter(ts__isnull=False)
        .order_by("seq")
        .values_list("ts", flat=True)
        .first()
    )


def neighbour_failure(sync: TimelineSync, seq: int, direction: str) -> StoredEvent | None:
    qs = StoredEvent.objects.for_sync(sync).filter(failed=True)
    if direction == "prev":
        return qs.filter(seq__lt=seq).order_by("-seq").first()
    return qs.filter(seq__gt=seq).order_by("seq").first()


def followups(sync: TimelineSync, prompt_seq: int, limit: int = 200) -> list[StoredEvent]:
    """Changes, commands and tests between a prompt and the next prompt."""
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
        .filter(
            seq__gt=prompt_seq,
            kind__in=(
                "file_diff",
                "file_create",
                "file_delete",
                "command",
                "test_run",
                "git_action",
            ),
        )
    )
    if next_prompt is not None:
        qs = qs.filter(seq__lt=next_prompt)
    return list(qs.order_by("seq")[:limit])


def iter_raw(sync: TimelineSync) -> Iterator[str]:
    """The stored events' JSON, in order, without loading the session into memory."""
    qs = StoredEvent.objects.for_sync(sync).order_by("seq").values_list("raw", flat=True)
    yield from qs.iterator(chunk_size=2000)


def purge(org: Organization, session_id: str) -> int:
    """Delete the local store of a session; return how many events were removed."""
    sync = find_sync(org, session_id)
    if sync is None:
        return 0
    count = sync.events_stored
    with transaction.atomic():
        StoredEvent.objects.filter(sync=sync).delete()
        sync.delete()
    return count
