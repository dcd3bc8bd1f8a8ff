"""Kill a real worker process mid-prefetch; a second worker finishes the job without gaps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from reviewer import promptster, tasks, timeline
from reviewer.models import StoredEvent
from tests.conftest import ACME

ROOT = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return (
        f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def _start_worker(name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "PREFETCH_LEASE_SECONDS": "2",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewer",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
            "--hostname",
            name,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_nothing_broken(org_a, sandbox, acme_sessions) -> None:
    session = next(s for s in acme_sessions if s["endedAt"] and 2500 < s["eventCount"] < 6000)
    # Slow pages down so the kill lands between pages.
    sandbox.inject("delay", seconds=0.5, count=1000, route="GET /v1/sessions/:id/timeline")

    def stored() -> int:
        sync = timeline.find_sync(org_a, session["id"])
        return sync.events_stored if sync else 0

    first = _start_worker("first@%h")
    try:
        assert tasks.enqueue_prefetch(org_a, session["id"])
        assert _wait(lambda: stored() > 0, 60), "the first worker never stored a page"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    partial = stored()
    assert 0 < partial < session["eventCount"]

    sandbox.clear_faults()
    time.sleep(2.2)  # the dead worker's lease runs out
    second = _start_worker("second@%h")
    try:
        assert tasks.enqueue_prefetch(org_a, session["id"])
        done = _wait(lambda: timeline.find_sync(org_a, session["id"]).complete, 60)
        sync = timeline.find_sync(org_a, session["id"])
        assert done, (sync.state, sync.events_stored, sync.last_error, sync.claimed_until)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(10)

    client = promptster.Client(sandbox.url, ACME["token"])
    upstream = [e.id for page in client.iter_timeline(session["id"]) for e in page.events]
    sync = timeline.find_sync(org_a, session["id"])
    stored_ids = list(
        StoredEvent.objects.filter(sync=sync).order_by("seq").values_list("event_id", flat=True)
    )
    assert stored_ids == upstream
