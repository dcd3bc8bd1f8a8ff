"""Turning candidate-written content into safe, readable HTML.

Markdown (prompts, AI responses) is rendered and then sanitized with nh3, so whatever a
candidate typed can only ever produce a small allow-list of tags; code blocks are highlighted
by Pygments with CSS classes. Diffs are split into typed lines for the template, which
escapes them. Long payloads are cut here, with the full text available on demand.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import markdown as md
import nh3
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from pygments.token import STANDARD_TYPES

from reviewer import text
from reviewer.upstream import Failure

MAX_MARKDOWN_CHARS = 20_000
# Python-Markdown's link parsing is quadratic in the number of '['; past this many, a
# candidate's text is shown verbatim rather than letting it stall every page that shows it.
MAX_MARKDOWN_BRACKETS = 400
MAX_LINE_CHARS = 2_000
DIFF_PREVIEW_LINES = 400
TEXT_PREVIEW_LINES = 60

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "pre",
    "code",
    "span",
    "div",
    "blockquote",
    "em",
    "strong",
    "del",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "sup",
    "sub",
    "kbd",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
}
# Only the classes our highlighter emits: candidate text cannot borrow the app's own classes
# (a fenced block tagged {.notice-error} would otherwise look like one of our alerts).
_ALLOWED_CLASSES = {
    "div": {"hl"},
    "span": {c for c in STANDARD_TYPES.values() if c},
}


_local = threading.local()


def _markdown() -> md.Markdown:
    """This thread's converter: a Markdown instance keeps state and must not be shared."""
    converter = getattr(_local, "markdown", None)
    if converter is None:
        converter = _local.markdown = _new_markdown()
    return converter


def _new_markdown() -> md.Markdown:
    converter = md.Markdown(
        extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
        extension_configs={
            "codehilite": {"css_class": "hl", "guess_lang": False, "use_pygments": True}
        },
        output_format="html",
    )
    # Raw HTML in a prompt is something the candidate typed: show it as text, never as markup.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter


@lru_cache(maxsize=512)
def render_markdown(text: str) -> SafeString:
    """Markdown to sanitized HTML; raw HTML in the source comes out as visible text.

    Memoized per process: the same prompt is rendered on every view of its chunk.
    """
    if len(text) > MAX_MARKDOWN_CHARS:
        text = text[:MAX_MARKDOWN_CHARS] + "\n\n…"
    if text.count("[") > MAX_MARKDOWN_BRACKETS:
        return format_html('<pre class="plain">{}</pre>', text)
    converter = _markdown()
    try:
        html = converter.reset().convert(text)
    except Exception:  # a pathological input must not break the page
        html = "<pre>" + escape(text) + "</pre>"
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above


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


# --- timeline events as the templates see them ------------------------------------------------

CUT_KEY = "_reviewer_cut"  # in a display copy: {field: [total lines, total characters]}
KIND_TEMPLATES = {
    kind: f"sessions/events/{kind}.html"
    for kind in (
        "prompt",
        "ai_response",
        "file_diff",
        "file_create",
        "file_delete",
        "command",
        "test_run",
        "build_run",
        "git_action",
        "decision_event",
        "session_start",
        "session_end",
        "checkpoint",
        "tool_use",
        "tool_result",
        "mcp_call",
        "planning",
    )
}
KIND_TEMPLATES["tool_call"] = KIND_TEMPLATES["tool_result"]  # the documented legacy alias
UNKNOWN_TEMPLATE = "sessions/events/unknown.html"
KIND_LABELS = {
    "prompt": "Prompt",
    "ai_response": "AI response",
    "file_diff": "File change",
    "file_create": "File created",
    "file_delete": "File deleted",
    "command": "Command",
    "test_run": "Test run",
    "build_run": "Build",
    "git_action": "Git",
    "decision_event": "Decision",
    "session_start": "Session start",
    "session_end": "Session end",
    "checkpoint": "Checkpoint",
}
ATTRIBUTION_LABELS = {
    "likely_ai": "Likely AI",
    "ai_revised_by_human": "AI, revised by human",
    "likely_human": "Likely human",
    "mixed": "Mixed",
    "system_generated": "System",
    "unknown": "Unknown",
}


