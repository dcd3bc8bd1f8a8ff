"""Hiring review in a real browser: a note on an event, then two reviewers score one session
independently and see each other's scorecards side by side only after submitting."""

from __future__ import annotations

from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from reviewer import prefetch
from reviewer.models import Membership, Role, StoredEvent
from tests.browser.conftest import ARTIFACTS
from tests.conftest import ACME

ASSESSMENT = "asm_browser_review"


def _login(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/sessions/")


def _score(page: Page, scores: dict[str, str], recommendation: str, summary: str) -> None:
    for dimension, value in scores.items():
        page.select_option(f"#id_score_{dimension}", value)
    page.fill("#id_notes_problem_decomposition", f"{summary[:20]} evidence")
    page.select_option("#id_recommendation", recommendation)
    page.fill("#id_summary", summary)


def _both(page: Page, shot, name: str) -> None:
    """Screenshots of `page` (either reviewer's) in light and dark, into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / f"{name}-dark.png"))
    page.emulate_media(color_scheme="light")


def test_two_reviewers_score_independently_then_see_each_other(
    page: Page, browser: Browser, live_server, org_a, bob, alice, sandbox, shot
):
    dave = User.objects.create_user(username="dave", password="pw-dave")
    Membership.objects.create(user=dave, organization=org_a, role=Role.REVIEWER)
    sid = sandbox.state.add_session(
        ACME["id"],
        {
            "sourceService": "claude-code",
            "startedAt": "2026-11-04T09:00:00Z",
            "endedAt": "2026-11-04T10:00:00Z",
            "metadata": {"candidateName": "Ada Example", "assessmentId": ASSESSMENT},
        },
        [
            {"kind": "prompt", "ts": "2026-11-04T09:00:00Z", "data": {"text": "Add a LRU cache"}},
            {
                "kind": "command",
                "ts": "2026-11-04T09:04:00Z",
                "data": {"command": "pytest -q", "exitCode": 1, "stdout": "1 failed"},
            },
            {"kind": "prompt", "ts": "2026-11-04T09:06:00Z", "data": {"text": "Fix the eviction"}},
            {
                "kind": "command",
                "ts": "2026-11-04T09:09:00Z",
                "data": {"command": "pytest -q", "exitCode": 0, "stdout": "3 passed"},
            },
        ],
    )
    prefetch.prefetch(org_a, sid)
    events = list(
        StoredEvent.objects.filter(sync__session_id=sid)
        .order_by("seq")
        .values_list("event_id", flat=True)
    )

    # bob notes the failing run, scores and submits.
    _login(page, live_server, "bob")
    page.goto(f"{live_server.url}/sessions/{sid}/?open={events[1]}")
    event = page.locator(f'li[data-event-id="{events[1]}"]')
    event.locator(".note-add").click()
    event.locator("textarea[name=body]").fill("Ran the tests **before** asking the AI to fix.")
    event.locator("button", has_text="Save note").click()
    note = page.locator(f'[data-note-for="{events[1]}"]').first
    expect(note).to_contain_text("before")
    expect(note.locator("strong", has_text="before")).to_have_count(1)
    _both(page, shot, "review-session-notes")

    page.goto(f"{live_server.url}/sessions/{sid}/scorecard/")
    _score(
        page,
        {"problem_decomposition": "4", "ai_orchestration": "4", "communication": "5"},
        "yes",
        "Bob: careful, test-first.",
    )
    page.click("button:has-text('Save draft')")
    expect(page.locator(".msg")).to_contain_text("Draft saved")
    expect(page.locator("#id_summary")).to_have_value("Bob: careful, test-first.")
    _both(page, shot, "review-scorecard")
    page.click("button:has-text('Submit scorecard')")
    expect(page.locator("[data-review-side]")).to_be_visible()
    expect(page.locator("th[data-scorecard-of]")).to_have_count(1)

    # dave, in his own browser, sees none of bob's verdict until he submits.
    other = browser.new_context()
    dave_page = other.new_page()
    _login(dave_page, live_server, "dave")
    dave_page.goto(f"{live_server.url}/sessions/{sid}/scorecard/")
    expect(dave_page.locator("body")).not_to_contain_text("Bob: careful")
    expect(dave_page.locator("[data-review-side]")).to_have_count(0)
    dave_page.goto(f"{live_server.url}/sessions/{sid}/")
    expect(dave_page.locator("#review-panel")).to_contain_text("1 scorecard")
    expect(dave_page.locator("#review-panel")).not_to_contain_text("Bob: careful")
    dave_page.goto(f"{live_server.url}/sessions/{sid}/scorecard/")
    _score(
        dave_page,
        {"problem_decomposition": "3", "ai_orchestration": "2", "communication": "5"},
        "no",
        "Dave: leaned on the assistant.",
    )
    dave_page.click("button:has-text('Submit scorecard')")
    side = dave_page.locator("[data-review-side]")
    expect(side.locator("th[data-scorecard-of]")).to_have_count(2)
    expect(dave_page.locator("body")).to_contain_text("Bob: careful, test-first.")
    expect(side.locator("tr.disagree")).to_have_count(1)  # ai_orchestration: 4 vs 2
    side.scroll_into_view_if_needed()
    _both(dave_page, shot, "review-side-by-side")

    # bob now sees dave's too.
    page.reload()
    expect(page.locator("body")).to_contain_text("Dave: leaned on the assistant.")

    # The cohort with its review columns.
    dave_page.goto(f"{live_server.url}/assessments/{ASSESSMENT}/")
    row = dave_page.locator(f'tr[data-session-id="{sid}"]')
    expect(row.locator('[data-review-state="scored"]')).to_be_visible()
    expect(row.locator('[data-median="communication"]')).to_have_text("5")
    dave_page.locator("#cohort-table").scroll_into_view_if_needed()
    dave_page.evaluate("document.querySelector('#cohort-table').scrollLeft = 10000")
    _both(dave_page, shot, "review-cohort")
    other.close()
