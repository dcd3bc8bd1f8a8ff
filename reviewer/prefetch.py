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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviewer import cache, promptster, search, store, upstream
from reviewer.models import (
    EventText,
    Organization,
    StoredEvent,
    TimelineSync,
    session_is_deleted,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

QUEUE_PATIENCE = timedelta(minutes=5)
# Up to this many stored events, a walk keeps their ids in memory (a few MB) and looks up
# only those a page repeats; past it, every id of each page is looked up.
SEEN_IDS_MAX = 250_000
FAILURE_PATIENCE = timedelta(minutes=2)


@dataclass
class PrefetchResult:
    status: str  # "done", "busy", "up-to-date", "gone", "blocked"
    events_stored: int = 0
    pages: int = 0


class LeaseLost(Exception):
    """Another worker took over this session (our lease expired): stop quietly."""


class SessionPurged(Exception):
    """The session was deleted here while it was being fetched: stop quietly."""


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


def _store_page(
    sync: TimelineSync,
    token: str,
    page: upstream.TimelinePage,
    prepared: list[store.Prepared] | None = None,
    seen: set[str] | None = None,
) -> int:
    """Write one page and advance the cursor in one transaction; return events written.
    `prepared` and `seen` are `store.PageWriter.write`'s and `store.PageWriter.seen`."""
    with transaction.atomic():
        current = _locked(sync, token)
        writer = store.PageWriter(
            sync.pk,
            sync.session_id,
            current.last_seq + 1,
            last_prompt=current.last_prompt_seq,
            seen=seen,
        )
        writer.write(page, prepared)
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
        writer = store.PageWriter(sync.pk, sync.session_id, 0, seen=set())
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


def _timeline(
    client: promptster.Client,
    session_id: str,
    after: str | None,
    page_size: int,
    first: upstream.TimelinePage | None,
) -> Iterator[upstream.TimelinePage | Any]:
    """The timeline's pages from `after`, each as its JSON (`Client.timeline_payloads`), or
    from a first page already in hand, then on from its cursor; `_page_of` reads either."""
    if first is None:
        yield from client.timeline_payloads(session_id, after=after, limit=page_size)
        return
    yield first
    if first.has_more and first.last_id is not None:
        yield from client.timeline_payloads(session_id, after=first.last_id, limit=page_size)


def _page_of(item: upstream.TimelinePage | Any) -> upstream.TimelinePage:
    return item if isinstance(item, upstream.TimelinePage) else promptster.read_timeline_page(item)


def _read_ahead(pages: Iterator[T]) -> Iterator[T]:
    """Fetch (and prepare) the next page while the current one is being written (the API is
    sequential, but our writes need not wait for it)."""
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
    session: upstream.Session | None = None,
    first_page: upstream.TimelinePage | None = None,
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
    `session`, when the caller has just read it, saves asking upstream for it again;
    `first_page`, the timeline's first page (no `after` cursor) read alongside it, is
    stored as the first page if nothing is stored yet, and ignored otherwise.
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
        result = _walk(
            org, sync, token, client, page_size, progress, max_pages, session, first_page
        )
        pages = result.pages
    except (LeaseLost, SessionPurged, TimelineSync.DoesNotExist):
        still_here = TimelineSync.objects.filter(pk=sync.pk).exists()
        return PrefetchResult("busy" if still_here else "gone")
    except store.StoreError as exc:
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
        # Upstream has no such session, or lost it mid-way (most often a delete here racing
        # this fetch: upstream goes first). Stop quietly and let the delete purge what is
        # stored; session_ended keeps periodic resyncs away.
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
    known: upstream.Session | None = None,
    first_page: upstream.TimelinePage | None = None,
) -> PrefetchResult:
    """Steps 2–5 of `prefetch`, under the lease; releases it when done."""
    session_id = sync.session_id
    if known is not None:
        session = known  # the caller's copy (perhaps as a reader sees it): not cached again
    else:
        session = client.get_session(session_id)  # NotFound: `prefetch` says "gone"
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
    first = first_page if after is None else None
    answers = _timeline(client, session_id, after, page_size, first)
    # Each page is read and prepared for the store as it arrives. Reading ahead only pays
    # when more pages are wanted than the one in hand; then it is a pipeline of three
    # threads: the next answer is on its way while the one before it is read and prepared,
    # and the one before that is written.
    if max_pages != 1:
        answers = _read_ahead(answers)
    ready = ((page, store.prepare(sync.pk, page)) for page in map(_page_of, answers))
    seen = store.stored_ids(sync.pk) if sync.events_stored <= SEEN_IDS_MAX else None
    for page, prepared in ready if max_pages == 1 else _read_ahead(ready):
        if page.events or page.unusable:
            _store_page(sync, token, page, prepared, seen)
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
    with transaction.atomic():
        # The worker writes each page holding this row's lock: taking it first means a page in
        # flight is either committed before the delete (and deleted with the rest) or finds
        # the row gone and stops, never a page committed between the deletes.
        locked = TimelineSync.objects.select_for_update().filter(pk=sync.pk).first()
        if locked is None:
            return 0
        count = locked.events_stored
        EventText.objects.filter(sync=sync).delete()
        StoredEvent.objects.filter(sync=sync).delete()
        sync.delete()
    return count
