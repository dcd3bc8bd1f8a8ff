"""Issue 13, caches and deletes: what a share-link holder can put in Redis, what a hostile
event kind can look like, and a prefetch racing a delete, against real Redis and HTTP."""

from __future__ import annotations

import io
import secrets
import threading

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from reviewer import deletion, prefetch
from reviewer.models import AuditEntry, StoredEvent, TimelineSync
from reviewer.rendering.events import EventView
from tests.conftest import ACME
from tests.test_delete_and_share import share


def _redis_keys() -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return int(client.dbsize())
    finally:
        client.close()


def test_random_at_values_on_a_share_link_add_nothing_to_redis(as_bob, org_a, acme_sessions):
    session_id = acme_sessions[0]["id"]
    call_command("prefetch", "--org", "acme", session_id, stdout=io.StringIO())
    url = share(as_bob, session_id).replace("http://testserver", "")
    visitor = Client()
    assert visitor.get(url + "timeline/").status_code == 200
    assert visitor.get(url).status_code == 200
    before = _redis_keys()
    for _ in range(25):
        response = visitor.get(url + f"timeline/?at={secrets.token_hex(8)}")
        assert response.status_code in (200, 404)
    # The rate limit's per-minute counter may be the one new key.
    assert _redis_keys() <= before + 1


@pytest.mark.parametrize("kind", ["failed", "notice-error", "pill-fail x", "other"])
def test_an_unknown_event_kind_never_becomes_an_app_class(kind) -> None:
    assert EventView.__dict__["kind_class"].fget(type("E", (), {"kind": kind})()) == "other"


@pytest.mark.django_db(transaction=True)
def test_a_prefetch_racing_a_delete_stops_quietly_and_stores_nothing(org_a, alice, sandbox):
    session_id = sandbox.state.add_session(
        ACME["id"],
        {"endedAt": "2026-11-01T11:00:00Z"},
        [
            {"kind": "prompt", "ts": f"2026-11-01T10:{n // 60:02d}:{n % 60:02d}Z", "data": {}}
            for n in range(60)
        ],
    )
    # Each timeline page waits, so the delete lands while the prefetch is mid-way.
    sandbox.inject("delay", seconds=0.6, count=100, route="GET /v1/sessions/:id/timeline")
    results: list[prefetch.PrefetchResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(prefetch.prefetch(org_a, session_id, page_size=10))
        except BaseException as exc:  # the bug: DoesNotExist escaped from here
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = threading.Event()
    for _ in range(50):  # wait until the first page is stored
        if StoredEvent.objects.filter(sync__session_id=session_id).exists():
            break
        deadline.wait(0.1)
    outcome = deletion.delete_session(org_a, session_id, actor=alice, session=None)
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert not errors, errors
    assert results and results[0].status == "gone"
    assert outcome.outcome in (deletion.Outcome.DELETED, deletion.Outcome.ALREADY_GONE)
    assert not TimelineSync.objects.filter(session_id=session_id).exists()
    assert not StoredEvent.objects.filter(sync__session_id=session_id).exists()
    assert AuditEntry.objects.filter(
        session_id=session_id, action=AuditEntry.Action.SESSION_DELETED
    ).exists()
