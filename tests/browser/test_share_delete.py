"""Sharing with a logged-out teammate, revoking, and deleting through the modal."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from reviewer import prefetch
from tests.conftest import ACME


def _session(sandbox) -> str:
    return sandbox.state.add_session(
        ACME["id"],
        {
            "sourceService": "cursor",
            "startedAt": "2026-11-02T09:00:00Z",
            "endedAt": "2026-11-02T09:30:00Z",
            "metadata": {"candidateName": "Sam Share"},
        },
        [
            {
                "kind": "prompt",
                "ts": "2026-11-02T09:00:00Z",
                "data": {"text": "Fix the **bug**"},
                "provenance": {
                    "attribution": "likely_human",
                    "confidence": 0.8,
                    "observability": "medium",
                },
            },
            {
                "kind": "command",
                "ts": "2026-11-02T09:10:00Z",
                "data": {"command": "pytest -q", "exitCode": 1, "stderr": "1 failed"},
            },
        ],
    )


def test_share_open_logged_out_revoke(
    page: Page, browser: Browser, live_server, bob, org_a, sandbox, login, shot
):
    sid = _session(sandbox)
    prefetch.prefetch(org_a, sid)
    login("bob")
    page.goto(f"{live_server.url}/sessions/{sid}/")
    page.click("text=Share")
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.locator("select[name=expires_in_hours]").select_option("24")
    dialog.locator("button", has_text="Create link").click()
    url_input = dialog.locator("#share-url")
    expect(url_input).to_be_visible()
    shot("share-created")
    url = url_input.input_value()
    assert "/shared/" in url

    other = browser.new_context()
    visitor = other.new_page()
    visitor.goto(url)
    expect(visitor.locator("[data-turn]").first).to_be_visible()
    visitor.goto(f"{url}?view=events")
    expect(visitor.locator(".timeline > li.ev")).to_have_count(2)
    expect(visitor.locator("body")).not_to_contain_text("Delete")
    visitor.screenshot(path="test-artifacts/shared-view.png")

    dialog.locator("button", has_text="Revoke").click()
    expect(dialog.locator(".pill", has_text="revoked")).to_be_visible()
    response = visitor.reload()
    assert response.status == 410
    expect(visitor.locator("body")).to_contain_text("no longer works")
    other.close()


def test_delete_through_the_modal(page: Page, live_server, alice, org_a, sandbox, login, shot):
    sid = _session(sandbox)
    prefetch.prefetch(org_a, sid)
    login("alice")
    page.goto(f"{live_server.url}/sessions/{sid}/")
    page.click("text=Delete…")
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.locator("#id_confirm").fill("wrong")
    dialog.locator("button", has_text="Delete permanently").click()
    expect(dialog.locator(".error")).to_contain_text("does not match")
    dialog.locator("#id_confirm").fill(sid[:8])
    shot("delete-modal")
    dialog.locator("button", has_text="Delete permanently").click()
    expect(page).to_have_url(re.compile("/sessions/$"))
    expect(page.locator(".messages")).to_contain_text("deleted permanently")
    assert page.goto(f"{live_server.url}/sessions/{sid}/").status == 410
