"""Upstream faults seen from pages: clear answers, never a 500, nothing cached or stored lost."""

from __future__ import annotations

import contextlib
import re

import pytest
from pytest_django.asserts import assertContains

from reviewer import cache, prefetch, promptster, timeline
from tests.conftest import ACME

FAULTS = [
    ("status", {"status": 500}),
    ("status", {"status": 502, "html": True}),
    ("status", {"status": 503}),
    ("rate_limit", {"retry_after": 60}),
    ("delay", {"seconds": 2}),
    ("disconnect", {}),
    ("truncated", {}),
    ("malformed", {}),
]
EVENT = re.compile(r'data-event-id="([^"]+)"')


@pytest.fixture
def stored(org_a, acme_sessions, monkeypatch) -> dict:
    # Everything cached from here on is immediately due for a refresh.
    for name in ("LIST_TTL", "SESSION_TTL", "RUNNING_SESSION_TTL", "ASSESSMENTS_TTL"):
        monkeypatch.setattr(cache, name, 0)
    session = next(s for s in acme_sessions if s["endedAt"] and 300 < s["eventCount"] < 2000)
    prefetch.prefetch(org_a, session["id"])
    return session


@pytest.mark.parametrize(("fault", "params"), FAULTS)
def test_a_known_session_stays_readable_when_upstream_fails(
    as_carol, sandbox, stored, fault, params
) -> None:
    before = as_carol.get(f"/sessions/{stored['id']}/")
    sandbox.inject(fault, count=100, **params)
    after = as_carol.get(f"/sessions/{stored['id']}/")
    assert after.status_code == 200
    assertContains(after, "stale")
    assert EVENT.findall(after.content.decode()) == EVENT.findall(before.content.decode())
    fragment = as_carol.get(f"/sessions/{stored['id']}/timeline/")
    assert fragment.status_code == 200 and EVENT.findall(fragment.content.decode())


@pytest.mark.parametrize(("fault", "params"), FAULTS)
def test_an_unknown_session_gets_a_clear_error_page(
    as_carol, sandbox, acme_sessions, fault, params
):
    sandbox.inject(fault, count=100, **params)
    response = as_carol.get(f"/sessions/{acme_sessions[7]['id']}/")
    assert response.status_code in (502, 503)
    body = response.content.decode()
    assert "Could not load this from Promptster" in body
    assert "Traceback" not in body and 'File "' not in body
    htmx = as_carol.get(f"/sessions/{acme_sessions[7]['id']}/", headers={"HX-Request": "true"})
    assert "<html" not in htmx.content.decode()
    assert "Could not load this from Promptster" in htmx.content.decode()


def test_rate_limited_pages_tell_the_browser_when_to_retry(as_carol, sandbox, acme_sessions):
    sandbox.inject("rate_limit", count=100, retry_after=60)
    response = as_carol.get(f"/sessions/{acme_sessions[8]['id']}/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize(("fault", "params"), FAULTS)
def test_prefetch_completes_exactly_once_faults_stop(org_a, sandbox, acme_sessions, fault, params):
    session = next(s for s in acme_sessions if s["endedAt"] and 2500 < s["eventCount"] < 6000)
    client = promptster.Client(sandbox.url, ACME["token"], timeout=(1, 2), retries=0)
    sandbox.inject(fault, count=1, route="GET /v1/sessions/:id/timeline", **params)
    # The task would retry a failure; the next run resumes from what is stored.
    with contextlib.suppress(promptster.PromptsterError):
        prefetch.prefetch(org_a, session["id"], client=client, page_size=1000)
    # The resumed run only needs to be correct: patient, so a loaded machine cannot fail it.
    patient = promptster.Client(sandbox.url, ACME["token"], timeout=(5, 30), retries=0)
    prefetch.prefetch(org_a, session["id"], client=patient, page_size=1000)
    ids = list(
        timeline.StoredEvent.objects.filter(sync=timeline.find_sync(org_a, session["id"]))
        .order_by("seq")
        .values_list("event_id", flat=True)
    )
    upstream = [e.id for page in patient.iter_timeline(session["id"]) for e in page.events]
    assert ids == upstream
