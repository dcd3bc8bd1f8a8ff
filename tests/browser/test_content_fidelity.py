"""What a reviewer sees of real content: a pasted traceback, GitHub-style markdown, a
coloured progress log, a rename and a diff with `---` content lines, in light and dark."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from reviewer import prefetch
from tests.browser.conftest import ARTIFACTS
from tests.conftest import ACME

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/orders/service.py", line 88, in total',
    "    return sum(line.price * line.qty for line in order.lines)",
    "TypeError: unsupported operand type(s) for *: 'NoneType' and 'int'",
]
PROMPT = "\n".join(
    [
        "The checkout page crashes when a line has no price:",
        *TRACEBACK,
        "# I think the fix is here:",
        "- skip lines without a price",
        "- or default the price to 0?",
    ]
)
RESPONSE = """I'll fix the crash in two steps:
1. Treat a missing price as an error, not as zero:
   ```python
   if line.price is None:
       raise MissingPrice(line.sku)
   ```
2. Cover it with tests:
   - a line without a price raises `MissingPrice`
   - the total of a normal order is unchanged
     - including discounts

- [x] reproduce the crash
- [ ] add the migration
~~Default to zero~~ would hide bad data; see https://docs.python.org/3/library/decimal.html.
"""
PROGRESS = (
    "Collecting pytest\n"
    + "".join(
        f"\r  Downloading pytest-8.3.4 {'━' * (i // 5):<20} {i:3d}%" for i in range(0, 101, 5)
    )
    + "\n\x1b[1m============ test session starts ============\x1b[0m\n"
    "tests/test_orders.py::test_total \x1b[32mPASSED\x1b[0m\n"
    "tests/test_orders.py::test_missing_price \x1b[31mFAILED\x1b[0m\n"
    "FAILED tests/test_orders.py::test_missing_price - TypeError\n"
    "\x1b[31m======== 1 failed, 1 passed in 0.12s ========\x1b[0m\n"
)
RENAME = "diff --git a/a.py b/b.py\nsimilarity index 100%\nrename from a.py\nrename to b.py\n"
SQL = """\
--- a/schema.sql
+++ b/schema.sql
@@ -10,4 +10,4 @@
 CREATE TABLE orders (
--- prices are in cents
+++counter
   id integer PRIMARY KEY
 );
