"""One event in full, when a field of it is too large for one page.

"Show all" shows a whole field up to PAGE_OVER_CHARS characters and PAGE_OVER_LINES lines
(RICH_OVER_CHARS for the markdown of a response or prompt, slower to render). A larger one
(a 50 MB log) is shown a window of PAGE_LINES lines at a time, with previous and next
links, and can be downloaded whole as text: the page stays small whatever the field's size,
and nothing of it is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from reviewer.rendering.text import MAX_LINE_CHARS, count_lines

PAGE_OVER_CHARS = 1_000_000
PAGE_OVER_LINES = 25_000
RICH_OVER_CHARS = 200_000
RICH_FIELDS = {
    "prompt": ("text", "prompt"),
    "ai_response": ("lastAssistantMessage", "text", "message", "content"),
}
PAGE_LINES = 2_000
DOWNLOAD_CHUNK_CHARS = 64 * 1024


@dataclass(frozen=True)
class FieldPage:
    """Which window of a long field an event view shows, and the links around it."""

    field: str
    number: int
    pages: int
    first_line: int  # 1-based, inclusive
    last_line: int
    total_lines: int
    total_chars: int
    event_url: str

    def _url(self, number: int) -> str:
        return f"{self.event_url}?field={quote(self.field)}&page={number}"

    @property
    def prev_url(self) -> str:
        return self._url(self.number - 1) if self.number > 1 else ""

    @property
    def next_url(self) -> str:
        return self._url(self.number + 1) if self.number < self.pages else ""

    @property
    def download_url(self) -> str:
        return f"{self.event_url}?download={quote(self.field)}"

    @property
    def start_row(self) -> int:
        return (self.number - 1) * PAGE_LINES


def needs_paging(value: str, over_chars: int = PAGE_OVER_CHARS) -> bool:
    return len(value) > over_chars or value.count("\n", 0, over_chars) > PAGE_OVER_LINES


def _line_offset(value: str, line: int, pos: int = 0) -> int:
    """Where the line `line` lines after position `pos` starts (len(value) past the end)."""
    for _ in range(line):
        found = value.find("\n", pos)
        if found < 0:
            return len(value)
        pos = found + 1
    return pos


def _window(value: str, number: int) -> str:
    start = _line_offset(value, (number - 1) * PAGE_LINES)
    end = _line_offset(value, PAGE_LINES, start)
    lines = value[start:end].split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "\n".join(
        line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " … (line cut)"
        for line in lines
    )


def _number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 9 else 1


def page_fields(
    data: dict[str, object], event_url: str, field: str = "", page: str = "", *, kind: str = ""
) -> dict[str, FieldPage]:
    """Cut each too-large string field of `data` to one window (in place); return the pages.

    The asked-for `field` is shown at `page`; the others at their first page. A diff stays
    whole (its window is read from the whole parse, so line numbers stay right).
    """
    pages: dict[str, FieldPage] = {}
    rich = RICH_FIELDS.get(kind, ())
    for name, value in list(data.items()):
        over = RICH_OVER_CHARS if name in rich else PAGE_OVER_CHARS
        if not isinstance(value, str) or not needs_paging(value, over):
            continue
        total = count_lines(value)
        count = max(1, -(-total // PAGE_LINES))
        number = min(_number(page) if name == field else 1, count)
        pages[name] = FieldPage(
            field=name,
            number=number,
            pages=count,
            first_line=(number - 1) * PAGE_LINES + 1,
            last_line=min(total, number * PAGE_LINES),
            total_lines=total,
            total_chars=len(value),
            event_url=event_url,
        )
        if name != "diff":
            data[name] = _window(value, number)
    return pages


def stream_text(value: str) -> Iterator[bytes]:
    """A field as UTF-8 chunks, for a download that never builds the whole body at once."""
    for start in range(0, len(value), DOWNLOAD_CHUNK_CHARS):
        yield value[start : start + DOWNLOAD_CHUNK_CHARS].encode()
