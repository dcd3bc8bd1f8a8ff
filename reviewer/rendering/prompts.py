"""Prompts: what a person typed, shown the way a chat shows it.

A prompt is not a document. Pasted diffs, stack traces, CSS and man pages must keep their
line breaks, and a `#` or `-` at the start of a line is just a character. So a prompt is
plain text with its line breaks kept (the template's container wraps with `pre-wrap`), plus
the two things people do mean when they type them in a chat:
- fenced blocks (```lang) are code, highlighted like the responses' code;
- `inline code` is code.
A pasted diff or Python traceback without a fence is shown as a code block too, so its
columns line up as they did where it was copied from.
Everything is escaped here; the result still goes through the one sanitizer.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.utils.html import escape
from django.utils.safestring import SafeString

from reviewer.rendering.markdown import CACHED_CHARS, MAX_MARKDOWN_CHARS, clean, code_block

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\n]*)$")
_DIFF_START = re.compile(r"^(diff --git |--- \S|@@ -\d)")
_DIFF_LINE = re.compile(
    r"^([ +\-\\]|@@ |diff |index |new file mode|deleted file mode|similarity index|"
    r"rename (from|to) |copy (from|to) |old mode|new mode|Binary files )"
)
_TRACEBACK_START = "Traceback (most recent call last):"


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and stripped.startswith(fence[0] * len(fence))
        and set(stripped) == {fence[0]}
    )


def _diff_end(lines: list[str], start: int) -> int:
    """Where a pasted diff starting at `start` ends (exclusive); `start` if it is none."""
    if lines[start].startswith("--- ") and not (
        start + 1 < len(lines) and lines[start + 1].startswith("+++ ")
    ):
        return start
    end = start + 1
    while end < len(lines) and (
        _DIFF_LINE.match(lines[end])
        or (lines[end] == "" and end + 1 < len(lines) and _DIFF_LINE.match(lines[end + 1]))
    ):
        end += 1
    return end if end - start >= 3 else start


def _traceback_end(lines: list[str], start: int) -> int:
    """A Python traceback: its header, the indented frames, then the exception line."""
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "\t"):
        end += 1
    if end < len(lines) and lines[end].strip():
        end += 1  # the exception itself: "ValueError: ..."
    return end


def _segments(text: str) -> list[tuple[str, str, str]]:
    """The prompt as (kind, language, text) parts: "text" or "code", in order."""
    lines = text.split("\n")
    parts: list[tuple[str, str, str]] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            parts.append(("text", "", "\n".join(plain)))
            plain.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker, info = fence.group(1), fence.group(2).strip()
            end = i + 1
            while end < len(lines) and not _closes(lines[end], marker):
                end += 1
            flush()
            language = info.split(maxsplit=1)[0] if info else ""
            parts.append(("code", language, "\n".join(lines[i + 1 : end]) + "\n"))
            i = end + 1
            continue
        end = i
        if line.startswith(_TRACEBACK_START):
            end, language = _traceback_end(lines, i), "pytb"
        elif _DIFF_START.match(line):
            end, language = _diff_end(lines, i), "diff"
        if end > i:
            flush()
            parts.append(("code", language, "\n".join(lines[i:end]) + "\n"))
            i = end
            continue
        plain.append(line)
        i += 1
    flush()
    return parts


_TICKS = re.compile(r"`+")


def _inline(line: str) -> str:
    """One line of typed text, escaped, with `code` spans (pairs of equal backtick runs)."""
    runs = [(m.start(), m.end()) for m in _TICKS.finditer(line)]
    if len(runs) < 2:
        return escape(line)
    # The next run of the same length after each run, found right to left: linear time.
    following: list[int | None] = [None] * len(runs)
    seen: dict[int, int] = {}
    for k in range(len(runs) - 1, -1, -1):
        size = runs[k][1] - runs[k][0]
        following[k] = seen.get(size)
        seen[size] = k
    out: list[str] = []
    pos = k = 0
    while k < len(runs):
        close = following[k]
        if close is None:
            k += 1
            continue
        start, inner = runs[k][0], line[runs[k][1] : runs[close][0]]
        out.append(escape(line[pos:start]))
        out.append(f"<code>{escape(inner)}</code>")
        pos = runs[close][1]
        k = close + 1
    out.append(escape(line[pos:]))
    return "".join(out)


def prompt_html(text: str, limit: int = MAX_MARKDOWN_CHARS) -> SafeString:
    """A prompt as a chat shows it: line breaks kept, fenced and pasted code as code blocks."""
    if len(text) > limit:
        text = text[:limit] + "\n…"
    html: list[str] = []
    for kind, language, part in _segments(text.replace("\r\n", "\n")):
        if kind == "code":
            html.append(code_block(part, language or "text").rstrip("\n"))
        else:
            html.append("\n".join(_inline(line) for line in part.split("\n")))
    # No separator: in a pre-wrap container a newline next to a block would show as a blank line.
    return clean("".join(html))


_cached_prompt = lru_cache(maxsize=512)(prompt_html)


def render_prompt(text: str, limit: int = MAX_MARKDOWN_CHARS) -> SafeString:
    """`prompt_html`, memoized per process for texts of ordinary size."""
    return (_cached_prompt if len(text) <= CACHED_CHARS else prompt_html)(text, limit)
