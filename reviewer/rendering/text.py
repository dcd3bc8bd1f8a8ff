"""Long plain-text fields: what of them a preview shows, knowing the size of the whole.

Lines are split on "\\n" only: a carriage return is not a line break (progress output
rewrites a line with it), nor are form feeds or Unicode separators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_CHARS = 2_000
TEXT_PREVIEW_LINES = 60
# A long output's preview: its head, and its tail, where a test runner prints its verdict.
HEAD_LINES = 20
TAIL_LINES = 40
# What a display copy keeps of a long field's end, besides its head.
DISPLAY_TAIL_LINES = 60
DISPLAY_TAIL_CHARS = 8_000


class CutText(str):
    """A long field as stored for display: its head (and tail), knowing the size of the whole."""

    total_lines: int
    total_chars: int
    tail: str

    def __new__(cls, head: str, total_lines: int, total_chars: int, tail: str = "") -> CutText:
        text = super().__new__(cls, head)
        text.total_lines = total_lines
        text.total_chars = total_chars
        text.tail = tail
        return text


def full_length(text: str) -> int:
    return getattr(text, "total_chars", len(text))


def split_lines(text: str) -> list[str]:
    """The lines of `text`, split on "\\n" only; a final newline ends a line, it adds none."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def count_lines(text: str) -> int:
    return text.count("\n") + (0 if not text or text.endswith("\n") else 1)


def cut_field(value: str, max_lines: int, max_chars: int) -> tuple[str, list[int | str]]:
    """A long field's head for a display copy, and what is known of the rest.

    Returns (head, [total lines, total characters, tail]): the tail is the field's last lines,
    so a preview can show where an output ended without reading the whole event.
    """
    lines = split_lines(value)
    head = "\n".join(lines[:max_lines])[:max_chars]
    tail_lines = lines[max(max_lines, len(lines) - DISPLAY_TAIL_LINES) :]
    tail = "\n".join(tail_lines)
    if len(tail) > DISPLAY_TAIL_CHARS:
        tail = tail[-DISPLAY_TAIL_CHARS:]
        tail = tail[tail.find("\n") + 1 :] if "\n" in tail else tail
    return head, [len(lines), len(value), tail]


def with_cut(value: str, cut: list[object]) -> CutText:
    """A display copy's field back as CutText (copies made before tails were kept have none)."""
    lines, chars = int(cut[0]), int(cut[1])  # type: ignore[call-overload]
    tail = cut[2] if len(cut) > 2 and isinstance(cut[2], str) else ""
    return CutText(value, lines, chars, tail)


@dataclass(frozen=True)
class Preview:
    text: str  # the head
    total_lines: int
    total_chars: int
    truncated: bool
    tail: str = ""
    hidden_lines: int = 0  # lines between the head and the tail that are not shown


def _cut_line(line: str) -> tuple[str, bool]:
    if len(line) > MAX_LINE_CHARS:
        return line[:MAX_LINE_CHARS] + "…", True
    return line, False


def _join(lines: list[str]) -> tuple[str, bool]:
    cut = [_cut_line(line) for line in lines]
    return "\n".join(text for text, _ in cut), any(was_cut for _, was_cut in cut)


def preview(
    text: str, max_lines: int | None = TEXT_PREVIEW_LINES, *, tail_lines: int = 0
) -> Preview:
    """The first `max_lines` lines of a text (and its last `tail_lines`), each line cut at
    MAX_LINE_CHARS; `max_lines=None` keeps everything."""
    total_chars = full_length(text)
    if max_lines is None:
        return Preview(
            text=text,
            total_lines=getattr(text, "total_lines", count_lines(text)),
            total_chars=total_chars,
            truncated=isinstance(text, CutText),
        )
    lines = split_lines(text)
    total_lines = getattr(text, "total_lines", len(lines))
    if isinstance(text, CutText):
        head_lines = lines[:max_lines]
        tail_source = split_lines(text.tail) if tail_lines else []
        tail_part = tail_source[-tail_lines:] if tail_lines else []
    elif len(lines) > max_lines + tail_lines:
        head_lines, tail_part = lines[:max_lines], (lines[-tail_lines:] if tail_lines else [])
    else:
        head_lines, tail_part = lines, []
    head, head_cut = _join(head_lines)
    tail, tail_cut = _join(tail_part)
    hidden = max(0, total_lines - len(head_lines) - len(tail_part))
    return Preview(
        text=head,
        total_lines=total_lines,
        total_chars=total_chars,
        truncated=bool(hidden) or head_cut or tail_cut or isinstance(text, CutText),
        tail=tail,
        hidden_lines=hidden,
    )


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def visible_controls(text: str) -> str:
    """Show bidirectional-override characters instead of letting them reorder the page."""
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
