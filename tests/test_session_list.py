"""The session list: filters, paging, caching and every way upstream can fail."""

from __future__ import annotations

import re
import threading

import pytest
from django.core.cache import cache as django_cache
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from reviewer import cache
from sandbox.data import REVOKED_TOKEN
from tests.conftest import ACME

ROW = re.compile(r'data-session-id="([^"]+)"')


def rows(response) -> list[str]:
    return ROW.findall(response.content.decode())


def test_login_is_required(client, db) -> None:
    response = client.get("/sessions/")
    assertRedirects(response, "/accounts/login/?next=/sessions/")


def test_lists_the_organizations_sessions_newest_first(as_carol, acme_sessions) -> None:
    response = as_carol.get("/sessions/")
    assert response.status_code == 200
    assert rows(response) == [s["id"] for s in acme_sessions[:20]]
    assertContains(response, f"of {len(acme_sessions)} sessions")


def test_pages_forward_with_offset(as_carol, acme_sessions) -> None:
    response = as_carol.get("/sessions/?limit=10&offset=10")
    assert rows(response) == [s["id"] for s in acme_sessions[10:20]]
    assertContains(response, 'rel="prev"')


def test_filters_by_assessment_and_tool(as_carol, sandbox, acme_sessions) -> None:
    assessment = sandbox.state.assessments_for(ACME["id"])[0]["id"]
    response = as_carol.get(f"/sessions/?assessmentId={assessment}&limit=100")
    expected = [s["id"] for s in acme_sessions if s["metadata"].get("assessmentId") == assessment]
    assert rows(response) == expected
    response = as_carol.get("/sessions/?sourceService=cursor&limit=100")
    assert rows(response)
    assert all(
        "cursor" in str(s["sourceService"]) for s in acme_sessions if s["id"] in rows(response)
    )


def test_htmx_request_gets_only_the_results_partial(as_carol) -> None:
    response = as_carol.get("/sessions/?limit=10", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="results"')
    assert "<html" not in body
    assert len(rows(response)) == 10


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        ("limit=abc", "must be a whole number"),
        ("offset=-5", "cannot be below 0"),
        ("limit=100000", "cannot be above 100"),
        ("assessmentId=%3Cscript%3E", "not a valid id"),
        ("sourceService=%22%3E%3Cimg", "was ignored"),
    ],
)
def test_bad_query_parameters_get_a_clear_message(as_carol, query, notice) -> None:
    response = as_carol.get(f"/sessions/?{query}")
    assert response.status_code == 200
    assertContains(response, notice)
    assert rows(response)


def test_a_second_view_makes_no_upstream_call(as_carol, sandbox) -> None:
    as_carol.get("/sessions/?limit=10")
    sandbox.reset_stats()
    for _ in range(3):
        assert len(rows(as_carol.get("/sessions/?limit=10"))) == 10
    assert sandbox.stats()["requests"] == 0


def test_upstream_failure_serves_the_last_list_marked_stale(as_carol, sandbox, monkeypatch) -> None:
    # Entries stored now are stale at once, so the next view must ask upstream again.
    monkeypatch.setattr(cache, "LIST_TTL", 0)
    monkeypatch.setattr(cache, "ASSESSMENTS_TTL", 0)
    first = rows(as_carol.get("/sessions/?limit=10"))
    sandbox.inject("status", status=503, count=50)
    response = as_carol.get("/sessions/?limit=10")
    assert rows(response) == first
    assertContains(response, "stale")
    sandbox.clear_faults()
    response = as_carol.get("/sessions/?limit=10")
    assertNotContains(response, "pill-stale")


def test_upstream_failure_with_nothing_cached_says_what_failed(as_carol, sandbox) -> None:
    sandbox.inject("status", status=500, count=50)
    response = as_carol.get("/sessions/")
    assert response.status_code == 200
    assertContains(response, "Could not load sessions from Promptster")
    assertContains(response, "not reachable or failed to answer")


@pytest.mark.parametrize(
    ("fault", "params", "message"),
    [
        ("rate_limit", {"retry_after": 30}, "rate limiting"),
        ("malformed", {}, "not reachable"),
        ("truncated", {}, "not reachable"),
        ("delay", {"seconds": 4}, "not reachable"),
    ],
)
def test_each_network_failure_reads_alike_and_rate_limits_are_explained(
    as_carol, sandbox, fault, params, message
):
    sandbox.inject(fault, count=50, **params)
    response = as_carol.get("/sessions/")
    assert response.status_code == 200
    assertContains(response, message)


def test_a_revoked_token_is_explained(as_carol, org_a) -> None:
    org_a.replace_token(REVOKED_TOKEN)
    response = as_carol.get("/sessions/")
    assertContains(response, "rejected this organization")
    assertNotContains(response, REVOKED_TOKEN)


def test_identical_concurrent_misses_make_one_upstream_call(org_a, sandbox) -> None:
    sandbox.inject("delay", seconds=0.4, count=1, route="GET /v1/sessions")
    results = []

    def view() -> None:
        results.append(cache.get_session_list(org_a, limit=7).value)

    threads = [threading.Thread(target=view) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12
    assert all(len(r.sessions) == 7 for r in results)
    assert sandbox.stats()["by_route"]["GET /v1/sessions"] == 1


def test_a_redis_outage_degrades_to_upstream_calls(as_carol, sandbox, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    django_cache.close()
    response = as_carol.get("/sessions/?limit=5")
    assert response.status_code == 200
    assert len(rows(response)) == 5
    assert sandbox.stats()["requests"] >= 1


def test_outsider_sees_only_their_own_sessions(as_charlie, as_carol, sandbox, acme_sessions):
    as_carol.get("/sessions/?limit=100")  # warm A's cache first
    response = as_charlie.get("/sessions/?limit=100")
    theirs = set(rows(response))
    assert theirs
    assert not theirs & {s["id"] for s in acme_sessions}


def test_empty_filter_result_has_an_empty_state(as_carol) -> None:
    response = as_carol.get("/sessions/?assessmentId=does-not-exist")
    assertContains(response, "No sessions match this filter")


def test_user_without_organization_is_told(client, django_user_model) -> None:
    user = django_user_model.objects.create_user("nobody", password="x")
    client.force_login(user)
    response = client.get("/sessions/")
    assert response.status_code == 403
    assertContains(response, "not a member of any organization", status_code=403)


def test_the_stored_column_speaks_one_vocabulary(as_carol, org_a, sandbox) -> None:
    """Not fetched, Queued, Fetching n%, Stored, Partly stored n%: never a dash or "Up to date"."""
    from reviewer import prefetch
    from tests.test_attribution import EXACT_EVENTS, _add

    asmt = "asmt-stored-words"
    done = _add(sandbox, EXACT_EVENTS, assessment=asmt, name="Done")
    fresh = _add(sandbox, EXACT_EVENTS, assessment=asmt, name="Fresh")
    prefetch.prefetch(org_a, done)
    html = as_carol.get("/sessions/", {"assessmentId": asmt}).content.decode()

    def stored(sid: str) -> str:
        row = html[html.index(f'data-session-id="{sid}"') :]
        return row[: row.index("</tr>")].rsplit("<td", 1)[1]

    assert ">Stored<" in stored(done)
    assert ">Not fetched<" in stored(fresh)
    assert "Up to date" not in html and ">—<" not in stored(fresh)
