"""Command output reads as it did in the terminal: colours, progress lines, head and tail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reviewer import prefetch, rendering
from reviewer.rendering.failures import failed_tests
from reviewer.rendering.terminal import plain_lines, terminal_lines, terminal_preview
from reviewer.rendering.text import CutText, cut_field
from tests.conftest import ACME, active_content

CSS = (Path(__file__).resolve().parents[1] / "static" / "css" / "app.css").read_text()


def test_sgr_colours_become_classes_and_other_escapes_go() -> None:
    line = (
        "\x1b]0;pytest\x07\x1b[?25l\x1b(B\x1b[31mFAILED\x1b[0m \x1b[1mbold\x1b[22m "
        "\x1b[38;5;196mred256\x1b[39m \x1b[38;2;0;200;0mgreen\x1b[m "
        "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ <b>&\x07"
    )
    (html,) = terminal_lines(line)
    assert html == (
        '<span class="ansi-fg1">FAILED</span> <span class="ansi-bold">bold</span> '
        '<span class="ansi-fg9">red256</span> <span class="ansi-fg2">green</span> '
        "link &lt;b&gt;&amp;"
    )
    assert "\x1b" not in html and "style" not in html


def test_colours_carry_over_lines_until_reset() -> None:
    assert terminal_lines("\x1b[32mok\nstill green\x1b[0m\nplain\n") == [
        '<span class="ansi-fg2">ok</span>',
        '<span class="ansi-fg2">still green</span>',
        "plain",
    ]


def test_carriage_returns_rewrite_the_line_as_a_terminal_does() -> None:
    assert terminal_lines("Downloading  10%\rDownloading  60%\rDownloading 100%\n") == [
        "Downloading 100%"
    ]
    # A shorter rewrite leaves the end of the longer one, unless the line is erased first.
    assert plain_lines("50%\r5%\n") == ["5%%"]
    assert plain_lines("working...\r\x1b[Kdone\n") == ["done"]
    assert plain_lines("a\r\nb\r\n") == ["a", "b"]
    assert plain_lines("spin |\x08/\x08-\x08\\\x08ok\n") == ["spin ok"]


def test_a_three_line_progress_output_is_three_lines() -> None:
    output = (
        "Collecting requests\n"
        + "".join(f"\r  Downloading {i:3d}%" for i in range(101))
        + "\nSuccessfully installed requests-2.32.3\n"
    )
    assert len(output.splitlines()) == 104  # what the old preview counted
    preview = terminal_preview(output)
    assert preview.total_lines == 3 and not preview.truncated
    assert str(preview.head).split("\n") == [
        "Collecting requests",
        "  Downloading 100%",
        "Successfully installed requests-2.32.3",
    ]


def test_multi_line_progress_bars_redraw_in_place() -> None:
    output = "a  10%\nb  10%\n\x1b[2A\ra  90%\nb 100%\n"
    assert plain_lines(output) == ["a  90%", "b 100%"]


def _pytest_output(tests: int) -> str:
    """A colour pytest -v log of `tests` tests, the last failing: tests + 4 lines."""
    rule = "=" * 28
    lines = [f"\x1b[1m{rule} test session starts {rule}\x1b[0m"]
    lines += [f"tests/test_api.py::test_case_{i} \x1b[32mPASSED\x1b[0m" for i in range(tests - 1)]
    lines += [
        "tests/test_api.py::test_timeout \x1b[31mFAILED\x1b[0m",
        "=========================== short test summary info ============================",
        "FAILED tests/test_api.py::test_timeout - requests.exceptions.ReadTimeout",
        f"\x1b[31m{rule} 1 failed, {tests - 1} passed in 3.21s {rule}\x1b[0m",
    ]
    return "\n".join(lines) + "\n"


def test_a_long_outputs_preview_shows_head_and_tail_with_the_cut_between() -> None:
    output = _pytest_output(500)
    preview = terminal_preview(output)
    head, tail = str(preview.head).split("\n"), str(preview.tail).split("\n")
    assert len(head) == rendering.text.HEAD_LINES and len(tail) == rendering.text.TAIL_LINES
    assert "test session starts" in head[0]
    assert "1 failed, 499 passed" in tail[-1]
    assert preview.total_lines == 504
    assert preview.hidden_lines == 504 - len(head) - len(tail)
    assert preview.truncated


def test_a_cut_display_copy_keeps_the_tail() -> None:
    output = _pytest_output(5000)
    head, meta = cut_field(output, 450, 24_000)
    cut = CutText(head, meta[0], meta[1], meta[2])
    preview = terminal_preview(cut)
    assert "1 failed, 4999 passed" in str(preview.tail).split("\n")[-1]
    assert preview.total_lines == 5004
    assert rendering.terminal.output_failures(cut) == ["tests/test_api.py::test_timeout"]


@pytest.mark.parametrize(
    ("output", "names"),
    [
        (
            "FAILED tests/test_x.py::test_y - AssertionError: 1 != 2\n"
            "ERROR tests/test_db.py::test_conn\n",
            ["tests/test_x.py::test_y", "tests/test_db.py::test_conn"],
        ),
        (
            "tests/test_x.py::TestA::test_b FAILED                         [ 50%]\n",
            ["tests/test_x.py::TestA::test_b"],
        ),
        (
            "FAIL src/utils.test.ts\n  dates\n    ✓ parses (2 ms)\n    ✕ formats dates (5 ms)\n",
            ["src/utils.test.ts", "formats dates"],
        ),
        (
            " FAIL  src/sum.test.ts > sum > adds negatives\n   × adds negatives 3ms\n",
            ["src/sum.test.ts > sum > adds negatives", "adds negatives"],
        ),
        (
            "=== RUN   TestParse\n--- FAIL: TestParse (0.00s)\n"
            "    --- FAIL: TestParse/empty (0.00s)\nFAIL\n",
            ["TestParse", "TestParse/empty"],
        ),
        (
            "test parser::tests::empty ... FAILED\ntest parser::tests::ok ... ok\n",
            ["parser::tests::empty"],
        ),
        (
            "rspec ./spec/parser_spec.rb:12 # Parser rejects empty input\n",
            ["Parser rejects empty input (./spec/parser_spec.rb:12)"],
        ),
        (
            "FAIL: test_parse (tests.test_parser.ParserTest.test_parse)\n",
            ["test_parse (tests.test_parser.ParserTest.test_parse)"],
        ),
        ("1) Tests\\ParserTest::testEmpty\n", ["Tests\\ParserTest::testEmpty"]),
        ("all good: 12 passed\nFAILED to connect? no\n", []),
    ],
)
def test_failed_tests_are_named_from_the_runners_output(output: str, names: list[str]) -> None:
    assert failed_tests(plain_lines(output)) == names


def _colours(block: str) -> dict[str, str]:
    return dict(
        re.findall(r"\.(ansi-(?:fg|bg)\d+) \{ (?:color|background): (#[0-9a-f]{6}); \}", block)
    )


def _luminance(hex_colour: str) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_terminal_colour_keeps_a_4_5_contrast_on_every_background(theme: str) -> None:
    light, dark = CSS.split("@media (prefers-color-scheme: dark)", 1)
    variables = dark.split("}", 1)[0] if theme == "dark" else light
    page = [
        re.search(rf"--{name}: (#[0-9a-f]{{6}})", variables).group(1)
        for name in ("bg", "bg-subtle", "bg-inset")
    ]
    ansi_block = CSS.split(".ansi-fg0", 1)[1]
    light_ansi, dark_ansi = ansi_block.split("@media (prefers-color-scheme: dark)", 1)
    colours = _colours(".ansi-fg0" + light_ansi if theme == "light" else dark_ansi)
    foregrounds = [v for k, v in colours.items() if "fg" in k]
    backgrounds = page + [v for k, v in colours.items() if "bg" in k]
    assert len(foregrounds) == 16 and len(backgrounds) == 19
    worst = min(_contrast(f, b) for f in foregrounds for b in backgrounds)
    assert worst >= 4.5


def test_a_huge_test_log_in_the_timeline_shows_its_verdict_and_failures(
    as_carol, org_a, sandbox
) -> None:
    output = _pytest_output(6000)
    sid = sandbox.state.add_session(
        ACME["id"],
        {"startedAt": "2026-11-05T10:00:00Z", "endedAt": "2026-11-05T10:30:00Z"},
        [
            {
                "id": "evt-pytest",
                "kind": "command",
                "ts": "2026-11-05T10:01:00Z",
                "data": {"command": "pytest -v", "exitCode": 1, "stdout": output},
            }
        ],
    )
    prefetch.prefetch(org_a, sid)
    chunk = as_carol.get(f"/sessions/{sid}/timeline/").content.decode()
    assert "1 failed, 5999 passed" in chunk and "test_case_3000 " not in chunk
    assert "1 failed test" in chunk and "<code>tests/test_api.py::test_timeout</code>" in chunk
    assert '<span class="ansi-fg1">FAILED</span>' in chunk and "\x1b" not in chunk
    assert "(6004 lines)" in chunk and "lines not shown" in chunk
    assert active_content(chunk) == []
    full = as_carol.get(f"/sessions/{sid}/events/evt-pytest/").content.decode()
    assert "test_case_3000 " in full and "lines not shown" not in full
