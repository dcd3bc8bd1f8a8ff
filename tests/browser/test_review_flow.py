"""A reviewer's day in a real browser: list, filters, paging, timeline, failures, hostile data."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from reviewer import prefetch, timeline
from reviewer.models import ShareLink, StoredEvent
from tests.conftest import ACME


def test_log_in_filter_page_and_open_a_session(
    page: Page, live_server, alice, sandbox, login, shot
):
    login("alice")
    rows = page.locator("tr[data-session-id]")
    expect(rows).to_have_count(20)
    shot("session-list")

    assessment = sandbox.state.assessments_for(ACME["id"])[0]
    page.select_option("#f-assessment", assessment["id"])
    expect(page).to_have_url(re.compile(f"assessmentId={assessment['id']}"))
    expected = [
        s
        for s in sandbox.state.sessions_for(ACME["id"])
        if s["metadata"].get("assessmentId") == assessment["id"]
    ]
    expect(page.locator("#count")).to_contain_text(f"of {len(expected)}")

    page.select_option("#f-limit", "10")
    expect(rows).to_have_count(10)
    page.click("text=Next →")
    expect(page).to_have_url(re.compile("offset=10"))
    first_id = rows.first.get_attribute("data-session-id")
    assert first_id == expected[10]["id"]
    # The URL alone reopens the same view.
    page.reload()
    expect(rows.first).to_have_attribute("data-session-id", first_id)

    rows.first.locator("a").first.click()
    expect(page).to_have_url(re.compile(f"/sessions/{first_id}/"))
    expect(page.locator("h1")).to_contain_text(first_id[:8])
    shot("session-detail-unfetched")


def test_read_a_big_timeline_scroll_filter_search_and_jump(
    page: Page, live_server, alice, org_a, sandbox, login, shot, acme_sessions
):
    session = max(
        (s for s in acme_sessions if s["endedAt"] and s["eventCount"] < 5000),
        key=lambda s: s["eventCount"],
    )
    prefetch.prefetch(org_a, session["id"])
    login("alice")
    page.goto(f"{live_server.url}/sessions/{session['id']}/?view=events")
    events = page.locator(".timeline > li.ev")
    expect(events).to_have_count(200)
    shot("timeline")
    page.emulate_media(color_scheme="dark")
    shot("timeline-dark")
    page.emulate_media(color_scheme="light")

    page.locator(".load-more").last.scroll_into_view_if_needed()
    expect(events).to_have_count(400)

    page.locator(".kinds-menu > summary").click()
    page.locator(".kinds label", has_text="Command").locator("input").check()
    expect(page).to_have_url(re.compile("kind=command"))
    expect(page.locator(".timeline > li.ev").first).to_have_attribute("data-kind", "command")

    command = StoredEvent.objects.filter(
        sync=timeline.find_sync(org_a, session["id"]), kind="command"
    ).first()
    needle = json.loads(command.raw)["data"]["command"].split()[0]
    page.goto(f"{live_server.url}/sessions/{session['id']}/?view=events")
    page.fill("#q", needle)
    page.press("#q", "Enter")
    expect(page).to_have_url(re.compile(f"q={re.escape(needle)}"))
    first = page.locator(".timeline > li.ev").first
    expect(first).to_contain_text(needle)

    page.goto(f"{live_server.url}/sessions/{session['id']}/?view=events")
    page.locator("body").press("n")
    expect(page.locator(".ev.current")).to_have_class(re.compile("failed"))
    current = page.locator(".ev.current").get_attribute("data-event-id")
    expect(page).to_have_url(re.compile(f"#event-{current}"))
    page.locator("body").press("j")
    expect(page.locator(".ev.current")).not_to_have_attribute("data-event-id", current)
    shot("timeline-failure")


def test_hostile_content_never_runs(page: Page, live_server, alice, org_a, sandbox, login, shot):
    hostile = sandbox.state.hostile_session_id(ACME["id"])
    prefetch.prefetch(org_a, hostile)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _, token = ShareLink.create(org=org_a, session_id=hostile, user=alice, hours=1)
    hostile_session = next(s for s in sandbox.state.sessions_for(ACME["id"]) if s["id"] == hostile)
    assessment = hostile_session["metadata"].get("assessmentId", "none")
    login("alice")
    for path in (
        "/sessions/?limit=100",
        f"/sessions/{hostile}/",
        f"/sessions/{hostile}/?kind=prompt",
        f"/sessions/{hostile}/?kind=file_diff",
        f"/sessions/{hostile}/attribution/",
        f"/assessments/{assessment}/",
        f"/compare/?a={hostile}&b={hostile}",
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    shot("hostile")
    response = page.goto(f"{live_server.url}/shared/{token}/")
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    assert dialogs == []
    assert page.evaluate("() => window.__xss === undefined")
