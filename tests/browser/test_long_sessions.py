"""A long, real-shaped session at a glance: turns (keyboard included), the session map, and a
file's story with AI blame, on the sandbox's Claude Code-style session."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from reviewer import prefetch


@pytest.fixture
def realistic(org_a, sandbox) -> str:
    sid = sandbox.state.special_session_ids()["realistic"]
    assert prefetch.prefetch(org_a, sid).status == "done"
    return sid


def test_a_real_session_is_a_few_screens_of_turns(
    page: Page, live_server, alice, login, realistic, shot
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    login("alice")
    page.goto(f"{live_server.url}/sessions/{realistic}/")
    turns = page.locator(".turn[data-turn]")
    expect(turns.first).to_be_visible()
    expect(turns).to_have_count(30)  # 29 prompts, and what came before the first
    expect(page.locator(".turn.open")).to_have_count(0)
    height = page.evaluate("document.documentElement.scrollHeight")
    screens = height / 900
    assert screens <= 8, f"{screens:.1f} screens"
    shot("long-session-turns")
    page.emulate_media(color_scheme="dark")
    shot("long-session-turns-dark")


def test_turns_open_and_move_from_the_keyboard(
    page: Page, live_server, alice, login, realistic
) -> None:
    login("alice")
    page.goto(f"{live_server.url}/sessions/{realistic}/")
    body = page.locator("body")
    body.press("]")
    body.press("]")
    current = page.locator(".turn.current")
    expect(current).to_have_count(1)
    key = current.get_attribute("data-turn")
    expect(page).to_have_url(re.compile(f"#turn-{re.escape(key)}"))
    body.press("o")
    opened = page.locator(f'.turn[data-turn="{key}"] .turn-body [data-event-id]').first
    expect(opened).to_be_visible()
    expect(page.locator(f'.turn[data-turn="{key}"] [data-turn-toggle]')).to_have_attribute(
        "aria-expanded", "true"
    )
    body.press("[")
    expect(page.locator(".turn.current")).not_to_have_attribute("data-turn", key)
    # The flat list is one toggle away and kept in the URL.
    page.get_by_role("link", name="All events").click()
    expect(page).to_have_url(re.compile("view=events"))
    expect(page.locator(".timeline > li.ev").first).to_be_visible()


def test_the_map_jumps_to_a_failure(page: Page, live_server, alice, login, realistic, shot) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    login("alice")
    page.goto(f"{live_server.url}/sessions/{realistic}/")
    failure = page.locator(".map-strip a:has(rect.map-failure)").first
    expect(failure).to_be_attached()
    title = failure.locator("title").text_content()
    assert title
    at = failure.get_attribute("data-map-at")
    failure.dispatch_event("click")
    target = page.locator(f'[data-event-id="{at}"], #event-{at}').first
    expect(target).to_be_visible()
    shot("long-session-map-jump")


def test_a_files_story_shows_who_wrote_each_line(
    page: Page, live_server, alice, login, realistic, shot
) -> None:
    login("alice")
    page.goto(f"{live_server.url}/sessions/{realistic}/files/")
    expect(page.locator("body")).to_contain_text("app/refunds.py")
    page.goto(f"{live_server.url}/sessions/{realistic}/files/?path=app/refunds.py")
    rows = page.locator("table.blame tr")
    expect(rows.first).to_be_visible()
    assert rows.count() > 100
    expect(page.locator("table.blame tr.by-likely_ai").first).to_be_visible()
    expect(
        page.locator("table.blame tr.by-likely_human, table.blame tr.by-ai_revised_by_human").first
    ).to_be_visible()
    shot("long-session-blame")
    page.emulate_media(color_scheme="dark")
    shot("long-session-blame-dark")
