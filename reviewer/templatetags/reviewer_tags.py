"""Presentation-only filters: durations, offsets, markdown, diffs, previews."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils.safestring import SafeString

from reviewer import attribution, charts, rendering, sessionmap, upstream

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """1h 04m, 12m 30s, 45s."""
    return rendering.duration(value)


@register.filter
def offset(value: timedelta | None) -> str:
    """Time since session start as +H:MM:SS."""
    return rendering.offset_label(value)


@register.filter
def ms(value: Any) -> str:
    """Milliseconds as a short human duration."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if value < 1000:
        return f"{int(value)} ms"
    return duration(timedelta(milliseconds=value)) if value >= 60_000 else f"{value / 1000:.1f} s"


@register.filter
def tool_input(value: Any) -> str:
    """A tool's input with JSON escapes decoded, as `key: value` lines for JSON objects."""
    return rendering.tool_input(value)


@register.filter
def number(value: Any) -> str:
    """An integer with thousands separators: 45,210."""
    return f"{value:,}" if is_number(value) and value == int(value) else str(value)


@register.filter
def when(value: Any) -> str:
    """A date and time, with the year when it is not this year's: "Nov 5, 14:03"."""
    return rendering.date_label(value) if isinstance(value, datetime) else ""


@register.filter
def markdown(value: Any) -> SafeString:
    """An AI response (GitHub-flavoured markdown) as sanitized HTML."""
    return rendering.render_markdown(value if isinstance(value, str) else "")


@register.filter
def markdown_full(value: Any) -> SafeString:
    """A whole AI response ("show all"): fields too large for that are paged as text."""
    return rendering.render_markdown(
        value if isinstance(value, str) else "", rendering.RICH_OVER_CHARS
    )


@register.filter
def prompt(value: Any) -> SafeString:
    """A prompt as typed: line breaks kept, fenced and pasted code as code blocks."""
    return rendering.render_prompt(value if isinstance(value, str) else "")


@register.filter
def prompt_full(value: Any) -> SafeString:
    """A whole prompt, or one page of a too-large field shown as typed text."""
    text = value if isinstance(value, str) else ""
    return rendering.render_prompt(text, len(text))


@register.filter
def pager(event: rendering.EventView, names: str) -> rendering.FieldPage | None:
    """The page shown of the first of `names` (comma-separated) that is too large for one."""
    for name in names.split(","):
        if name in event.pages:
            return event.pages[name]
    return None


@register.filter
def diff_page(value: Any, page: rendering.FieldPage) -> rendering.ParsedDiff:
    """One page of a too-large diff, numbered from the whole diff."""
    return rendering.parse_diff(
        value if isinstance(value, str) else "",
        rendering.PAGE_LINES,
        start=page.start_row,
        counts=False,
    )


@register.filter
def diff_preview(value: Any) -> rendering.ParsedDiff:
    return rendering.parse_diff(value if isinstance(value, str) else "")


@register.filter
def diff_full(value: Any) -> rendering.ParsedDiff:
    return rendering.parse_diff(value if isinstance(value, str) else "", None, cut_lines=False)


@register.filter
def diff_rows(parsed: rendering.ParsedDiff) -> SafeString:
    return rendering.rows_html(parsed.lines)


@register.filter
def text_preview(value: Any) -> rendering.Preview:
    return rendering.preview(value if isinstance(value, str) else "")


@register.filter
def text_full(value: Any) -> rendering.Preview:
    return rendering.preview(value if isinstance(value, str) else "", max_lines=None)


@register.filter
def full_length(value: Any) -> int:
    """The length of a field, also when only its head is stored for display."""
    return rendering.full_length(value) if isinstance(value, str) else 0


@register.filter
def controls(value: Any) -> str:
    """Make bidi-override characters visible (a candidate cannot reorder what reviewers read)."""
    return rendering.visible_controls(value) if isinstance(value, str) else ""