"""


def _session(sandbox) -> str:
    events = [
        ("prompt", {"text": PROMPT}, "likely_human"),
        ("ai_response", {"lastAssistantMessage": RESPONSE, "inputTokens": 1200}, "likely_ai"),
        (
            "command",
            {"command": "pip install pytest && pytest -v", "exitCode": 1, "stdout": PROGRESS},
            "likely_ai",
        ),
        ("file_diff", {"path": "b.py", "diff": RENAME}, "likely_ai"),
        ("file_diff", {"path": "schema.sql", "diff": SQL}, "likely_human"),
    ]
    return sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-06T09:00:00Z", "endedAt": "2026-11-06T10:00:00Z"},
        [
            {
                "id": f"evt-{kind}-{n}",
                "kind": kind,
                "ts": f"2026-11-06T09:{n:02d}:00Z",
                "data": data,
                "provenance": {"attribution": who, "confidence": 0.8, "observability": "high"},
            }
            for n, (kind, data, who) in enumerate(events)
        ],
    )


def _shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for event in page.locator(".timeline li.ev").all():
        event_id = event.get_attribute("data-event-id")
        event.screenshot(path=str(ARTIFACTS / f"content-{event_id}-{name}.png"))
    page.screenshot(path=str(ARTIFACTS / f"content-{name}.png"), full_page=True)


def test_real_content_reads_as_it_was_written(
    page: Page, live_server, alice, org_a, sandbox, login
):
    sid = _session(sandbox)
    prefetch.prefetch(org_a, sid)
    page.set_viewport_size({"width": 1440, "height": 1000})
    login("alice")
    page.goto(f"{live_server.url}/sessions/{sid}/?view=events")

    prompt = page.locator('[data-event-id="evt-prompt-0"] .prompt')
    # Every line of the pasted traceback on its own line, in order; '#' and '-' stay text.
    assert [line for line in prompt.inner_text().split("\n") if line.strip()] == PROMPT.split("\n")
    expect(prompt.locator("h1, li")).to_have_count(0)

    response = page.locator('[data-event-id="evt-ai_response-1"] .md')
    expect(response.locator("ol > li")).to_have_count(2)
    expect(response.locator("ol > li").first.locator("pre")).to_contain_text("raise MissingPrice")
    expect(response.locator("ol > li").nth(1).locator("ul ul li")).to_have_text(
        "including discounts"
    )
    expect(response.locator("input[type=checkbox][disabled]")).to_have_count(2)
    expect(response.locator("del")).to_have_text("Default to zero")
    expect(response.locator('a[href^="https://docs.python.org"]')).to_have_count(1)

    command = page.locator('[data-event-id="evt-command-2"]')
    failed = command.get_by_text("FAILED", exact=True)
    expect(failed).to_be_visible()
    expect(failed).to_have_class("ansi-fg1")
    assert failed.evaluate("e => getComputedStyle(e).color") != command.locator(
        "pre.term"
    ).evaluate("e => getComputedStyle(e).color")
    output_lines = command.locator("pre.term").inner_text().split("\n")
    assert output_lines[:2] == ["Collecting pytest", f"  Downloading pytest-8.3.4 {'━' * 20} 100%"]
    expect(command.locator("summary")).to_contain_text("(7 lines)")
    expect(command.locator(".failed-tests")).to_contain_text(
        "tests/test_orders.py::test_missing_price"
    )

    expect(page.locator('[data-event-id="evt-file_diff-3"] tr.file')).to_contain_text(
        "renamed a.py → b.py"
    )
    sql = page.locator('[data-event-id="evt-file_diff-4"]')
    removed = sql.locator("tr.del")
    expect(removed).to_have_count(1)
    expect(removed.locator("td")).to_have_text(["11", "", "--- prices are in cents"])
    expect(sql.locator("tr.add td")).to_have_text(["", "11", "+++counter"])
    expect(sql.locator("tr.ctx").last.locator("td")).to_have_text(["13", "13", " );"])
    expect(sql.locator(".diffstat")).to_have_text("+1 −1")

    _shoot(page, "light")
    page.emulate_media(color_scheme="dark")
    _shoot(page, "dark")
    page.emulate_media(color_scheme="light")


def test_a_huge_log_opens_page_by_page(page: Page, live_server, alice, org_a, sandbox, login):
    log = "".join(f"[{i:06d}] \x1b[36mworker\x1b[0m processed batch {i}\n" for i in range(30_000))
    sid = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-06T09:00:00Z", "endedAt": "2026-11-06T10:00:00Z"},
        [
            {
                "id": "evt-log",
                "kind": "command",
                "ts": "2026-11-06T09:00:00Z",
                "data": {"command": "./run-batch", "exitCode": 0, "stdout": log},
            }
        ],
    )
    prefetch.prefetch(org_a, sid)
    page.set_viewport_size({"width": 1440, "height": 900})
    login("alice")
    page.goto(f"{live_server.url}/sessions/{sid}/?view=events")
    event = page.locator('[data-event-id="evt-log"]')
    event.locator("summary").click()
    event.get_by_text("Show all 30000 lines").click()  # swapped in place by htmx
    pager = page.locator('[data-event-id="evt-log"] .field-pager')
    expect(pager).to_contain_text("lines 1–2,000 of 30,000 (page 1 of 15)")
    pager.get_by_text("Next →").click()
    expect(page.locator('[data-event-id="evt-log"] .field-pager')).to_contain_text("page 2 of 15")
    expect(page.locator('[data-event-id="evt-log"] pre.term')).to_contain_text("[002000]")
    page.locator('[data-event-id="evt-log"]').screenshot(
        path=str(ARTIFACTS / "content-paged-light.png")
    )
