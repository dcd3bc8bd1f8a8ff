"""Unified diffs split into typed, numbered lines for the template (which escapes them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reviewer.rendering.text import MAX_LINE_CHARS

DIFF_PREVIEW_LINES = 400


@dataclass(frozen=True)
class DiffLine:
    css: str  # "add", "del", "hunk", "meta", "ctx"
    old: int | None
    new: int | None
    text: str
    cut: bool = False


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_lines(
    diff: str, limit: int | None = DIFF_PREVIEW_LINES, *, cut_lines: bool = True
) -> tuple[list[DiffLine], int]:
    """Split a unified diff into numbered lines; return (lines shown, total line count)."""
    lines = diff.splitlines()
    total = getattr(diff, "total_lines", len(lines))
    shown = lines if limit is None else lines[:limit]
    out: list[DiffLine] = []
    old = new = 0
    for raw in shown:
        text, cut = raw, False
        if cut_lines and len(text) > MAX_LINE_CHARS:
            text, cut = text[:MAX_LINE_CHARS], True
        if raw.startswith("@@"):
            match = _HUNK.match(raw)
            if match:
                old, new = int(match.group(1)), int(match.group(2))
            out.append(DiffLine("hunk", None, None, text, cut))
        elif raw.startswith(("+++", "---", "diff ", "index ")):
            out.append(DiffLine("meta", None, None, text, cut))
        elif raw.startswith("+"):
            out.append(DiffLine("add", None, new, text, cut))
            new += 1
        elif raw.startswith("-"):
            out.append(DiffLine("del", old, None, text, cut))
            old += 1
        else:
            out.append(DiffLine("ctx", old, new, text, cut))
            old += 1
            new += 1
    return out, total
