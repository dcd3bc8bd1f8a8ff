"""Prefetching full timelines into the local store: exact, idempotent, resumable, exclusive."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from reviewer import prefetch, promptster, tasks, timeline
from reviewer.models import StoredEvent, TimelineSync
from tests.conftest import ACME


def upstream_ids(sandbox, session_id: str) -> list[str]:
    client = promptster.Client(sandbox.url, ACME["token"], retries=2)
    return [e.id for page in client.iter_timeline(session_id) for e in page.events]


def stored_ids(org, session_id: str) -> list[str]:
    sync = timeline.find_sync(org, session_id)
    return list(
        StoredEvent.objects.filter(sync=sync).order_by("seq").values_list("event_id", flat=True)
    )


@pytest.fixture
def mid_session(acme_sessions) -> dict:
    return next(s for s in acme_sessions if s["endedAt"] and 2500 < s["eventCount"] < 6000)


def test_stores_the_exact_sequence(org_a, sandbox, mid_session) -> None:
    result = prefetch.prefetch(org_a, mid_session["id"])
    assert result.status == "done"
    assert stored_ids(org_a, mid_session["id"]) == upstream_ids(sandbox, mid_session["id"])
    sync = timeline.find_sync(org_a, mid_session["id"])
    assert sync.complete and sync.events_stored == mid_session["eventCount"]
    assert list(
        StoredEvent.objects.filter(sync=sync).order_by("seq").values_list("seq", flat=True)
    ) == list(range(mid_session["eventCount"]))


def test_a_complete_ended_session_is_never_fetched_again(org_a, sandbox, mid_session) -> None:
    prefetch.prefetch(org_a, mid_session["id"])
    sandbox.reset_stats()
    result = prefetch.prefetch(org_a, mid_session["id"])
    assert result.status == "up-to-date"
    assert "GET /v1/sessions/:id/timeline" not in sandbox.stats()["by_route"]
    assert StoredEvent.objects.count() == mid_session["eventCount"]


def test_resumes_after_an_upstream_failure_without_gaps_or_duplicates(
    org_a, sandbox, mid_session
) -> None:
    client = promptster.Client(sandbox.url, ACME["token"], retries=0)

    def break_after_two_pages(sync: TimelineSync) -> None:
        if sync.pages_fetched == 2:
            sandbox.inject("status", status=503, count=100, route="GET /v1/sessions/:id/timeline")

    size = 100  # small pages: the walk reads a few ahead, and upstream must break before the end
    with pytest.raises(promptster.Unavailable):
        prefetch.prefetch(
            org_a, mid_session["id"], client=client, progress=break_after_two_pages, page_size=size
        )
    sync = timeline.find_sync(org_a, mid_session["id"])
    partial = sync.events_stored
    # Two pages and whatever was already read ahead before upstream broke.
    assert sync.state == TimelineSync.State.FAILED
    assert 2 * size <= partial < mid_session["eventCount"] and partial % size == 0
    assert sync.claimed_until is None  # the lease is released for the next attempt

    sandbox.clear_faults()
    sandbox.reset_stats()
    prefetch.prefetch(org_a, mid_session["id"], client=client, page_size=size)
    # It continued from the last stored event instead of starting over.
    timeline_calls = sandbox.stats()["by_route"]["GET /v1/sessions/:id/timeline"]
    pages_left = -(-(mid_session["eventCount"] - partial) // size)
    assert timeline_calls in (pages_left, pages_left + 1)
    assert stored_ids(org_a, mid_session["id"]) == upstream_ids(sandbox, mid_session["id"])


@pytest.mark.parametrize("fault", ["repeat_event", "skip_event"])
def test_pages_that_repeat_or_skip_an_event_still_give_the_exact_sequence(
    org_a, sandbox, mid_session, fault
) -> None:
    sandbox.inject(fault, count=1, route="GET /v1/sessions/:id/timeline")
    prefetch.prefetch(org_a, mid_session["id"])
    ids = stored_ids(org_a, mid_session["id"])
    assert ids == upstream_ids(sandbox, mid_session["id"])
    assert len(ids) == len(set(ids)) == mid_session["eventCount"]


def test_a_running_sessions_new_events_arrive_on_resync(org_a, sandbox) -> None:
    running = sandbox.state.running_session_ids(ACME["id"])[0]
    prefetch.prefetch(org_a, running)
    before = timeline.find_sync(org_a, running).events_stored
    assert not timeline.find_sync(org_a, running).complete
    sandbox.state.grow(running, 25)
    sandbox.reset_stats()
    prefetch.prefetch(org_a, running)
    assert timeline.find_sync(org_a, running).events_stored == before + 25
    assert sandbox.stats()["by_route"]["GET /v1/sessions/:id/timeline"] == 1  # from the cursor
    assert stored_ids(org_a, running) == upstream_ids(sandbox, running)


@pytest.mark.django_db(transaction=True)
def test_concurrent_prefetches_fetch_the_timeline_once(org_a, sandbox, mid_session) -> None:
    sandbox.inject("delay", seconds=0.3, count=1, route="GET /v1/sessions/:id")
    results = []

    def run() -> None:
        try:
            results.append(prefetch.prefetch(org_a, mid_session["id"]).status)
        except Exception as exc:  # surfaced by the assertion below
            results.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy", "busy", "done"]
    pages = -(-mid_session["eventCount"] // 2000)
    assert sandbox.stats()["by_route"]["GET /v1/sessions/:id/timeline"] == pages
    assert StoredEvent.objects.count() == mid_session["eventCount"]


def test_a_dead_workers_lease_expires_and_another_finishes_the_job(
    org_a, sandbox, mid_session, settings
) -> None:
    """A killed worker never releases its lease; the next one waits for it to expire."""
    client = promptster.Client(sandbox.url, ACME["token"], retries=0)

    class WorkerKilled(BaseException):
        pass

    def die(sync: TimelineSync) -> None:
        if sync.pages_fetched == 1:
            # Freeze the lease as a killed process would leave it, then stop dead.
            TimelineSync.objects.filter(pk=sync.pk).update(
                claim_token="dead", claimed_until=timezone.now() + timedelta(seconds=1)
            )
            raise WorkerKilled()

    with pytest.raises(WorkerKilled):
        prefetch.prefetch(org_a, mid_session["id"], client=client, progress=die, page_size=1000)
    assert prefetch.prefetch(org_a, mid_session["id"]).status == "busy"
    time.sleep(1.1)
    assert prefetch.prefetch(org_a, mid_session["id"]).status == "done"
    assert stored_ids(org_a, mid_session["id"]) == upstream_ids(sandbox, mid_session["id"])


def test_deleted_upstream_session_is_reported_not_retried(org_a, sandbox) -> None:
    result = prefetch.prefetch(org_a, "11111111-2222-3333-4444-555555555555")
    assert result.status == "gone"
    sync = timeline.find_sync(org_a, "11111111-2222-3333-4444-555555555555")
    assert sync.state == TimelineSync.State.FAILED and "no such session" in sync.last_error


def test_the_prefetch_command_prints_progress_and_fails_loudly(org_a, mid_session, capsys):
    call_command("prefetch", "--org", "acme", mid_session["id"])
    assert f"{mid_session['eventCount']} events stored" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("prefetch", "--org", "acme", "11111111-2222-3333-4444-555555555555")
    with pytest.raises(CommandError):
        call_command("prefetch", "--org", "nope", "--all")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_task_runs_on_a_real_worker(org_a, sandbox, mid_session) -> None:
    from celery.contrib.testing.worker import start_worker

    from reviewer.celery import app

    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING"
    ):
        assert tasks.enqueue_prefetch(org_a, mid_session["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sync = timeline.find_sync(org_a, mid_session["id"])
            if sync.complete:
                break
            time.sleep(0.2)
    assert sync.complete
    assert stored_ids(org_a, mid_session["id"]) == upstream_ids(sandbox, mid_session["id"])


def test_a_lost_queue_message_is_asked_again_after_a_while(org_a, acme_sessions) -> None:
    sync = timeline.get_sync(org_a, acme_sessions[5]["id"])
    TimelineSync.objects.filter(pk=sync.pk).update(state="queued", queued_at=timezone.now())
    sync.refresh_from_db()
    assert not prefetch.needs_sync(sync)
    TimelineSync.objects.filter(pk=sync.pk).update(
        queued_at=timezone.now() - prefetch.QUEUE_PATIENCE - timedelta(seconds=1)
    )
    sync.refresh_from_db()
    assert prefetch.needs_sync(sync)


def test_a_failed_fetch_is_not_retried_by_every_view_at_once(org_a, acme_sessions) -> None:
    sync = timeline.get_sync(org_a, acme_sessions[6]["id"])
    TimelineSync.objects.filter(pk=sync.pk).update(state="failed", finished_at=timezone.now())
    sync.refresh_from_db()
    assert not prefetch.needs_sync(sync)
    TimelineSync.objects.filter(pk=sync.pk).update(
        finished_at=timezone.now() - prefetch.FAILURE_PATIENCE - timedelta(seconds=1)
    )
    sync.refresh_from_db()
    assert prefetch.needs_sync(sync)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_prefetch_all_queues_one_task_that_fetches_the_filter(
    org_a, alice, sandbox, acme_sessions
) -> None:
    from celery.contrib.testing.worker import start_worker
    from django.test import Client

    from reviewer.celery import app

    small = [s for s in acme_sessions if s["endedAt"] and s["eventCount"] < 300][:3]
    asmt = f"asmt-{uuid.uuid4().hex[:10]}"
    ids = [
        sandbox.state.add_session(
            ACME["id"],
            {"endedAt": "2026-11-02T12:00:00Z", "metadata": {"assessmentId": asmt}},
            [{"kind": "prompt", "ts": f"2026-11-02T10:0{n}:00Z", "data": {"text": "hi"}}],
        )
        for n in range(3)
    ]
    assert small  # the organization has other sessions the filter must leave alone
    client = Client()
    client.force_login(alice)
    sandbox.reset_stats()
    response = client.post("/sessions/prefetch/", {"assessmentId": asmt})
    assert response.status_code == 302
    assert sandbox.stats()["requests"] == 0  # the request itself pages nothing upstream
    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING"
    ):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if TimelineSync.objects.filter(session_id__in=ids, complete=True).count() == 3:
                break
            time.sleep(0.2)
    assert TimelineSync.objects.filter(session_id__in=ids, complete=True).count() == 3
    assert not TimelineSync.objects.filter(session_id__in=[s["id"] for s in small]).exists()
