"""Celery tasks: thin, named, taking ids; the work is in `reviewer.prefetch` and `search`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from reviewer import cache, prefetch, promptster, search, timeline
from reviewer.cachebackend import CacheUnavailable, breaker_for
from reviewer.models import Organization, TimelineSync

log = logging.getLogger(__name__)

# A broker that is down or hung costs one publish timeout per interval, not one per page.
broker = breaker_for("the task queue's broker", seconds=15)


_BROKER_ERRORS = (OperationalError, RedisError, OSError)


def _publish(task: Any, *args: Any) -> None:
    """Send `task` through the broker's breaker; CacheUnavailable when it cannot be reached."""
    broker.call(lambda: task.delay(*args), _BROKER_ERRORS)


# Upstream failures worth another try later; a 401, 403 or 404 will not change by waiting.
RETRY_ON = (promptster.Unavailable, promptster.RateLimited, promptster.BadResponse)


@shared_task(
    name="reviewer.tasks.prefetch_session",
    autoretry_for=RETRY_ON,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
    ignore_result=True,
)
def prefetch_session(organization_id: int, session_id: str) -> str:
    """Bring one session's local timeline up to date (safe to run twice, or concurrently)."""
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return "organization gone"
    result = prefetch.prefetch(org, session_id)
    log.info("prefetch %s: %s (%s events)", session_id, result.status, result.events_stored)
    return result.status


PREFETCH_FILTER_LIMIT = 1000


@shared_task(
    name="reviewer.tasks.prefetch_filter",
    autoretry_for=RETRY_ON,
    retry_backoff=2,
    max_retries=5,
    ignore_result=True,
)
def prefetch_filter(organization_id: int, assessment_id: str, source_service: str) -> int:
    """Queue a prefetch of every session of a list filter that needs one; return how many."""
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return 0
    client = promptster.client_for(org, background=True)
    sessions = client.iter_sessions(
        assessment_id=assessment_id, source_service=source_service, limit=PREFETCH_FILTER_LIMIT
    )
    queued = 0
    for session in sessions:
        if prefetch.needs_sync(timeline.get_sync(org, session.id)):
            queued += enqueue_prefetch(org, session.id)
    return queued


def enqueue_prefetch_filter(org: Organization, assessment_id: str, source_service: str) -> bool:
    """Queue `prefetch_filter`; False if the broker cannot be reached."""
    try:
        _publish(prefetch_filter, org.pk, assessment_id, source_service)
    except CacheUnavailable:  # broker unreachable: the page says so (the breaker logged it)
        return False
    return True


@shared_task(name="reviewer.tasks.resync_running_sessions", ignore_result=True)
def resync_running_sessions() -> int:
    """Periodically catch up sessions that were still running when last fetched."""
    quiet_for = timezone.now() - timedelta(seconds=60)
    syncs = TimelineSync.objects.filter(
        session_ended=False, complete=False, updated_at__lt=quiet_for
    ).select_related("organization")
    count = 0
    for sync in syncs.iterator():
        if prefetch.needs_sync(sync):
            count += enqueue_prefetch(sync.organization, sync.session_id)
    return count


def enqueue_prefetch(org: Organization, session_id: str, *, asked: bool = False) -> bool:
    """Queue a prefetch of one session; False if the broker cannot be reached.

    The row is marked queued *before* publishing, so a worker that finishes at once is never
    overwritten back to "queued"; a failed publish puts the previous state back. `asked`
    (someone pressed "Fetch now") also retries a session blocked by a refused page.
    """
    sync = timeline.get_sync(org, session_id)
    previous = prefetch.mark_queued(sync, unblock=asked)
    try:
        _publish(prefetch_session, org.pk, session_id)
    except CacheUnavailable:  # broker unreachable: the page says so and shows what is stored
        if previous is not None:
            prefetch.unmark_queued(sync, previous)
        return False
    return True


VIEW_BATCH = 5  # prefetches one page view may queue
ORG_PER_MINUTE = 30  # prefetches page views of one organization may queue per minute


def enqueue_some(org: Organization, session_ids: list[str]) -> tuple[int, bool]:
    """Queue prefetches of the first sessions of `session_ids` (already known to need one),
    at most `VIEW_BATCH` and within the organization's per-minute quota; (queued, broker
    down)."""
    wanted = min(len(session_ids), VIEW_BATCH)
    allowed = cache.take_quota(org, "view-prefetch", wanted, limit=ORG_PER_MINUTE, window=60)
    queued = 0
    for session_id in session_ids[:allowed]:
        if not enqueue_prefetch(org, session_id):
            return queued, True
        queued += 1
    return queued, False


def fetch_if_needed(org: Organization, sync: TimelineSync) -> bool:
    """Queue a prefetch when the store needs one (as opening a page does); False only if it
    needed one and the broker could not be reached. `sync` is refreshed either way."""
    if not prefetch.needs_sync(sync):
        return True
    queued = enqueue_prefetch(org, sync.session_id)
    sync.refresh_from_db()
    return queued


@shared_task(name="reviewer.tasks.index_pending_search", ignore_result=True)
def index_pending_search() -> int:
    """Periodically put stored events that missed it into the search index."""
    return search.index_all_pending()


from reviewer.review.tasks import sync_decision  # noqa: E402,F401 - registered with the app
