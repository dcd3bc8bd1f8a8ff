"""The first minute with a session: events at once, events arriving while it is fetched, and
jump targets never hidden under the sticky bars, at every width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from reviewer import prefetch
from reviewer.models import StoredEvent


def _biggest_small_session(sessions: list[dict]) -> dict:
    return max(
        (s for s in sessions if s["endedAt"] and s["eventCount"] < 5000),
        key=lambda s: s["eventCount"],
    )


def test_a_stored_session_opens_with_its_events(
    page: Page, live_server, alice, org_a, sandbox, login, acme_sessions, shot
) -> None:
    session = _biggest_small_session(acme_sessions)
    prefetch.prefetch(org_a, session["id"])
    login("alice")
    page.goto(f"{live_server.url}/sessions/{session['id']}/")
    expect(page.locator("#progress")).to_contain_text(
        f"Full timeline stored ({session['eventCount']:,} events)"
    )
    # Turns are there on the first response, with no click and no reload.
    expect(page.locator(".turn[data-turn]").first).to_be_visible(timeout=1000)
    expect(page.locator("body")).not_to_contain_text("No events stored yet")
    page.goto(f"{live_server.url}/sessions/{session['id']}/?view=events")
    expect(page.locator(".timeline > li.ev").first).to_be_visible(timeout=1000)
    shot("first-minute-stored")


def test_a_never_fetched_session_shows_its_first_events_and_the_rest_arrive(
    page: Page, live_server, alice, org_a, sandbox, login, acme_sessions, shot
) -> None:
    session = _biggest_small_session(acme_sessions)
    login("alice")
    page.goto(f"{live_server.url}/sessions/{session['id']}/?view=events")
    # The request that starts the fetch stored and rendered the first upstream page.
    first = page.locator(".timeline > li.ev")
    expect(first.first).to_be_visible(timeout=1000)
    shown = first.count()
    assert 0 < shown < session["eventCount"]
    expect(page.locator("#progress progress")).to_be_visible()
    # The map and the summary of what is stored come after the first events, then follow.
    expect(page.locator("#map-slot .session-map")).to_be_visible(timeout=5000)
    expect(page.locator("#summary-slot #attribution-panel")).to_be_visible()
    expect(page.locator("#summary-slot")).not_to_contain_text("Summarising")
    shot("first-minute-fetching")

    # The rest is stored while the page stays open (the worker's job, run here directly).
    prefetch.prefetch(org_a, session["id"])
    expect(page.locator("#progress")).to_contain_text("Full timeline stored", timeout=10_000)
    # Once it is all stored, the map and the summary stop following it.
    expect(page.locator("#map-slot[hx-trigger], #summary-slot[hx-trigger]")).to_have_count(
        0, timeout=10_000
    )
    page.locator(".timeline > li").last.scroll_into_view_if_needed()
    expect(first).not_to_have_count(shown, timeout=10_000)
    assert (
        StoredEvent.objects.filter(sync__session_id=session["id"]).count() == session["eventCount"]
    )


@pytest.mark.parametrize("width", [1440, 1000, 700, 390])
def test_jump_targets_land_below_every_sticky_bar(
    page: Page, live_server, alice, org_a, sandbox, login, acme_sessions, width
) -> None:
    session = _biggest_small_session(acme_sessions)
    prefetch.prefetch(org_a, session["id"])
    page.set_viewport_size({"width": width, "height": 800})
    login("alice")
    target = StoredEvent.objects.filter(sync__session_id=session["id"]).order_by("seq")[120]
    page.goto(f"{live_server.url}/sessions/{session['id']}/?view=events#event-{target.key}")
    page.wait_for_load_state("networkidle")

    def covered() -> float:
        """How far the current target's head sits under the lowest sticky element (px)."""
        return page.evaluate(
            """() => {
              const target = document.querySelector('.ev.current') ||
                document.querySelector(':target');
              const t = target.getBoundingClientRect();
              const over = (r) => r.height > 0 && r.left < t.right && r.right > t.left;
              const bars = Array.from(document.querySelectorAll('body *')).filter(el =>
                ['sticky', 'fixed'].includes(getComputedStyle(el).position) &&
                over(el.getBoundingClientRect()) && !el.closest('dialog'));
              const bottom = bars.reduce(
                (b, el) => Math.max(b, el.getBoundingClientRect().bottom), 0);
              return bottom - t.top;
            }"""
        )

    assert covered() <= 0, "the #event- link's target is under a sticky bar"
    for key in ("j", "j", "n", "k", "p"):
        page.locator("body").press(key)
        expect(page.locator(".ev.current")).to_have_count(1)
        assert covered() <= 0, f"after {key!r} the current event is under a sticky bar"
    expect(page).to_have_url(re.compile("#event-"))
