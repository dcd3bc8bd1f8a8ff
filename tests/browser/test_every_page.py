"""Every page kind in Chromium at desktop and phone width, light and dark: no serious or
critical accessibility violation (axe-core), nothing wider than the screen, sticky parts that
leave the phone's screen to the content."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from reviewer import prefetch
from tests.browser.conftest import ARTIFACTS
from tests.conftest import ACME
from tests.test_attribution import EXACT_EVENTS, _add

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
# The innermost elements reaching past the viewport, outside boxes that scroll on purpose.
WIDE_ELEMENTS = """(w) => {
  const scrolls = '.table-scroll, .cohort-scroll, .diff-wrap, .out, pre, .attr-figure, .attr-panel';
  const past = (el) => el.getBoundingClientRect().right > w + 1;
  return Array.from(document.querySelectorAll('body *'))
    .filter(el => past(el) && !el.closest(scrolls))
    .filter(el => !Array.from(el.children).some(past))
    .slice(0, 5)
    .map(el => el.tagName + '.' + el.className + ' ' + (el.textContent || '').slice(0, 40));
}"""


@functools.cache
def _axe_source() -> str:
    return AXE.read_text()


def audit(page: Page) -> list[str]:
    """Serious and critical axe-core violations on the page, as readable lines."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (npm install)")
    # Evaluated through the browser's debugging channel: the page's CSP forbids inline script.
    page.evaluate(_axe_source())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [str(node["target"]) for node in violation["nodes"][:3]]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


def layout_problems(page: Page, width: int, height: int) -> list[str]:
    problems = []
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        wide = page.evaluate(WIDE_ELEMENTS, width)
        problems.append(f"page is {scroll_width}px wide at {width}px: {wide}")
    sticky = page.evaluate(
        """() => Array.from(document.querySelectorAll('body *'))
             .filter(el => ['sticky', 'fixed'].includes(getComputedStyle(el).position))
             .reduce((bottom, el) => Math.max(bottom, el.getBoundingClientRect().bottom), 0)"""
    )
    if width < 600 and sticky > 0.15 * height:
        problems.append(f"sticky parts reach {sticky}px of {height}px")
    return problems


@pytest.fixture
def pages(sandbox, org_a, alice, bob, carol) -> dict[str, str]:
    """One URL of every page kind, with data behind each."""
    sid = _add(sandbox, EXACT_EVENTS, assessment="asmt-every-page", name="Ada Exact")
    prefetch.prefetch(org_a, sid)
    hostile = sandbox.state.hostile_session_id(ACME["id"])
    prefetch.prefetch(org_a, hostile)
    from reviewer.models import ShareLink

    link, token = ShareLink.create(org=org_a, session_id=sid, user=bob, hours=24)
    assessment = sandbox.state.assessments_for(ACME["id"])[0]["id"]
    return {
        "sessions": "/sessions/",
        "session-turns": f"/sessions/{sid}/",
        "session-events": f"/sessions/{sid}/?view=events",
        "session-search": f"/sessions/{sid}/?q=models",
        "session-hostile": f"/sessions/{hostile}/?view=events",
        "event": f"/sessions/{sid}/events/{_first_key(sid)}/",
        "attribution": f"/sessions/{sid}/attribution/",
        "files": f"/sessions/{sid}/files/",
        "file": f"/sessions/{sid}/files/?path=app/models.py",
        "share": f"/sessions/{sid}/share/",
        "delete": f"/sessions/{sid}/delete/",
        "cohort": f"/assessments/{assessment}/",
        "compare": f"/compare/?a={sid}",
        "search": "/search/?q=models",
        "audit": "/audit/",
        "settings": "/org/settings/",
        "not-found": "/sessions/no-such-session/",
        "shared": f"/shared/{token}/",
    }


def _first_key(session_id: str) -> str:
    from reviewer.models import StoredEvent

    return StoredEvent.objects.filter(sync__session_id=session_id).order_by("seq")[0].key


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_is_accessible_and_fits(page: Page, live_server, login, pages, size, scheme):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    page.emulate_media(color_scheme=scheme)
    login("alice")
    failures = {}
    for name, path in pages.items():
        if name == "shared":
            page.context.clear_cookies()
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        found = audit(page) + layout_problems(page, width, height)
        if found:
            failures[name] = found
        if name in ("session-turns", "sessions", "shared", "cohort") and size == "phone":
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"page-{name}-{size}-{scheme}.png"))
    assert not failures, json.dumps(failures, indent=1)


def test_the_not_found_page_has_a_heading(page: Page, live_server, login, carol) -> None:
    login("carol")
    page.goto(live_server.url + "/sessions/no-such-session/")
    assert page.locator("h1").count() == 1
    assert re.search("not found|no such", page.locator("h1").inner_text(), re.I)
