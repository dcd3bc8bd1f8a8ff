"""Search finds what a reviewer can see, in one session and across the organization.

Matching is on the folded text (case, compatibility forms and accents folded on both sides),
over every string of an event, nested ones included, with terminal escapes removed. Each test
runs before and after the text index takes the events in (pending rows are scanned).
"""

from __future__ import annotations

import re

import pytest
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import prefetch, search
from reviewer.models import EventText, TimelineSync
from tests.test_attribution import _add, _ev

EVENT = re.compile(r'data-event-id="([^"]+)"')
HIT = re.compile(r'<li data-event-id="([^"]+)" data-session-id="([^"]+)"')
BIG_LAST_LINE = "FINAL VERDICT: 1 failed, 2047 passed in 91.30s"

EVENTS = [
    _ev(
        "decision_event",
        "10:00:00",
        {"title": "Storage", "tradeoffs": ["faster writes", "harder migrations"]},
        id="dec",
    ),
    _ev(
        "planning",
        "10:01:00",
        {"todos": [{"content": "Wire the retry queue", "status": "pending"}]},
        id="plan",
    ),
    _ev(
        "command",
        "10:02:00",
        {
            "command": "pytest",
            "stdout": "\x1b[31mFAILED\x1b[0m tests/test_x.py::test_y",
            "exitCode": 1,
        },
        id="cmd",
    ),
    _ev("prompt", "10:03:00", {"text": "Deploy to İSTANBUL"}, id="tr"),
    _ev(
        "ai_response",
        "10:04:00",
        {"lastAssistantMessage": "Renamed the Hauptstraße column"},
        id="de",
    ),
    _ev(
        "tool_use",
        "10:05:00",
        {
            "toolName": "Bash",
            "ok": False,
            "error": "EACCES: nope",
            "inputPreview": '{"command":"make \\u0026\\u0026 git push --force"}',
        },
        id="tool",
    ),
    _ev("checkpoint", "10:06:00", {"summary": "Checkpoint after the refactor"}, id="chk"),
    _ev(
        "git_action",
        "10:07:00",
        {"action": "commit", "message": "Fix the --no-verify hook"},
        id="git",
    ),
    _ev(
        "command",
        "10:08:00",
        {
            "command": "make test",
            "stdout": "progress line\n" * 80_000 + BIG_LAST_LINE,
            "exitCode": 1,
        },
        id="big",
    ),
]

QUERIES = [
    ("harder migrations", "dec"),
    ("retry queue", "plan"),
    ("failed tests/test_x", "cmd"),
    ("istanbul", "tr"),
    ("strasse", "de"),
    ("HAUPTSTRASSE", "de"),
    ("eacces", "tool"),
    ("&& git push --force", "tool"),
    ("after the refactor", "chk"),
    ("--no-verify", "git"),
    ("final verdict: 1 failed", "big"),
]


@pytest.fixture(params=["indexed", "pending"])
def searchable(request, org_a, sandbox) -> str:
    sid = _add(sandbox, EVENTS, name="Sam Searcher")
    prefetch.prefetch(org_a, sid)  # stores, then indexes
    sync = TimelineSync.objects.get(organization=org_a, session_id=sid)
    if request.param == "pending":
        EventText.objects.filter(sync=sync).update(indexed=False)
    assert search.pending_count([sync.pk]) == (len(EVENTS) if request.param == "pending" else 0)
    return sid


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_search_finds_what_a_reviewer_can_see(as_carol, searchable, query, expected) -> None:
    response = as_carol.get(f"/sessions/{searchable}/timeline/", {"q": query})
    assert EVENT.findall(response.content.decode()) == [expected]


def test_matches_are_marked_and_counted(as_carol, searchable) -> None:
    page = as_carol.get(f"/sessions/{searchable}/", {"q": "istanbul"})
    assertContains(page, "<mark>İSTANBUL</mark>")
    assertContains(page, "<strong>1</strong> matching event")
    coloured = as_carol.get(f"/sessions/{searchable}/timeline/", {"q": "failed tests"})
    marked = re.findall(r"<mark>(.*?)</mark>", coloured.content.decode())
    assert "".join(marked) == "FAILED tests"  # across the colour's element boundary


