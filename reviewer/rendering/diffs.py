"""Unified diffs as the timeline shows them: numbered, typed rows (read by `reviewer.diffs`),
long lines cut, header rows in words, and the table rows built here for speed."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

from reviewer import diffs
from reviewer.diffs import DiffLine, FileHeader
from reviewer.rendering.text import MAX_LINE_CHARS, count_lines, visible_controls

DIFF_PREVIEW_LINES = 400


@dataclass
class ParsedDiff:
    lines: list[DiffLine]  # the rows to show (up to the limit asked for)
    files: list[FileHeader]
    added: int
    removed: int
    total: int  # the diff's lines (of the whole, when only its head is stored)
    truncated: bool = False  # rows past the limit, or a diff stored only in part

    @property
    def any_cut(self) -> bool:
        return any(line.cut for line in self.lines)


def parse_diff(
    diff: str,
    limit: int | None = DIFF_PREVIEW_LINES,
    *,
    cut_lines: bool = True,
    start: int = 0,
    counts: bool = True,
) -> ParsedDiff:
    """Rows `start` to `start + limit` of a diff (all with `limit=None`), counts of the whole
    (unless `counts` is false: then reading stops after the rows asked for).

    A diff of a single file whose header holds only its path gets no header row: the path is
    shown above the diff already.
    """
    rows: list[DiffLine] = []
    files: list[FileHeader] = []
    added = removed = 0
    more = False
    end = None if limit is None else start + limit
    for k, (row, header) in enumerate(diffs.rows(visible_controls(diff))):
        if header is not None:
            files.append(header)
        if row.css == "add":
            added += 1
        elif row.css == "del":
            removed += 1
        if end is not None and k >= end:
            more = True
            if not counts:
                break  # one page of a huge diff: what follows it need not be read
        if k < start or (end is not None and k >= end):
            continue
        if cut_lines and len(row.text) > MAX_LINE_CHARS:
            row = DiffLine(row.css, row.old, row.new, row.text[:MAX_LINE_CHARS], True)
        rows.append(row)
    if len(files) == 1 and files[0].is_plain:
        rows = [row for row in rows if row.css != "file"]
    return ParsedDiff(
        lines=rows,
        files=files,
        added=added,
        removed=removed,
        total=getattr(diff, "total_lines", count_lines(diff)),
        truncated=more or hasattr(diff, "total_lines"),
    )


def diff_lines(
    diff: str, limit: int | None = DIFF_PREVIEW_LINES, *, cut_lines: bool = True
) -> tuple[list[DiffLine], int]:
    """Split a unified diff into numbered lines; return (lines shown, total line count)."""
    parsed = parse_diff(diff, limit, cut_lines=cut_lines)
    return parsed.lines, parsed.total


def diff_counts(diff: str) -> tuple[int, int]:
    """(added, removed) lines of a diff, from the parse: a `---` content line counts."""
    return diffs.counts(diff)


def rows_html(lines: list[DiffLine]) -> SafeString:
    """A diff's table rows, built here: a template loop is too slow for a 20,000-line diff."""
    out = []
    for line in lines:
        old = "" if line.old is None else line.old
        new = "" if line.new is None else line.new
        cut = '<span class="cut"> … line cut</span>' if line.cut else ""
        if line.css == "file":
            out.append(
                f'<tr class="file"><td colspan="3">{escape(line.text, quote=False)}</td></tr>'
            )
            continue
        out.append(
            f'<tr class="{line.css}"><td class="n">{old}</td><td class="n">{new}</td>'
            f"<td>{escape(line.text, quote=False)}{cut}</td></tr>"
        )
    return mark_safe("\n".join(out))  # noqa: S308 - every text escaped just above
