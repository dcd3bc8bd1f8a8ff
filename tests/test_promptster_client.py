"""The upstream client against the sandbox API over real HTTP: parsing, errors, retries."""

from __future__ import annotations

import pytest

from reviewer import promptster, upstream
from reviewer.promptster import Client
from reviewer.upstream import parse_session
from tests.conftest import ACME, GLOBEX


@pytest.fixture
def client(sandbox) -> Client:
    return Client(sandbox.url, ACME["token"], timeout=(2, 2), retries=2)


def test_lists_sessions_with_total_and_paging(client: Client, acme_sessions) -> None:
    page = client.list_sessions(limit=5, offset=5)
    assert page.total == len(acme_sessions)
    assert [s.id for s in page.sessions] == [s["id"] for s in acme_sessions[5:10]]


def test_never_asks_for_more_than_the_documented_maximum(client: Client, sandbox) -> None:
    page = client.list_sessions(limit=100_000)
    assert page.limit == 100
    timeline = client.timeline_page(sandbox.state.big_session_id(), limit=50_000)
    assert len(timeline.events) == 2000


def test_walks_a_timeline_with_the_after_cursor(client: Client, acme_sessions) -> None:
    session = next(s for s in acme_sessions if 1000 < s["eventCount"] < 5000)
    ids = [e.id for page in client.iter_timeline(session["id"], limit=700) for e in page.events]
    assert len(ids) == session["eventCount"] == len(set(ids))


def test_unknown_session_is_not_found(client: Client) -> None:
    with pytest.raises(promptster.NotFound):
        client.get_session("00000000-0000-0000-0000-000000000000")


def test_another_organizations_session_is_not_found(sandbox, acme_sessions) -> None:
    outsider = Client(sandbox.url, GLOBEX["token"], retries=0)
    with pytest.raises(promptster.NotFound):
        outsider.get_session(acme_sessions[0]["id"])


def test_revoked_token_is_unauthorized_and_not_retried(sandbox) -> None:
    from sandbox.data import REVOKED_TOKEN

    client = Client(sandbox.url, REVOKED_TOKEN, retries=3)
    with pytest.raises(promptster.Unauthorized):
        client.list_sessions()
    assert sandbox.stats()["requests"] == 1


def test_transient_failures_are_retried_then_succeed(client: Client, sandbox) -> None:
    sandbox.inject("status", status=503, count=1, route="GET /v1/sessions")
    page = client.list_sessions(limit=3)
    assert len(page.sessions) == 3
    assert sandbox.stats()["requests"] == 2


def test_persistent_5xx_gives_unavailable(sandbox) -> None:
    client = Client(sandbox.url, ACME["token"], retries=1)
    sandbox.inject("status", status=502, count=5, html=True)
    with pytest.raises(promptster.Unavailable) as info:
        client.list_sessions()
    assert info.value.status == 502
    assert sandbox.stats()["requests"] == 2


def test_rate_limit_honours_the_reset_hint(client: Client, sandbox) -> None:
    sandbox.inject("rate_limit", count=1, retry_after=0)
    assert client.list_sessions(limit=1).sessions


def test_malformed_and_truncated_json_are_bad_responses(sandbox) -> None:
    client = Client(sandbox.url, ACME["token"], retries=0)
    for fault in ("malformed", "truncated"):
        sandbox.inject(fault, count=1)
        with pytest.raises(promptster.BadResponse):
            client.list_sessions()


def test_timeouts_are_unavailable(sandbox) -> None:
    client = Client(sandbox.url, ACME["token"], timeout=(1, 0.3), retries=0)
    sandbox.inject("delay", seconds=1.0, count=1)
    with pytest.raises(promptster.Unavailable):
        client.list_sessions()


def test_connection_refused_is_unavailable() -> None:
    client = Client("http://127.0.0.1:9", "x", timeout=(0.5, 0.5), retries=0)
    with pytest.raises(promptster.Unavailable):
        client.list_sessions()


def test_delete_is_never_retried(sandbox, acme_sessions) -> None:
    client = Client(sandbox.url, ACME["token"], retries=3)
    sandbox.inject("status", status=503, count=3, route="DELETE /v1/sessions/:id")
    with pytest.raises(promptster.Unavailable):
        client.delete_session(acme_sessions[-1]["id"])
    assert sandbox.stats()["by_route"].get("DELETE /v1/sessions/:id") == 1


@pytest.mark.parametrize(
    ("raw", "tools", "pct"),
    [
        ({"sourceService": "claude-code", "aiAttributionPct": 72.5}, ("claude-code",), 72.5),
        ({"sourceService": ["claude_code", "shell"]}, ("claude-code", "shell"), None),
        ({"sourceService": None, "aiAttributionPct": 0.71}, (), 71.0),
        ({"aiAttributionPct": "high"}, (), None),
        ({"aiAttributionPct": 250}, (), 100.0),
    ],
)
def test_documented_variants_of_a_session_are_read(raw, tools, pct) -> None:
    session = parse_session({"id": "s1", **raw})
    assert session.source_services == tools
    assert session.ai_pct == (pytest.approx(pct) if pct is not None else None)
    assert session.event_count == 0
    assert session.started_at is None
    assert session.is_running


def test_a_session_without_id_cannot_be_read() -> None:
    with pytest.raises(upstream.Unreadable):
        parse_session({"eventCount": 3})
