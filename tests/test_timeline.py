"""The session page and its timeline fragments, read from the local store."""

from __future__ import annotations

import json
import re

import pytest
from pytest_django.asserts import assertContains, assertNotContains

from reviewer import prefetch, promptster, timeline
from reviewer.models import EventText, StoredEvent
from tests.conftest import ACME, GLOBEX, active_content

EVENT = re.compile(r'data-event-id="([^"]+)"')


def event_ids(response) -> list[str]:
    return EVENT.findall(response.content.decode())


@pytest.fixture
def stored(org_a, acme_sessions) -> dict:
    session = next(s for s in acme_sessions if s["endedAt"] and 600 < s["eventCount"] < 3000)
    prefetch.prefetch(org_a, session["id"])
    return session


def ordered(org, session_id, **filters) -> list[StoredEvent]:
    sync = timeline.find_sync(org, session_id)
    return list(StoredEvent.objects.filter(sync=sync, **filters).order_by("seq"))


def test_session_page_shows_fields_and_the_first_chunk(as_carol, org_a, stored) -> None:
    response = as_carol.get(f"/sessions/{stored['id']}/?view=events")
    assert response.status_code == 200
    assertContains(response, stored["id"])
    ids = event_ids(response)
    assert ids == [e.event_id for e in ordered(org_a, stored["id"])[:200]]
    assertContains(response, "hx-get=")
    assertContains(response, "Full timeline stored")


def test_fragment_continues_after_the_cursor_and_links_the_next_chunk(
    as_carol, org_a, stored
) -> None:
    events = ordered(org_a, stored["id"])
    response = as_carol.get(
        f"/sessions/{stored['id']}/timeline/?after={events[199].event_id}",
        headers={"HX-Request": "true"},
    )
    assert event_ids(response) == [e.event_id for e in events[200:400]]
    assert f"after={events[399].event_id}" in response.content.decode()
    assert "<html" not in response.content.decode()


def test_the_last_chunk_has_no_load_more(as_carol, org_a, stored) -> None:
    events = ordered(org_a, stored["id"])
    response = as_carol.get(f"/sessions/{stored['id']}/timeline/?after={events[-5].event_id}")
    assert event_ids(response) == [e.event_id for e in events[-4:]]
    assertNotContains(response, "Load more events")


def test_kind_filter_and_search_run_on_the_store(as_carol, org_a, stored) -> None:
    commands = ordered(org_a, stored["id"], kind="command")
    response = as_carol.get(f"/sessions/{stored['id']}/?kind=command&view=events")
    assert event_ids(response) == [e.event_id for e in commands[:200]]
    assertContains(response, f"<strong>{len(commands)}</strong> matching")

    needle = json.loads(commands[0].raw)["data"]["command"].split()[0]
    response = as_carol.get(f"/sessions/{stored['id']}/timeline/?q={needle}")
    found = event_ids(response)
    assert commands[0].event_id in found
    matching = {
        e.event_id
        for e in ordered(org_a, stored["id"])
        if needle.lower() in EventText.objects.get(event=e).text
    }
    assert set(found) <= matching


def test_failures_filter_and_jump_to_next_failure(as_carol, org_a, stored) -> None:
    failures = ordered(org_a, stored["id"], failed=True)
    assert failures, "the generated session has failing commands or tests"
    first = ordered(org_a, stored["id"])[0]
    response = as_carol.get(
        f"/sessions/{stored['id']}/jump/?from={first.event_id}&dir=next&view=events"
    )
    assert response.status_code == 302
    target = failures[0].event_id
    assert response["Location"].endswith(f"?at={target}&view=events#event-{target}")
    page = as_carol.get(response["Location"].split("#")[0])
    assert target in event_ids(page)
    assertContains(page, "Load earlier events")
    in_turns = as_carol.get(f"/sessions/{stored['id']}/?at={target}")
    assert target in event_ids(in_turns)  # its turn is opened on it


def test_unknown_cursor_and_bad_filters_get_a_message_not_an_error(as_carol, stored) -> None:
    response = as_carol.get(
        f"/sessions/{stored['id']}/timeline/?after=nope-nope&attribution=robot&kind=%3Cb%3E"
        + "&q="
        + "x" * 5000
    )
    assert response.status_code == 200
    assertContains(response, "not in the stored timeline")
    assertContains(response, "attribution")
    assertContains(response, "cut to its first 200 characters")


