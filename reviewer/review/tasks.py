"""The hiring-review task: write a decision upstream, retried with backoff."""

from __future__ import annotations

import logging

from celery import shared_task

from reviewer import promptster
from reviewer.models import Organization
from reviewer.review import sync

log = logging.getLogger(__name__)


class SyncNotDone(promptster.Unavailable):
    """A transient failure the task retries (with backoff)."""


@shared_task(
    name="reviewer.tasks.sync_decision",
    autoretry_for=(SyncNotDone,),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
    ignore_result=True,
)
def sync_decision(organization_id: int, session_id: str) -> str:
    """Write one session's decision to Promptster (safe to run twice, or concurrently)."""
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return "organization gone"
    result = sync.sync_decision(org, session_id)
    if result.retry_later:
        raise SyncNotDone(result.error)
    return result.outcome


def enqueue_sync(org: Organization, session_id: str, *, countdown: int = 0) -> bool:
    """Queue `sync_decision` once the transaction commits; False if the broker is down."""
    try:
        sync_decision.apply_async((org.pk, session_id), countdown=countdown)
    except Exception:  # broker unreachable: the page shows "not synced yet" and Retry
        log.warning("could not queue the sync of a decision on %s", session_id, exc_info=True)
        return False
    return True
