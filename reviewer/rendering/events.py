"""Stored timeline events as the templates see them: label, badge, times, data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.utils import timezone

from reviewer import text
from reviewer.rendering.failures import MAX_NAMES, failed_from_data
from reviewer.rendering.pages import FieldPage
from reviewer.rendering.terminal import output_failures
from reviewer.rendering.text import with_cut
from reviewer.upstream import Failure

CUT_KEY = "_reviewer_cut"  # in a display copy: {field: [total lines, total characters]}
# The canonical kinds of the timeline docs and those ingest accepts (REFERENCE §4.1).
CANONICAL_KINDS = (
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
)
# Kinds with a template of their own: the canonical ones and the agent tools' kinds.
KIND_TEMPLATES = {
    kind: f"sessions/events/{kind}.html"
    for kind in (*CANONICAL_KINDS, "tool_use", "tool_result", "mcp_call", "planning")
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
    # accepted at ingest, emitted by the CLI, or derived (REFERENCE §4.1)
    "tool_use": "Tool use",
    "tool_result": "Tool result",
    "tool_call": "Tool result",
    "tool_intent": "Tool intent",
    "mcp_call": "MCP call",
    "planning": "Planning",
    "planning_read": "Plan read",
    "plan_decision": "Plan decision",
    "subagent_start": "Subagent start",
    "subagent_stop": "Subagent stop",
    "task_dispatch": "Task dispatch",
    "context_compact": "Context compaction",
    "file_read": "File read",
    "file_search": "File search",
    "dir_list": "Directory listing",
    "web_lookup": "Web lookup",
    "thinking_pause": "Thinking pause",
    "error_cascade_recovery": "Error cascade recovery",
    "test_failure_pivot": "Test failure pivot",
    "unknown": "Unknown",
}


def kind_label(kind: str) -> str:
    """A kind's human label; a kind nobody has named yet is title-cased ("foo_bar": "Foo Bar")."""
    if kind in KIND_LABELS:
        return KIND_LABELS[kind]
    words = re.split(r"[_\-\s.]+", kind.strip())
    return " ".join(word[:1].upper() + word[1:] for word in words if word) or "Unknown"


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
    pages: dict[str, FieldPage] = field(default_factory=dict)  # windows of too-large fields
    idle_before: timedelta | None = None  # a pause longer than a few minutes before it
    compact: bool = False  # shown as one line (tool calls, reads, plan updates in a turn)
    plan: list[Any] | None = None  # a plan update: what changed since the previous plan

    @property
    def failure_label(self) -> str:
        return Failure.LABELS.get(self.failure, "failed")

    @property
    def kind_class(self) -> str:
        """The kind as a CSS class: only known kinds, so a kind cannot borrow the app's
        classes (`failed`, `notice-error` …)."""
        return self.kind if self.kind in KIND_LABELS else "other"


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
        label += f" · {observability} observability"
    title += f", observability {observability}"
    return label, title


def date_label(value: datetime, now: datetime | None = None) -> str:
    """A date and time for lists: "Nov 5, 14:03", with the year when it is not this year's."""
    value = timezone.localtime(value) if timezone.is_aware(value) else value
    now = now or timezone.localtime()
    year = f" {value.year}" if value.year != now.year else ""
    return f"{value:%b} {value.day}{year}, {value:%H:%M}"


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
            for name, meta in cut.items():
                if isinstance(data.get(name), str) and isinstance(meta, list) and len(meta) >= 2:
                    data[name] = with_cut(data[name], meta)
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
                label=kind_label(row.kind),
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
    for name in OUTPUT_FIELDS:
        value = event.data.get(name)
        if isinstance(value, str) and value:
            names.update(dict.fromkeys(output_failures(value)))
    return list(names)[:MAX_NAMES]
