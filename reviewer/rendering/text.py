"""Long plain-text fields: their head for display, knowing the size of the whole."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_CHARS = 2_000
TEXT_PREVIEW_LINES = 60


class CutText(str):
    """A long field as stored for display: its head only, knowing the size of the whole."""

    total_lines: int
    total_chars: int

    def __new__(cls, head: str, total_lines: int, total_chars: int) -> CutText:
        text = super().__new__(cls, head)
        text.total_lines = total_lines
        text.total_chars = total_chars
        return text


def full_length(text: str) -> int:
    return getattr(text, "total_chars", len(text))


@dataclass(frozen=True)
class Preview:
    text: str
    total_lines: int
    total_chars: int
    truncated: bool


def preview(text: str, max_lines: int | None = TEXT_PREVIEW_LINES) -> Preview:
    """The first lines of a long text, each line cut at MAX_LINE_CHARS (None: everything)."""
    lines = text.splitlines()
    total_lines = getattr(text, "total_lines", len(lines))
    total_chars = full_length(text)
    if max_lines is None:
        return Preview(
            text=text,
            total_lines=total_lines,
            total_chars=total_chars,
            truncated=isinstance(text, CutText),
        )
    head = lines[:max_lines]
    cut_any = any(len(line) > MAX_LINE_CHARS for line in head)
    shown = "\n".join(
        line[:MAX_LINE_CHARS] + ("…" if len(line) > MAX_LINE_CHARS else "") for line in head
    )
    return Preview(
        text=shown,
        total_lines=total_lines,
        total_chars=total_chars,
        truncated=total_lines > max_lines or cut_any or isinstance(text, CutText),
    )


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def visible_controls(text: str) -> str:
    """Show bidirectional-override characters instead of letting them reorder the page."""
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
