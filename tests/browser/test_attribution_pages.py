"""The attribution summary, the cohort and the comparison, in a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from reviewer import prefetch


def _stored_pair(org, acme_sessions) -> tuple[dict, dict]:
    ended = [s for s in acme_sessions if s["endedAt"] and 100 < s["eventCount"] < 2500]
    first = ended[0]
    second = next(
        s
        for s in ended[1:]
        if s["metadata"].get("assessmentId") == first["metadata"].get("assessmentId")
    )
    for s in (first, second):
        prefetch.prefetch(org, s["id"])
    return first, second


def test_summary_cohort_and_comparison(
    page: Page, live_server, alice, org_a, acme_sessions, login, shot
):
    first, second = _stored_pair(org_a, acme_sessions)
    login("alice")

    page.goto(f"{live_server.url}/sessions/{first['id']}/attribution/")
    expect(page.locator("h1")).to_contain_text(first["id"][:8])
    charts = page.locator("svg[role=img]")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 3
    for i in range(charts.count()):
        label = (
            charts.nth(i).get_attribute("aria-label")
            or charts.nth(i).locator("title").first.text_content()
        )
        assert label and label.strip()
    shot("attribution")
    # A working-process fact leads into the timeline, filtered.
    page.locator("a[href*='kind=command']").first.click()
    expect(page).to_have_url(re.compile(f"/sessions/{first['id']}/\\?.*kind=command"))
    expect(page.locator(".timeline > li.ev").first).to_have_attribute("data-kind", "command")

    assessment = first["metadata"]["assessmentId"]
    page.goto(f"{live_server.url}/assessments/{assessment}/")
    expect(page.locator(f"tr[data-session-id='{first['id']}']")).to_be_visible()
    shot("cohort")

    page.goto(f"{live_server.url}/compare/?a={first['id']}&b={second['id']}")
    expect(page.locator("body")).to_contain_text(first["id"][:8])
    expect(page.locator("body")).to_contain_text(second["id"][:8])
    shot("compare")