@dataclass
class EventView:
    id: str
    seq: int
    key: str  # unique within the session: the id, or `<id>~N` for a later record of that id
    variant: int  # 0, or N-1 for the Nth record upstream sent under the same id
    failure: str  # an upstream.Failure value
    kind: str
    label: str
    template: str
    ts: datetime | None
    offset: timedelta | None
    data: dict[str, Any]
    attribution: str
    attribution_label: str
    confidence: float | None
    observability: str
    failed: bool
    lines_added: int
    lines_removed: int
    raw: dict[str, Any]
    url: str = ""  # this event on its own ("show all"), under the page's base
    marker: bool = False  # session start/end and checkpoints: a thin line, not a card
    badge: str = ""
    badge_title: str = ""
    time_iso: str = ""
    time_title: str = ""
    time_label: str = ""
    time_raw: str = ""  # a timestamp as sent, when it could not be read
    cut: bool = False  # some field is shown only in part (a "show all" link is offered)

    @property
    def failure_label(self) -> str:
        return Failure.LABELS.get(self.failure, "failed")


def _display_source(row: Any) -> tuple[str, bool]:
    """(JSON to render, whether it is a cut display copy), touching no deferred column."""
    display = getattr(row, "display", None)  # annotated by StoredEvent.objects.for_display()
    if display is not None:
        return display, bool(row.display_is_copy)
    return (row.preview, True) if row.preview else (row.raw, False)


_MARKERS = {"session_start", "session_end", "checkpoint"}


def _badge(attribution_label: str, confidence: float | None, observability: str) -> tuple[str, str]:
    """The attribution badge's text and its longer title."""
    confidence_text = f"{round(confidence * 100)}%" if confidence is not None else ""
    label = attribution_label
    title = f"Attribution {attribution_label}"
    if confidence_text:
        label += f" · {confidence_text}"
        title += f", confidence {confidence_text}"
    if observability != "unknown":
        label += f" · {observability} obs."
    title += f", observability {observability}"
    return label, title


def duration(value: timedelta | None) -> str:
    """A span as 1h 04m, 12m 30s or 45s ("" for None)."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds < 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def offset_label(value: timedelta | None) -> str:
    """Time since the session's start as +H:MM:SS."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}"


def present(
    events: Iterable[Any], start: datetime | None, *, full: bool = False, base: str = ""
) -> list[EventView]:
    """StoredEvent rows to EventViews; the template is chosen here from a known set.

    Unless `full`, an event's display copy is read (huge fields cut to their head), so one
    20,000-line diff costs a chunk no more than a short one.
    """
    out = []
    for row in events:
        source, is_copy = (row.raw, False) if full else _display_source(row)
        try:
            raw = json.loads(source)
        except ValueError:
            raw = {}
        if text.has_lone_surrogate_escape(source):
            raw = text.clean_tree(raw)  # a lone surrogate cannot be sent to a browser
        data = raw.get("data") if isinstance(raw, dict) else None
        cut = raw.pop(CUT_KEY, None) if is_copy and isinstance(raw, dict) else None
        if isinstance(cut, dict) and isinstance(data, dict):
            for name, (lines, chars) in cut.items():
                if isinstance(data.get(name), str):
                    data[name] = CutText(data[name], lines, chars)
        attribution_label = ATTRIBUTION_LABELS.get(row.attribution, row.attribution)
        badge, badge_title = _badge(attribution_label, row.confidence, row.observability)
        offset = (row.ts - start) if (row.ts and start) else None
        ts = row.ts
        key = row.key
        sent_ts = raw.get("ts") if isinstance(raw, dict) else None
        out.append(
            EventView(
                key=key,
                variant=row.variant,
                failure=row.failure,
                time_raw=sent_ts if isinstance(sent_ts, str) and not ts else "",
                url=f"{base}events/{quote(key, safe='')}/",
                cut=bool(cut),
                marker=row.kind in _MARKERS,
                badge=badge,
                badge_title=badge_title,
                time_iso=ts.isoformat() if ts else "",
                time_title=f"{ts:%Y-%m-%d %H:%M:%S} UTC" if ts else "",
                time_label=f"{offset_label(offset)} · {ts:%H:%M:%S}".lstrip(" ·") if ts else "",
                id=row.event_id,
                seq=row.seq,
                kind=row.kind,
                label=KIND_LABELS.get(row.kind, row.kind.replace("_", " ").capitalize()),
                template=KIND_TEMPLATES.get(row.kind, UNKNOWN_TEMPLATE),
                ts=row.ts,
                offset=offset,
                data=data if isinstance(data, dict) else {},
                attribution=row.attribution,
                attribution_label=attribution_label,
                confidence=row.confidence,
                observability=row.observability,
                failed=row.failed,
                lines_added=row.lines_added,
                lines_removed=row.lines_removed,
                raw=raw if isinstance(raw, dict) else {},
            )
        )
    return out