@register.filter
def pretty_json(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return rendering.preview(text, max_lines=200).text


@register.filter
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register.filter
def pct(value: Any, digits: int = 0) -> str:
    if not is_number(value):
        return "—"
    return f"{value:.{digits}f}%"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def text_of(data: Any) -> str:
    """A prompt's text is `text` in most places and `prompt` in one API example."""
    if not isinstance(data, dict):
        return ""
    for key in ("text", "prompt"):
        if isinstance(data.get(key), str):
            return data[key]
    return ""


@register.filter
def response_of(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    for key in ("lastAssistantMessage", "text", "message", "content"):
        if isinstance(data.get(key), str):
            return data[key]
    return ""


@register.filter
def lines_of(value: rendering.Preview) -> list[str]:
    return value.text.splitlines()


@register.filter
def is_list(value: Any) -> bool:
    return isinstance(value, list)


@register.filter
def terminal_preview(value: Any) -> rendering.TerminalPreview:
    """A command output's head and tail, coloured and with carriage returns applied."""
    return rendering.terminal_preview(value if isinstance(value, str) else "")


@register.filter
def terminal_full(value: Any) -> SafeString:
    return rendering.terminal_html(value if isinstance(value, str) else "")


@register.filter
def failed_tests(event: rendering.EventView) -> list[str]:
    """The failing tests an event names: a test run's own list, or its runner's output."""
    return rendering.event_failures(event)


@register.filter
def streams(event: rendering.EventView) -> list[tuple[str, str]]:
    """An event's non-empty outputs (stdout, stderr, a test run's output), as (text, label)."""
    return [
        (event.data[name], name)
        for name in rendering.OUTPUT_FIELDS
        if isinstance(event.data.get(name), str) and event.data[name]
    ]


@register.filter
def pick(data: Any, names: str) -> Any:
    """The first present, non-empty field of `data` among comma-separated `names`."""
    if not isinstance(data, dict):
        return ""
    for name in names.split(","):
        value = data.get(name.strip())
        if value not in (None, ""):
            return value
    return ""


@register.filter
def attribution_label(value: Any) -> str:
    """`likely_ai` → "Likely AI" (unknown values as they are)."""
    return rendering.ATTRIBUTION_LABELS.get(value, str(value))


_SHORT = {
    "likely_ai": "AI",
    "ai_revised_by_human": "AI+",
    "likely_human": "hand",
    "mixed": "mix",
    "system_generated": "sys",
    "unknown": "?",
}


@register.filter
def attribution_short(value: Any) -> str:
    """A few letters for a blame gutter: AI, AI+ (revised by hand), hand, mix, sys, ?."""
    return _SHORT.get(value, "?")


@register.filter
def one_line(event: rendering.EventView) -> str:
    """What a low-signal event did, in one line: a tool and its input, a path, an error."""
    data = event.data
    parts = [
        str(data[name])
        for name in ("toolName", "tool", "agentType", "subagentType")
        if isinstance(data.get(name), str) and data[name]
    ][:1]
    detail = rendering.tool_input(
        next(
            (data[n] for n in ("inputPreview", "input", "argsPreview", "toolInput") if n in data),
            "",
        )
    )
    if not detail:
        detail = next(
            (
                data[n]
                for n in ("path", "query", "url", "pattern", "summary", "description")
                if isinstance(data.get(n), str)
            ),
            "",
        )
    if detail:
        parts.append(" ".join(str(detail).split())[:160])
    if event.failed and isinstance(data.get("error"), str):
        parts.append("— " + " ".join(data["error"].split())[:120])
    return " · ".join(parts) or event.label


_PLAN_MARKS = {"added": "+", "done": "✓", "started": "▸", "removed": "−", "kept": "·"}


@register.filter
def plan_mark(change: str) -> str:
    """The mark of a plan item's change: + added, ✓ done, ▸ started, − removed."""
    return _PLAN_MARKS.get(change, "·")


@register.filter
def idle(value: timedelta | None) -> str:
    """A pause as "12 min" (or "2 h 05 min")."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    if minutes >= 120:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min"


@register.filter
def map_shapes(found: Any) -> list[sessionmap.Shape]:
    """The session map's marks as drawn (see `reviewer.sessionmap.shapes`)."""
    return sessionmap.shapes(found) if found is not None else []


# --- charts: adapters from summaries to the plain series charts draw ------------------------

ATTRIBUTION_SERIES = charts.Series(upstream.ATTRIBUTIONS, rendering.ATTRIBUTION_LABELS, "fill-")
ACTIVITY_SERIES = charts.Series(
    attribution.ACTIVITY_ORDER, attribution.ACTIVITY_LABELS, "fill-act-"
)


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


@register.filter
def shares_chart(summary: attribution.SessionSummary) -> charts.Chart:
    """Four 100% bars: events and changed lines, each raw and confidence-weighted."""
    rows = (
        ("Events", "events_pct", "events"),
        ("Events, weighted", "events_weighted_pct", "events"),
        ("Changed lines", "lines_pct", "lines"),
        ("Lines, weighted", "lines_weighted_pct", "lines"),
    )
    bars = [
        charts.Bar(
            label,
            unit,
            tuple(charts.Part(s.attribution, getattr(s, name) or 0.0) for s in summary.shares),
        )
        for label, name, unit in rows
    ]
    ai = summary.likely_ai
    desc = (
        f"Likely AI: {_pct_text(ai.events_pct)} of events ({_pct_text(ai.events_weighted_pct)} "
        f"weighted), {_pct_text(ai.lines_pct)} of changed lines "
        f"({_pct_text(ai.lines_weighted_pct)} weighted)."
        if ai
        else "No event is labelled likely AI."
    )
    return charts.share_bars(
        bars, ATTRIBUTION_SERIES, chart_id=f"ch-{summary.session_id}-shares", desc=desc
    )


@register.filter
def time_chart(summary: attribution.SessionSummary, variant: str = "attribution") -> charts.Chart:
    """The session over time: "attribution" (whose events), "compact" (the same, small) or
    "activity" (what kind of events)."""
    by_activity = variant == "activity"
    slots = [
        charts.Slot(
            start=rendering.offset_label(b.offset_start),
            end=rendering.offset_label(b.offset_end),
            total=b.events,
            parts=b.by_activity if by_activity else b.by_attribution,
            tests=b.tests,
            tests_failed=b.tests_failed,
        )
        for b in summary.buckets
    ]
    total = sum(b.events for b in summary.buckets)
    peak = max((b.events for b in summary.buckets), default=0)
    width = summary.bucket_width or timedelta(0)
    desc = (
        f"{total} dated events in {len(slots)} bucket{'s' if len(slots) != 1 else ''} "
        f"of {rendering.duration(width) or '0s'}; the busiest holds {peak}."
    )
    return charts.time_bars(
        slots,
        ACTIVITY_SERIES if by_activity else ATTRIBUTION_SERIES,
        chart_id=f"ch-{summary.session_id}-{variant}",
        what="which activity" if by_activity else "whose events (attribution)",
        desc=desc,
        compact=variant == "compact",
        show_tests=variant == "attribution",
    )


@register.filter
def file_chart(row: attribution.FileRow) -> charts.Chart:
    """A small 100% bar of one file's changed lines by attribution."""
    parts = [(attr, added, removed) for attr, _label, added, removed in row.parts]
    return charts.file_bar(parts, ATTRIBUTION_SERIES, added=row.added, removed=row.removed)
