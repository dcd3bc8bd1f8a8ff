"""Whatever a candidate's session holds, rendering it never raises and never makes markup
that could run, call out, or borrow the app's classes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from reviewer.rendering.diffs import parse_diff, rows_html
from reviewer.rendering.fields import tool_input
from reviewer.rendering.markdown import markdown_html
from reviewer.rendering.prompts import prompt_html
from reviewer.rendering.terminal import terminal_lines, terminal_preview
from tests.conftest import active_content

MARKUP = st.lists(
    st.sampled_from(
        list("ab \n\t*_~`#>-+|[]()!<>&;:/.\\=\"'@1x")
        + [
            "javascript:",
            "http://",
            "www.",
            "<img src=x onerror=alert(1)>",
            "```",
            "- [ ] ",
            "<script>",
            "{.notice-error}",
            "style=",
            "\u202e",
            "&#x3C;",
            "mailto:",
            "data:",
        ]
    ),
    max_size=120,
).map("".join)
TERMINAL = st.lists(
    st.sampled_from(
        list("ab \n\r\x08\t;[]m0123456789<>&\"'")
        + ["\x1b", "\x1b[", "\x1b]", "\x07", "\x9b", "\x00"]
    ),
    max_size=200,
).map("".join)
DIFF = st.lists(
    st.sampled_from(
        [
            "@@ -1,3 +1,2 @@",
            "@@ -x @@",
            "--- a/f",
            "+++ b/f",
            "diff --git a/f b/g",
            "-a",
            "+b",
            " c",
            "",
            "\\ No newline at end of file",
            "rename from f",
            "rename to g",
            "Binary files a/f and b/f differ",
            "old mode 100644",
            "new mode 100755",
            "<b>x</b>",
        ]
    ),
    max_size=40,
).map("\n".join)
_CLASSES = re.compile(r'class="([^"]*)"')
_OURS = re.compile(
    r"^(hl|md-ref|md-image|md-target|contains-task-list|task-list-item(-checkbox)?|[a-z]{1,3}[0-9]?|cut)$"
)


def _safe(html: str) -> None:
    assert active_content(html) == []
    assert not re.search(r"<(img|script|style|iframe)\b|<[^>]*\s(style|src|on\w+)=", html)
    for classes in _CLASSES.findall(html):
        assert all(_OURS.match(c) for c in classes.split()), classes


@settings(max_examples=300, deadline=None)
@given(MARKUP)
def test_any_markdown_renders_safely(text: str) -> None:
    _safe(markdown_html(text))


@settings(max_examples=300, deadline=None)
@given(MARKUP)
def test_any_prompt_renders_safely(text: str) -> None:
    _safe(prompt_html(text))


@settings(max_examples=300, deadline=None)
@given(TERMINAL)
def test_any_terminal_output_renders_safely(text: str) -> None:
    lines = terminal_lines(text)
    html = "\n".join(lines)
    assert "\x1b" not in html and "\r" not in html and "\x08" not in html and "\x9b" not in html
    assert active_content(html) == []
    assert all(re.fullmatch(r"(ansi-[a-z]+\d*( |$))+", c + " ") for c in _CLASSES.findall(html))
    terminal_preview(text)


@settings(max_examples=300, deadline=None)
@given(DIFF)
def test_any_diff_parses_and_renders_safely(diff: str) -> None:
    parsed = parse_diff(diff, None)
    assert parsed.added >= 0 and parsed.removed >= 0
    assert active_content(rows_html(parsed.lines)) == []
    assert "<b>" not in rows_html(parsed.lines)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_tool_input_decodes_without_raising(text: str) -> None:
    assert isinstance(tool_input(text), str)