def test_short_and_odd_queries_never_fail(as_carol, searchable) -> None:
    for query in ("x", "%", "_", "\\", '"', "''", "a%b_c\\"):
        assert as_carol.get(f"/sessions/{searchable}/timeline/", {"q": query}).status_code == 200
    assert (
        EVENT.findall(
            as_carol.get(f"/sessions/{searchable}/timeline/", {"q": "%"}).content.decode()
        )
        == []
    )


# --- across the organization ---------------------------------------------------------------


@pytest.fixture
def two_sessions(org_a, sandbox) -> tuple[str, str]:
    first = _add(sandbox, EVENTS, name="Sam Searcher", assessment="asmt-search-1")
    second = _add(
        sandbox,
        [_ev("command", "11:00:00", {"command": "git push --force origin main"}, id="push")],
        name="Pat Pusher",
        assessment="asmt-search-2",
    )
    prefetch.prefetch(org_a, first)
    prefetch.prefetch(org_a, second)
    return first, second


def test_org_search_groups_hits_by_session_with_links(as_carol, two_sessions) -> None:
    first, second = two_sessions
    response = as_carol.get("/search/", {"q": "git push --force"})
    body = response.content.decode()
    assert set(HIT.findall(body)) == {("tool", first), ("push", second)}
    assert f'href="/sessions/{second}/?at=push#event-push"' in body
    assert "Pat Pusher" in body and "Sam Searcher" in body
    assert "<mark>git push --force</mark>" in body
    assertContains(response, "<strong>2</strong> matching events")


def test_org_search_filters_by_kind_and_assessment(as_carol, two_sessions) -> None:
    first, second = two_sessions
    by_kind = as_carol.get("/search/", {"q": "git push --force", "kind": "command"})
    assert HIT.findall(by_kind.content.decode()) == [("push", second)]
    by_assessment = as_carol.get("/search/", {"q": "git push", "assessmentId": "asmt-search-1"})
    assert HIT.findall(by_assessment.content.decode()) == [("tool", first)]


def test_org_search_says_which_sessions_are_not_stored(as_carol, two_sessions) -> None:
    response = as_carol.get("/search/", {"q": "pytest"})
    assertContains(response, "not fully stored yet")
    assertContains(response, "Fetch them")


def test_org_search_never_shows_another_organizations_events(
    as_charlie, org_b, two_sessions, sandbox
) -> None:
    response = as_charlie.get("/search/", {"q": "git push"})
    assert HIT.findall(response.content.decode()) == []
    assertNotContains(response, "Pat Pusher")


def test_org_search_never_shows_a_deleted_session(as_alice, two_sessions) -> None:
    first, second = two_sessions
    response = as_alice.post(f"/sessions/{second}/delete/", {"confirm": second[:8]})
    assert response.status_code == 302
    after = as_alice.get("/search/", {"q": "git push --force"})
    assert HIT.findall(after.content.decode()) == [("tool", first)]


def test_org_search_pages_through_sessions(as_carol, org_a, sandbox) -> None:
    ids = [
        _add(sandbox, [_ev("command", "10:00:00", {"command": f"rm -rf build-{n}"}, id=f"rm{n}")])
        for n in range(23)
    ]
    for sid in ids:
        prefetch.prefetch(org_a, sid)
    first = as_carol.get("/search/", {"q": "rm -rf build"}).content.decode()
    second = as_carol.get("/search/", {"q": "rm -rf build", "page": 2}).content.decode()
    assert len(HIT.findall(first)) == 20 and len(HIT.findall(second)) == 3
    assert not set(HIT.findall(first)) & set(HIT.findall(second))
    assert 'rel="next"' in first
