"""Server-rendered SVG charts, as plain data that `templates/attribution/_chart.html` draws.

Functions here only lay out numbers: every coordinate is a preformatted string (so no locale
ever turns a decimal point into a comma inside an SVG attribute) and every text is either a
number we formatted or a fixed label; candidate-written text never reaches a chart. Colour is
never the only cue: segments carry a hatch pattern per series, bars carry their value, and
each chart comes with a title and description (the templates add a data table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from reviewer import rendering
from reviewer.templatetags.reviewer_tags import duration as _duration
from reviewer.templatetags.reviewer_tags import offset as _offset
from reviewer.timeline import ATTRIBUTIONS

if TYPE_CHECKING:
    from reviewer.attribution import Bucket, ClassShare, FileRow

ATTRIBUTION_ORDER = ATTRIBUTIONS
ACTIVITY_ORDER = ("prompt", "ai_response", "change", "command", "test", "decision", "other")
ACTIVITY_LABELS = {
    "prompt": "Prompts",
    "ai_response": "AI responses",
    "change": "File changes",
    "command": "Commands",
    "test": "Test runs",
    "decision": "Decisions",
    "other": "Other",
}

# Hatch pattern per series, so that segments differ by more than colour.
# (kind, rotation in degrees); "" means solid.
PATTERNS: dict[str, tuple[str, int]] = {
    "diag": ("lines", 45),
    "rdiag": ("lines", -45),
    "cross": ("cross", 45),
    "dots": ("dots", 0),
    "horiz": ("lines", 90),
    "vert": ("lines", 0),
}
SERIES_PATTERN = {
    "likely_ai": "diag",
    "ai_revised_by_human": "cross",
    "likely_human": "",
    "mixed": "dots",
    "system_generated": "horiz",
    "unknown": "vert",
    "prompt": "",
    "ai_response": "diag",
    "change": "cross",
    "command": "dots",
    "test": "horiz",
    "decision": "rdiag",
    "other": "vert",
}


def _f(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class Pattern:
    name: str
    kind: str
    rotate: int


@dataclass(frozen=True)
class Shape:
    """One SVG element. For "line", (w, h) are (x2, y2); for "circle", w is the radius."""

    tag: str  # "rect", "line", "circle" or "text"
    x: str = "0"
    y: str = "0"
    w: str = "0"
    h: str = "0"
    css: str = ""
    text: str = ""  # a text element's content, or another shape's tooltip (<title>)
    anchor: str = "start"
    pattern: str = ""  # hatch overlaid on a rect (a key of PATTERNS)


@dataclass(frozen=True)
class LegendItem:
    key: str
    label: str
    css: str
    pattern: str


@dataclass(frozen=True)
class Chart:
    id: str
    width: int
    height: int
    title: str
    desc: str
    shapes: tuple[Shape, ...]
    legend: tuple[LegendItem, ...] = ()
    css: str = ""

    @property
    def patterns(self) -> list[Pattern]:
        names = {s.pattern for s in self.shapes if s.pattern}
        names |= {item.pattern for item in self.legend if item.pattern}
        return [Pattern(n, *PATTERNS[n]) for n in sorted(names)]


def _series_css(by: str, key: str) -> str:
    return f"fill-{key}" if by == "attribution" else f"fill-act-{key}"


def _series_label(by: str, key: str) -> str:
    if by == "attribution":
        return rendering.ATTRIBUTION_LABELS.get(key, key)
    return ACTIVITY_LABELS.get(key, key)


def legend_for(by: str, keys: Iterable[str]) -> tuple[LegendItem, ...]:
    present = set(keys)
    order = ATTRIBUTION_ORDER if by == "attribution" else ACTIVITY_ORDER
    return tuple(
        LegendItem(k, _series_label(by, k), _series_css(by, k), SERIES_PATTERN.get(k, ""))
        for k in order
        if k in present
    )


def _segment(by: str, key: str, x: float, y: float, w: float, h: float, title: str) -> Shape:
    return Shape(
        "rect",
        _f(x),
        _f(y),
        _f(w),
        _f(h),
        css=_series_css(by, key),
        text=title,
        pattern=SERIES_PATTERN.get(key, ""),
    )


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


# --- shares ------------------------------------------------------------------------------------


def share_bars(shares: Sequence[ClassShare], *, chart_id: str) -> Chart:
    """Four 100% bars: events and changed lines, each raw and confidence-weighted."""
    width, label_w, bar_h, gap = 600, 150, 22, 10
    bar_w = width - label_w - 10
    rows: list[tuple[str, str, str]] = [
        ("Events", "events_pct", "events"),
        ("Events, weighted", "events_weighted_pct", "events"),
        ("Changed lines", "lines_pct", "lines"),
        ("Lines, weighted", "lines_weighted_pct", "lines"),
    ]
    shapes: list[Shape] = []
    for i, (label, field_name, unit) in enumerate(rows):
        y = i * (bar_h + gap) + 4
        shapes.append(Shape("text", "0", _f(y + bar_h * 0.7), text=label))
        x = float(label_w)
        drawn = False
        for share in shares:
            value = getattr(share, field_name)
            if not value:
                continue
            w = bar_w * value / 100
            shapes.append(
                _segment(
                    "attribution",
                    share.attribution,
                    x,
                    y,
                    w,
                    bar_h,
                    f"{share.label}: {value:.1f}% of {label.lower()}",
                )
            )
            if w >= 34:
                shapes.append(
                    Shape(
                        "text",
                        _f(x + w / 2),
                        _f(y + bar_h * 0.7),
                        css="on-bar",
                        text=_pct_text(value),
                        anchor="middle",
                    )
                )
            x += w
            drawn = True
        if not drawn:
            shapes.append(
                Shape(
                    "text",
                    _f(label_w),
                    _f(y + bar_h * 0.7),
                    css="muted-text",
                    text=f"no {unit} to count",
                )
            )
    ai = next((s for s in shares if s.attribution == "likely_ai"), None)
    desc = (
        f"Likely AI: {_pct_text(ai.events_pct)} of events ({_pct_text(ai.events_weighted_pct)} "
        f"weighted), {_pct_text(ai.lines_pct)} of changed lines "
        f"({_pct_text(ai.lines_weighted_pct)} weighted)."
        if ai
        else "No event is labelled likely AI."
    )
    return Chart(
        id=chart_id,
        width=width,
        height=len(rows) * (bar_h + gap) + 4,
        title="Share of events and changed lines by attribution, raw and confidence-weighted",
        desc=desc,
        shapes=tuple(shapes),
        legend=legend_for("attribution", [s.attribution for s in shares]),
    )


# --- over time ---------------------------------------------------------------------------------


def time_bars(buckets: Sequence[Bucket], by: str, *, chart_id: str, compact: bool = False) -> Chart:
    """Stacked bars per time bucket, by attribution ("whose") or by activity ("what").

    The full-size attribution chart also marks each bucket's tests under its bar: a circle
    when every test passed, a cross when one failed.
    """
    width = 280 if compact else 720
    plot_h = 70 if compact else 150
    left = 4 if compact else 40
    top = 6 if compact else 16
    show_tests = by == "attribution" and not compact
    bottom = 18 if compact else (44 if show_tests else 26)
    height = top + plot_h + bottom
    n = max(1, len(buckets))
    slot = (width - left - 4) / n
    bar_w = max(1.0, slot * 0.8)
    peak = max((b.events for b in buckets), default=0) or 1
    order = ATTRIBUTION_ORDER if by == "attribution" else ACTIVITY_ORDER
    series = "attribution" if by == "attribution" else "activity"
    shapes: list[Shape] = [
        Shape("line", _f(left), _f(top + plot_h), _f(width - 4), _f(top + plot_h), css="axis")
    ]
    if not compact:
        shapes.append(
            Shape("text", _f(left - 4), _f(top + 8), text=str(peak), anchor="end", css="tick")
        )
        shapes.append(
            Shape("text", _f(left - 4), _f(top + plot_h), text="0", anchor="end", css="tick")
        )
    seen: set[str] = set()
    for i, bucket in enumerate(buckets):
        x = left + i * slot + (slot - bar_w) / 2
        y = float(top + plot_h)
        parts: dict[str, int] = bucket.by_attribution if by == "attribution" else bucket.by_activity
        span = f"{_offset(bucket.offset_start)}–{_offset(bucket.offset_end)}"
        for key in order:
            count = parts.get(key, 0)
            if not count:
                continue
            seen.add(key)
            h = plot_h * count / peak
            y -= h
            if by == "attribution":
                what = f"{_series_label(by, key).lower()} event{'s' if count != 1 else ''}"
            else:
                what = f"× {_series_label(by, key).lower()}"
            shapes.append(_segment(by, key, x, y, bar_w, h, f"{span}: {count} {what}"))
        if bucket.events and not compact and slot >= 18:
            shapes.append(
                Shape(
                    "text",
                    _f(x + bar_w / 2),
                    _f(y - 3),
                    text=str(bucket.events),
                    anchor="middle",
                    css="tick",
                )
            )
        if show_tests and bucket.tests:
            cy = top + plot_h + 12
            cx = x + bar_w / 2
            note = (
                f"{span}: {bucket.tests} test run{'s' if bucket.tests != 1 else ''}, "
                f"{bucket.tests_failed} failing"
            )
            if bucket.tests_failed:
                shapes.append(
                    Shape("text", _f(cx), _f(cy + 4), text="✗", anchor="middle", css="test-fail")
                )
                shapes.append(Shape("circle", _f(cx), _f(cy), "6", css="hit", text=note))
            else:
                shapes.append(Shape("circle", _f(cx), _f(cy), "3.5", css="test-pass", text=note))
    if buckets:
        label_y = height - 6
        first, last = buckets[0], buckets[-1]
        shapes.append(
            Shape("text", _f(left), _f(label_y), text=_offset(first.offset_start), css="tick")
        )
        shapes.append(
            Shape(
                "text",
                _f(width - 4),
                _f(label_y),
                text=_offset(last.offset_end),
                anchor="end",
                css="tick",
            )
        )
        if not compact and len(buckets) > 2:
            mid = buckets[len(buckets) // 2]
            shapes.append(
                Shape(
                    "text",
                    _f(left + (len(buckets) // 2) * slot),
                    _f(label_y),
                    text=_offset(mid.offset_start),
                    anchor="middle",
                    css="tick",
                )
            )
        if show_tests:
            shapes.append(
                Shape(
                    "text",
                    _f(left - 4),
                    _f(top + plot_h + 16),
                    text="tests",
                    anchor="end",
                    css="tick",
                )
            )
    total = sum(b.events for b in buckets)
    width_each = (buckets[0].end - buckets[0].start) if buckets else timedelta(0)
    what = "whose events (attribution)" if by == "attribution" else "which activity"
    desc = (
        f"{total} dated events in {len(buckets)} bucket{'s' if len(buckets) != 1 else ''} "
        f"of {_duration(width_each) or '0s'}; the busiest holds {peak if total else 0}."
    )
    return Chart(
        id=chart_id,
        width=width,
        height=height,
        title=f"Activity over the session, by {what}",
        desc=desc,
        shapes=tuple(shapes),
        legend=legend_for(series, seen),
        css="compact" if compact else "",
    )


# --- per file ----------------------------------------------------------------------------------


def file_bar(row: FileRow, *, width: int = 100) -> Chart:
    """A small 100% bar of one file's changed lines by attribution."""
    shapes: list[Shape] = []
    x = 0.0
    total = row.lines
    for key in ATTRIBUTION_ORDER:
        if key not in row.by_attribution:
            continue
        added, removed = row.by_attribution[key]
        if not total or not added + removed:
            continue
        w = width * (added + removed) / total
        # No hatch at this size: the row lists the same numbers as text beside the bar.
        shapes.append(
            Shape(
                "rect",
                _f(x),
                "0",
                _f(w),
                "10",
                css=_series_css("attribution", key),
                text=f"{rendering.ATTRIBUTION_LABELS.get(key, key)}: +{added} −{removed}",
            )
        )
        x += w
    return Chart(
        id="",
        width=width,
        height=10,
        title="Changed lines by attribution",
        desc=f"+{row.added} −{row.removed}",
        shapes=tuple(shapes),
        css="mini",
    )