def test_export_ndjson_and_json_stream_the_exact_timeline(as_carol, org_a, stored) -> None:
    ids = [e.event_id for e in ordered(org_a, stored["id"])]
    response = as_carol.get(f"/sessions/{stored['id']}/export.ndjson")
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    response = as_carol.get(f"/sessions/{stored['id']}/export.json")
    document = json.loads(b"".join(response.streaming_content))
    assert [e["id"] for e in document["events"]] == ids


def test_followups_of_a_prompt_list_what_happened_until_the_next_prompt(
    as_carol, org_a, stored
) -> None:
    events = ordered(org_a, stored["id"])
    prompts = [i for i, e in enumerate(events) if e.kind == "prompt"]
    start, end = prompts[0], prompts[1]
    expected = [
        e.event_id
        for e in events[start + 1 : end]
        if e.kind
        in ("file_diff", "file_create", "file_delete", "command", "test_run", "git_action")
    ]
    response = as_carol.get(
        f"/sessions/{stored['id']}/events/{events[start].event_id}/followups/",
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert [i for i in re.findall(r"at=([0-9a-f-]+)#", body)] == expected


def test_outsider_gets_404_for_every_timeline_url(as_charlie, stored) -> None:
    sid = stored["id"]
    for url in (
        f"/sessions/{sid}/",
        f"/sessions/{sid}/timeline/",
        f"/sessions/{sid}/export.ndjson",
        f"/sessions/{sid}/export.json",
        f"/sessions/{sid}/jump/?dir=next",
        f"/sessions/{sid}/attribution/",
    ):
        assert as_charlie.get(url).status_code == 404, url


def test_unknown_and_malformed_session_ids_are_404(as_carol) -> None:
    assert as_carol.get("/sessions/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert as_carol.get("/sessions/%3Cscript%3E/").status_code == 404


def test_opening_a_session_starts_its_prefetch(as_carol, org_a, acme_sessions) -> None:
    session = acme_sessions[3]
    as_carol.get(f"/sessions/{session['id']}/")
    sync = timeline.find_sync(org_a, session["id"])
    assert sync is not None and sync.state in ("queued", "running", "done")


def test_progress_polling_stops_with_286_when_done(as_carol, stored) -> None:
    response = as_carol.get(f"/sessions/{stored['id']}/progress/", headers={"HX-Request": "true"})
    assert response.status_code == 286


def test_hostile_content_is_shown_as_text(as_carol, org_a, sandbox) -> None:
    hostile = sandbox.state.hostile_session_id(ACME["id"])
    prefetch.prefetch(org_a, hostile)
    baseline = active_content(as_carol.get("/sessions/?limit=1").content.decode())
    for url in (
        f"/sessions/{hostile}/",
        "/sessions/?limit=100",
        f"/sessions/{hostile}/attribution/",
    ):
        body = as_carol.get(url).content.decode()
        assert active_content(body) == baseline, url
        assert "\u202e" not in body
    body = as_carol.get(f"/sessions/{hostile}/?kind=prompt").content.decode()
    assert "&lt;script&gt;alert(" in body  # shown as text, not dropped


def test_big_payloads_are_truncated_with_an_expand_link(as_carol, org_a, sandbox) -> None:
    big = sandbox.state.big_session_id(ACME["id"])
    client = promptster.Client(sandbox.url, ACME["token"])
    # Store just the pages holding the largest diff, through the same page writer.
    sync = timeline.get_sync(org_a, big)
    token = sync.claim(60)
    largest = None
    for page in client.iter_timeline(big):
        prefetch._store_page(sync, token, page)
        for event in page.events:
            diff = event.data.get("diff")
            if isinstance(diff, str) and diff.count("\n") >= 20_000:
                largest = event.raw
        if largest:
            break
    assert largest is not None
    response = as_carol.get(f"/sessions/{big}/?at={largest['id']}")
    body = response.content.decode()
    assert "Show all" in body
    assert len(body) < 2_000_000
    full = as_carol.get(f"/sessions/{big}/events/{largest['id']}/", headers={"HX-Request": "true"})
    assert full.status_code == 200
    assert full.content.decode().count('<tr class="') > 20_000


def test_progress_tells_the_page_when_the_fetch_is_over(as_carol, stored) -> None:
    """Events arrive in the list by themselves, so the progress line offers no reload; when
    the fetch is over it says so to the page (`timeline-stored`), and the map and summary
    that followed the fetch draw their final state at once."""
    url = f"/sessions/{stored['id']}/progress/"
    done = as_carol.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286
    assert json.loads(done.headers["HX-Trigger"]) == {"timeline-stored": {}}
    assertContains(done, f"Full timeline stored ({stored['eventCount']:,} events)", status_code=286)
    assertNotContains(done, "stored events</a>", status_code=286)


def test_ids_with_dots_and_colons_page_correctly(as_carol, org_a, sandbox) -> None:
    events = [
        {
            "id": f"evt.{i}:x",
            "kind": "command",
            "ts": f"2026-11-03T10:00:{i:02d}Z",
            "data": {"command": f"echo {i}", "exitCode": 0},
        }
        for i in range(5)
    ]
    sid = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-03T10:00:00Z", "endedAt": "2026-11-03T11:00:00Z"},
        events,
    )
    prefetch.prefetch(org_a, sid)
    response = as_carol.get(f"/sessions/{sid}/timeline/?after=evt.1:x")
    assert event_ids(response) == ["evt.2:x", "evt.3:x", "evt.4:x"]
    assert as_carol.get(f"/sessions/{sid}/events/evt.3:x/").status_code == 200


def test_upstream_403_for_a_session_looks_like_any_unknown_id(as_carol, sandbox, acme_sessions):
    sandbox.inject("status", status=403, count=5, route="GET /v1/sessions/:id")
    assert as_carol.get(f"/sessions/{acme_sessions[9]['id']}/").status_code == 404


def test_a_huge_field_without_its_own_link_still_offers_the_whole_event(as_carol, org_a, sandbox):
    error = "".join(f"line {i}: Traceback frame\n" for i in range(8000))
    sid = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-05T10:00:00Z", "endedAt": "2026-11-05T10:30:00Z"},
        [
            {
                "id": "evt-huge",
                "kind": "tool_result",
                "ts": "2026-11-05T10:01:00Z",
                "data": {"tool": "Bash", "ok": False, "error": error},
            }
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert "shown in part" in chunk and "line 7999:" not in chunk
    full = as_carol.get(f"/sessions/{sid}/events/evt-huge/").content.decode()
    assert "line 7999:" in full and "shown in part" not in full


def test_a_warning_about_one_request_is_not_cached_for_the_next(as_carol, stored) -> None:
    warned = as_carol.get(f"/sessions/{stored['id']}/timeline/?kind=Bad!")
    assertContains(warned, "was ignored")
    plain = as_carol.get(f"/sessions/{stored['id']}/timeline/")
    assertNotContains(plain, "was ignored")


def test_a_poll_that_finds_nothing_new_keeps_polling_from_the_same_place(
    as_carol, org_a, acme_sessions
) -> None:
    """While a fetch goes on, the live tail polls; an answer with no new event must carry the
    tail on (same cursor), or events stored later would never appear without a reload."""
    session = next(s for s in acme_sessions if s["endedAt"] and 300 < s["eventCount"] < 5000)
    prefetch.prefetch(org_a, session["id"], page_size=100, max_pages=1)
    sync = timeline.find_sync(org_a, session["id"])
    prefetch.mark_queued(sync)
    last = ordered(org_a, session["id"])[-1].key
    url = f"/sessions/{session['id']}/timeline/"
    poll = as_carol.get(url, {"after": last}, headers={"HX-Request": "true"})
    assert event_ids(poll) == []
    assertContains(poll, f'hx-get="timeline/?after={last}"')
    assertContains(poll, 'hx-trigger="load delay:300ms, every 1s"')

    prefetch.prefetch(org_a, session["id"])  # the worker stores the rest
    poll = as_carol.get(url, {"after": last}, headers={"HX-Request": "true"})
    assert len(event_ids(poll)) > 0


def test_opening_a_never_fetched_session_asks_upstream_once_for_each_thing(
    as_carol, acme_sessions, sandbox
) -> None:
    """The first events come from one timeline page; the session is read once, not again by
    the fetch that stores that page, and no second page is read ahead only to be dropped."""
    session = next(s for s in acme_sessions if s["endedAt"] and 600 < s["eventCount"] < 3000)
    sandbox.reset_stats()
    page = as_carol.get(f"/sessions/{session['id']}/?view=events")
    assert len(event_ids(page)) == 200
    calls = sandbox.stats()["by_route"]
    assert calls.get("GET /v1/sessions/:id/timeline") == 1
    assert calls.get("GET /v1/sessions/:id", 0) <= 1


@pytest.mark.parametrize("whose", ["another organization's", "unknown", "deleted here"])
def test_a_session_that_is_not_ours_stores_nothing_though_its_first_page_is_asked_early(
    as_carol, as_alice, org_a, org_b, sandbox, whose
) -> None:
    """The first timeline page is asked for alongside the session's own fields; another
    organization's session and an unknown id still answer 404, a session deleted here 410
    (without asking upstream for its timeline), and nothing is stored for any of them."""
    if whose == "another organization's":
        sid, status = sandbox.state.sessions_for(GLOBEX["id"])[0]["id"], 404
    elif whose == "unknown":
        sid, status = "0badc0de-0000-4000-8000-000000000000", 404
    else:
        # A session of its own: the sandbox's data lasts across tests.
        sid = sandbox.state.add_session(
            ACME["id"],
            {"endedAt": "2026-11-01T11:00:00Z"},
            [{"kind": "prompt", "ts": "2026-11-01T10:00:00Z", "data": {"text": "x"}}],
        )
        status = 410
        deleted = as_alice.post(f"/sessions/{sid}/delete/", {"confirm": sid[:8]})
        assert deleted.status_code == 302
    sandbox.reset_stats()
    assert as_carol.get(f"/sessions/{sid}/").status_code == status
    assert not timeline.TimelineSync.objects.filter(session_id=sid).exists()
    assert not StoredEvent.objects.filter(sync__session_id=sid).exists()
    if whose == "deleted here":
        assert "GET /v1/sessions/:id/timeline" not in sandbox.stats()["by_route"]


def test_while_a_timeline_arrives_the_map_and_summary_follow_it(
    as_carol, org_a, acme_sessions
) -> None:
    """The first response holds the first events and the summary so far, not the map of a
    timeline still arriving: it loads after the page; both follow the fetch until it is
    over, then stop (286)."""
    session = next(s for s in acme_sessions if s["endedAt"] and 600 < s["eventCount"] < 3000)
    sid = session["id"]
    page = as_carol.get(f"/sessions/{sid}/")
    body = page.content.decode()
    assert 'class="session-map"' not in body
    assertContains(page, f'hx-get="/sessions/{sid}/map/" hx-trigger="load"')
    # The summary of what is stored so far is there at once, and follows the fetch.
    assertContains(page, f'hx-get="/sessions/{sid}/summary/" hx-trigger="every 30s')
    assertContains(page, f"based on 200 of {session['eventCount']:,} events stored")
    progress = as_carol.get(f"/sessions/{sid}/progress/", headers={"HX-Request": "true"})
    assert progress.status_code == 200 and "HX-Trigger" not in progress.headers
    assertContains(page, "data-turn=")

    poll = as_carol.get(f"/sessions/{sid}/map/", headers={"HX-Request": "true"})
    assert poll.status_code == 200
    assertContains(poll, 'class="session-map"')
    assertContains(poll, 'hx-trigger="every 10s, timeline-stored from:body"')
    assertContains(poll, "so far: the 200 events stored")
    summary = as_carol.get(f"/sessions/{sid}/summary/", headers={"HX-Request": "true"})
    assert summary.status_code == 200
    assertContains(summary, 'id="attribution-panel"')
    assertContains(summary, 'hx-trigger="every 30s, timeline-stored from:body"')

    prefetch.prefetch(org_a, sid)  # the worker stores the rest
    done = as_carol.get(f"/sessions/{sid}/map/", headers={"HX-Request": "true"})
    assert done.status_code == 286
    assertContains(done, 'class="session-map"', status_code=286)
    assertNotContains(done, "so far", status_code=286)
    assertNotContains(done, "hx-trigger", status_code=286)
    summary = as_carol.get(f"/sessions/{sid}/summary/", headers={"HX-Request": "true"})
    assert summary.status_code == 286
    assertNotContains(summary, "hx-trigger", status_code=286)
    assertNotContains(summary, "Summarising", status_code=286)

    # Once stored, the page holds both at once and polls for neither.
    page = as_carol.get(f"/sessions/{sid}/")
    assertContains(page, 'class="session-map"')
    assertNotContains(page, f"/sessions/{sid}/map/")
    assertNotContains(page, f"/sessions/{sid}/summary/")


def test_the_map_and_summary_of_another_organization_are_not_shown(
    as_charlie, org_a, org_b, acme_sessions
) -> None:
    session = next(s for s in acme_sessions if s["endedAt"] and s["eventCount"] < 600)
    prefetch.prefetch(org_a, session["id"])
    stolen = as_charlie.get(f"/sessions/{session['id']}/map/", headers={"HX-Request": "true"})
    assert stolen.status_code == 286
    assert stolen.content == b""
    summary = as_charlie.get(f"/sessions/{session['id']}/summary/")
    assert summary.status_code == 404
