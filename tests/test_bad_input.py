"""Property-based: no query parameter or form field of any page makes a 500 or unbounded work."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewer import prefetch

junk = st.one_of(
    st.text(max_size=300),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["", "-5", "1e9", "100000", "NaN", "%00", "<script>", "../../", "' OR 1=1 --"]),
)
HYPO = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def stored_id(org_a, acme_sessions) -> str:
    session = next(s for s in acme_sessions if s["endedAt"] and 50 < s["eventCount"] < 1500)
    prefetch.prefetch(org_a, session["id"])
    return session["id"]


@HYPO
@given(assessment=junk, tool=junk, limit=junk, offset=junk)
def test_session_list_parameters(as_alice, assessment, tool, limit, offset) -> None:
    response = as_alice.get(
        "/sessions/",
        {"assessmentId": assessment, "sourceService": tool, "limit": limit, "offset": offset},
    )
    assert response.status_code == 200


@HYPO
@given(after=junk, before=junk, at=junk, kind=junk, attribution=junk, q=junk, failures=junk)
def test_timeline_parameters(
    as_alice, stored_id, after, before, at, kind, attribution, q, failures
):
    params = {
        "after": after,
        "before": before,
        "at": at,
        "kind": kind,
        "attribution": attribution,
        "q": q,
        "failures": failures,
    }
    for url in (f"/sessions/{stored_id}/timeline/", f"/sessions/{stored_id}/"):
        assert as_alice.get(url, params).status_code == 200


@HYPO
@given(confirm=junk, hours=junk, note=junk)
def test_action_forms(as_alice, stored_id, confirm, hours, note) -> None:
    response = as_alice.post(
        f"/sessions/{stored_id}/share/", {"expires_in_hours": hours, "note": note}
    )
    assert response.status_code in (200, 400)
    if confirm != stored_id[:8]:
        response = as_alice.post(f"/sessions/{stored_id}/delete/", {"confirm": confirm})
        assert response.status_code == 400


@HYPO
@given(sid=junk, a=junk, b=junk, sort=junk, direction=junk)
def test_ids_and_other_pages(as_alice, sid, a, b, sort, direction) -> None:
    for url, params in (
        (f"/sessions/{sid}/", {}),
        (f"/assessments/{sid}/", {"sort": sort, "dir": direction}),
        ("/compare/", {"a": a, "b": b}),
        ("/audit/", {"action": a, "session": b, "page": sort}),
    ):
        if "/" in sid.strip("/") or "\x00" in sid or "?" in sid or "#" in sid:
            continue
        assert as_alice.get(url, params).status_code in (200, 404, 410), url


def test_a_ten_megabyte_search_is_cut_not_scanned(as_alice, stored_id) -> None:
    response = as_alice.get(f"/sessions/{stored_id}/timeline/", {"q": "a" * 10_000_000})
    assert response.status_code == 200
    assert b"cut to its first 200 characters" in response.content


def test_query_forms_replace_each_bad_value_and_say_so() -> None:
    """One lenient reading for every declared query form: clamped, cut, partly kept, ignored."""
    from django.http import QueryDict

    from reviewer.forms import SearchQuery, TimelineQuery, read_query

    values, notices = read_query(
        SearchQuery, QueryDict(f"q={'x' * 250}&page=0&kind=command,Bad%20Kind&kind=prompt")
    )
    assert values["q"] == "x" * 200 and values["page"] == 1
    assert values["kind"] == ("command", "prompt")
    assert len(notices) == 3 and "cut to its first 200" in notices[0]

    values, notices = read_query(TimelineQuery, QueryDict("attribution=robot&after=a%20b&q=a%00b"))
    assert (values["attribution"], values["after"], values["q"]) == ("", "", "ab")
    assert any("must be one of" in n for n in notices)
    assert any("“after” is not a valid id" in n for n in notices)