# --- cohort distributions ----------------------------------------------------------------------


def strip_plot(
    points: Sequence[tuple[int, str, float, int]],
    median: float | None,
    format_value: Callable[[float | None], str],
    label: str,
    *,
    chart_id: str,
    percent: bool = False,
) -> Chart:
    """Each point (number, name, value, percentile) as a numbered dot on one axis, the
    median as a dashed line; `percent` axes run 0–100, others from 0 to the largest value.

    Dots that would overlap move to the next lane, so every number stays readable.
    """
    width, left, right, top, lane_h, r = 640, 14, 14, 22, 20, 8.0
    values = [p[2] for p in points]
    lo = 0.0
    hi = 100.0 if percent else max([*values, 1.0])
    if hi <= lo:
        hi = lo + 1
    span_px = width - left - right

    def xpos(v: float) -> float:
        return left + span_px * (min(max(v, lo), hi) - lo) / (hi - lo)

    lanes: list[float] = []
    placed: list[tuple[float, int, tuple[int, str, float, int]]] = []
    for point in sorted(points, key=lambda p: (p[2], p[0])):
        x = xpos(point[2])
        lane = next((i for i, end in enumerate(lanes) if x - end >= 2 * r + 2), None)
        if lane is None:
            lanes.append(x)
            lane = len(lanes) - 1
        else:
            lanes[lane] = x
        placed.append((x, lane, point))
    plot_h = max(1, len(lanes)) * lane_h
    axis_y = top + plot_h + 4
    height = axis_y + 18
    shapes: list[Shape] = [
        Shape("line", _f(left), _f(axis_y), _f(width - right), _f(axis_y), css="axis"),
        Shape("text", _f(left), _f(height - 3), text=format_value(lo), css="tick"),
        Shape(
            "text",
            _f(width - right),
            _f(height - 3),
            text=format_value(hi),
            anchor="end",
            css="tick",
        ),
    ]
    if median is not None:
        mx = xpos(median)
        shapes.append(Shape("line", _f(mx), _f(top - 4), _f(mx), _f(axis_y), css="median"))
        anchor = "start" if mx < width / 2 else "end"
        shapes.append(
            Shape(
                "text",
                _f(mx + (4 if anchor == "start" else -4)),
                _f(top - 8),
                text=f"median {format_value(median)}",
                anchor=anchor,
                css="median-text",
            )
        )
    for x, lane, (number, _name, value, rank) in placed:
        cy = top + lane * lane_h + lane_h / 2
        shapes.append(
            Shape(
                "circle",
                _f(x),
                _f(cy),
                _f(r),
                css="dot",
                text=f"#{number}: {format_value(value)} (percentile {rank})",
            )
        )
        shapes.append(
            Shape("text", _f(x), _f(cy + 3.5), text=str(number), anchor="middle", css="dot-label")
        )
    desc = (
        f"{len(points)} candidate{'s' if len(points) != 1 else ''}; median "
        f"{format_value(median)}, range {format_value(min(values))} to "
        f"{format_value(max(values))}."
        if values
        else "No values."
    )
    return Chart(
        id=chart_id,
        width=width,
        height=height,
        title=f"{label}: distribution across the cohort",
        desc=desc,
        shapes=tuple(shapes),
        css="strip",
    )
