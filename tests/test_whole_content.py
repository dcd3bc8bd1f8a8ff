"""'Show all' shows all, a huge field pages instead of building a huge page, and the
small things a reviewer reads everywhere (labels, tokens, dates, tool inputs) read right."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from reviewer import prefetch, rendering
from reviewer.models import ShareLink
from reviewer.rendering.fields import tool_input
from tests.conftest import ACME


def _session(sandbox, events: list[dict]) -> str:
    return sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-05T10:00:00Z", "endedAt": "2026-11-05T11:00:00Z"},
        [
            {"id": f"evt-{n}", "ts": f"2026-11-05T10:{n:02d}:00Z", **event}
            for n, event in enumerate(events)
        ],
    )


def test_show_all_shows_a_whole_long_prompt_and_response(as_carol, org_a, sandbox) -> None:
    prompt = "".join(f"prompt line {i} " + "x" * 40 + "\n" for i in range(900))  # ~50,000 chars
    response = "".join(f"- response item {i} " + "y" * 40 + "\n" for i in range(900))
    sid = _session(
        sandbox,
        [
            {"kind": "prompt", "data": {"text": prompt}},
            {"kind": "ai_response", "data": {"lastAssistantMessage": response}},
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert "prompt line 899 " not in chunk and "Show the whole prompt" in chunk
    assert "response item 899 " not in chunk and "Show the whole response" in chunk
    whole_prompt = as_carol.get(f"/sessions/{sid}/events/evt-0/").content.decode()
    assert "prompt line 899 " in whole_prompt and "Show the whole" not in whole_prompt
    whole_response = as_carol.get(f"/sessions/{sid}/events/evt-1/").content.decode()
    assert "<li>response item 899 " in whole_response


@pytest.fixture
def huge(org_a, sandbox) -> tuple[str, str]:
    """A session with a 6 MB, 120,000-line stdout: 60 pages of 2,000 lines."""
    stdout = "".join(f"log line {i:06d} \x1b[32mok\x1b[0m\n" for i in range(120_000))
    sid = _session(
        sandbox,
        [{"kind": "command", "data": {"command": "make", "exitCode": 0, "stdout": stdout}}],
    )
    prefetch.prefetch(org_a, sid)
    return sid, stdout


def test_a_huge_field_pages_instead_of_building_a_huge_page(as_carol, huge) -> None:
    sid, stdout = huge
    first = as_carol.get(f"/sessions/{sid}/events/evt-0/")
    body = first.content.decode()
    assert len(body) < 1_000_000
    assert "log line 000000 " in body and "log line 001999 " in body
    assert "log line 002000 " not in body
    assert "lines 1–2,000 of 120,000 (page 1 of 60)" in body
    assert '<span class="ansi-fg2">ok</span>' in body
    assert f'href="/sessions/{sid}/events/evt-0/?field=stdout&amp;page=2"' in body

    last = as_carol.get(f"/sessions/{sid}/events/evt-0/", {"field": "stdout", "page": "60"})
    body = last.content.decode()
    assert "log line 119999 " in body and "log line 117999 " not in body
    assert "Next →" not in body and "← Previous" in body
    # A page past the end shows the last one; nonsense shows the first.
    assert (
        "log line 119999 "
        in as_carol.get(f"/sessions/{sid}/events/evt-0/?field=stdout&page=999").content.decode()
    )
    assert (
        "log line 000000 "
        in as_carol.get(f"/sessions/{sid}/events/evt-0/?field=stdout&page=-3x").content.decode()
    )


def test_a_huge_field_downloads_whole_as_streamed_text(as_carol, huge) -> None:
    sid, stdout = huge
    response = as_carol.get(f"/sessions/{sid}/events/evt-0/", {"download": "stdout"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="evt-0-stdout.txt"'
    assert b"".join(response.streaming_content).decode() == stdout
    assert (
        as_carol.get(f"/sessions/{sid}/events/evt-0/", {"download": "exitCode"}).status_code == 404
    )
    assert as_carol.get(f"/sessions/{sid}/events/evt-0/", {"download": "nope"}).status_code == 404


def test_a_share_link_pages_and_downloads_its_own_session_only(
    client, org_a, alice, huge, sandbox
) -> None:
    sid, stdout = huge
    other = _session(
        sandbox, [{"kind": "command", "data": {"command": "secret", "stdout": "top secret\n"}}]
    )
    prefetch.prefetch(org_a, other)
    _, token = ShareLink.create(org=org_a, session_id=sid, user=alice, hours=1)
    page = client.get(f"/shared/{token}/events/evt-0/", {"field": "stdout", "page": "2"})
    body = page.content.decode()
    assert page.status_code == 200 and "log line 002000 " in body
    assert f'href="/shared/{token}/events/evt-0/?download=stdout"' in body
    download = client.get(f"/shared/{token}/events/evt-0/", {"download": "stdout"})
    assert b"".join(download.streaming_content).decode() == stdout
    assert download["Referrer-Policy"] == "no-referrer"
    # The other session's events have the same ids, but this link never reaches them.
    assert b"top secret" not in b"".join(
        client.get(f"/shared/{token}/events/evt-0/", {"download": "stdout"}).streaming_content
    )
    assert client.get(f"/shared/{token}/events/evt-9/", {"download": "stdout"}).status_code == 404


def test_a_huge_diff_pages_with_the_numbers_of_the_whole(as_carol, org_a, sandbox) -> None:
    lines = ["--- a/big.py", "+++ b/big.py", "@@ -1,30000 +1,30000 @@"]
    for i in range(1, 30_001):
        lines += [f"-old {i}", f"+new {i}"]
    sid = _session(
        sandbox, [{"kind": "file_diff", "data": {"path": "big.py", "diff": "\n".join(lines)}}]
    )
    prefetch.prefetch(org_a, sid)
    body = as_carol.get(
        f"/sessions/{sid}/events/evt-0/", {"field": "diff", "page": "2"}
    ).content.decode()
    # Rows 2,000-3,999 of the parse: old line 1000 is the first removed line on this page.
    assert (
        '<tr class="del"><td class="n">1000</td><td class="n"></td><td>-old 1000</td></tr>' in body
    )
    assert "-old 999<" not in body and "page 2 of 31" in body


def test_tool_inputs_show_decoded_as_key_value_lines() -> None:
    preview = (
        '{"command":"cd app \\u0026\\u0026 pytest -q \\u003e log.txt","description":"Run tests"}'
    )
    assert tool_input(preview) == "command: cd app && pytest -q > log.txt\ndescription: Run tests"
    cut = '{"file_path":"src/a.py","content":"def f():\\n    return 1 \\u003c 2\\n\\ndef g'
    assert (
        tool_input(cut)
        == "file_path: src/a.py\ncontent:\n  def f():\n      return 1 < 2\n  \n  def g…"
    )
    assert tool_input('{"url":"https://x.test/?a=1\\u0026b=2","n":3,"flags":["-v"]}') == (
        'url: https://x.test/?a=1&b=2\nn: 3\nflags: ["-v"]'
    )
    assert tool_input("ls \\u003e out") == "ls > out"


def test_tool_use_events_show_their_input_decoded(as_carol, org_a, sandbox) -> None:
    sid = _session(
        sandbox,
        [
            {
                "kind": "tool_use",
                "data": {
                    "toolName": "Bash",
                    "ok": True,
                    "inputPreview": '{"command":"npm test \\u0026\\u0026 echo \\u003cdone\\u003e"}',
                },
            },
            {"kind": "mcp_call", "data": {"tool": "search", "argsPreview": '{"q":"a \\u0026 b"}'}},
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert "command: npm test &amp;&amp; echo &lt;done&gt;" in chunk
    assert "q: a &amp; b" in chunk and "\\u0026" not in chunk


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("tool_use", "Tool use"),
        ("tool_result", "Tool result"),
        ("tool_call", "Tool result"),
        ("planning", "Planning"),
        ("mcp_call", "MCP call"),
        ("subagent_start", "Subagent start"),
        ("subagent_stop", "Subagent stop"),
        ("context_compact", "Context compaction"),
        ("file_read", "File read"),
        ("web_lookup", "Web lookup"),
        ("foo_bar", "Foo Bar"),
        ("brand-new.kind", "Brand New Kind"),
    ],
)
def test_every_kind_has_a_human_label(kind: str, label: str) -> None:
    assert rendering.kind_label(kind) == label


def test_unknown_kinds_render_with_a_title_cased_label_and_no_abbreviations(
    as_carol, org_a, sandbox
) -> None:
    sid = _session(
        sandbox,
        [
            {
                "kind": "foo_bar",
                "data": {"anything": [1, 2]},
                "provenance": {
                    "attribution": "likely_ai",
                    "confidence": 0.9,
                    "observability": "high",
                },
            },
            {"kind": "subagent_start", "data": {}},
            {
                "kind": "web_lookup",
                "data": {
                    "toolName": "WebFetch",
                    "inputPreview": '{"url":"https://a.test/?x=1\\u0026y=2"}',
                },
            },
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert "<strong>WebFetch</strong>" in chunk and "url: https://a.test/?x=1&amp;y=2" in chunk
    assert "<summary>Foo Bar data</summary>" in chunk
    assert '<span class="ev-kind">Foo Bar</span>' in chunk
    assert '<span class="ev-kind">Subagent start</span>' in chunk
    assert "Likely AI · 90% · high observability" in chunk and "obs." not in chunk
    page = as_carol.get(f"/sessions/{sid}/").content.decode()
    assert ">Foo Bar <span" in page and ">Subagent start <span" in page


def test_the_token_line_shows_cache_reads_and_writes(as_carol, org_a, sandbox) -> None:
    sid = _session(
        sandbox,
        [
            {
                "kind": "ai_response",
                "data": {
                    "lastAssistantMessage": "Done.",
                    "inputTokens": 1200,
                    "outputTokens": 340,
                    "cacheReadTokens": 45210,
                    "cacheWriteTokens": 2100,
                    "totalCost": 0.0213,
                },
            }
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert (
        "<span>1,200 in / 340 out tokens</span><span>45,210 cache read</span>"
        "<span>2,100 cache write</span><span>$0.0213</span>"
    ) in chunk


def test_dates_carry_the_year_when_it_is_not_this_one() -> None:
    now = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    assert rendering.date_label(datetime(2026, 3, 4, 9, 5, tzinfo=UTC), now) == "Mar 4, 09:05"
    assert rendering.date_label(datetime(2025, 12, 31, 23, 59, tzinfo=UTC), now) == (
        "Dec 31 2025, 23:59"
    )


def test_pages_have_a_favicon(as_carol) -> None:
    page = as_carol.get("/sessions/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert as_carol.get("/static/favicon.svg").status_code == 200


def test_paging_ignores_fields_that_fit() -> None:
    data = {"stdout": "small\n", "n": 3, "diff": "x\n" * 10}
    assert rendering.page_fields(data, "/e/") == {}
    assert data["stdout"] == "small\n"


def test_json_round_trip_of_a_display_copy_keeps_the_tail() -> None:
    head, meta = rendering.cut_field("".join(f"{i}\n" for i in range(1000)), 450, 24_000)
    restored = rendering.text.with_cut(head, json.loads(json.dumps(meta)))
    assert restored.total_lines == 1000 and restored.tail.endswith("999")


def test_a_response_too_large_to_format_pages_as_text(as_carol, org_a, sandbox) -> None:
    response = "".join(f"paragraph {i} " + "z" * 90 + "\n\n" for i in range(3000))  # ~300 KB
    sid = _session(sandbox, [{"kind": "ai_response", "data": {"lastAssistantMessage": response}}])
    prefetch.prefetch(org_a, sid)
    first = as_carol.get(f"/sessions/{sid}/events/evt-0/").content.decode()
    assert "paragraph 0 " in first and "paragraph 999 " in first and "paragraph 1000 " not in first
    assert "lastAssistantMessage: lines 1–2,000 of 6,000" in first
    last = as_carol.get(
        f"/sessions/{sid}/events/evt-0/", {"field": "lastAssistantMessage", "page": "3"}
    ).content.decode()
    assert "paragraph 2999 " in last
