"""Stored timeline events as the templates see them: label, badge, times, data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from reviewer.rendering.failures import MAX_NAMES, failed_from_data
from reviewer.rendering.terminal import output_failures
from reviewer.rendering.text import with_cut

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
    cut: bool = False  # some field is shown only in part (a "show all" link is offered)


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
        data = raw.get("data") if isinstance(raw, dict) else None
        cut = raw.pop(CUT_KEY, None) if is_copy and isinstance(raw, dict) else None
        if isinstance(cut, dict) and isinstance(data, dict):
            for name, meta in cut.items():
                if isinstance(data.get(name), str) and isinstance(meta, list) and len(meta) >= 2:
                    data[name] = with_cut(data[name], meta)
        attribution_label = ATTRIBUTION_LABELS.get(row.attribution, row.attribution)
        badge, badge_title = _badge(attribution_label, row.confidence, row.observability)
        offset = (row.ts - start) if (row.ts and start) else None
        ts = row.ts
        out.append(
            EventView(
                url=f"{base}events/{quote(row.event_id, safe='')}/",
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


OUTPUT_FIELDS = ("stdout", "stderr", "output", "log")


def event_failures(event: EventView) -> list[str]:
    """The failing tests an event names: a test run's own list, then its runner's output."""
    names = dict.fromkeys(failed_from_data(event.data) if event.kind == "test_run" else [])
    for field in OUTPUT_FIELDS:
        value = event.data.get(field)
        if isinstance(value, str) and value:
            names.update(dict.fromkeys(output_failures(value)))
    return list(names)[:MAX_NAMES]
