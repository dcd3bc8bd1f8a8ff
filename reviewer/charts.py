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


@dataclass(frozen=True)
class Series:
    """The series of a chart: their keys in drawing order and their labels. `css` is the
    class prefix of their fills ("fill-" + key for attribution classes)."""

    order: tuple[str, ...]
    labels: dict[str, str]
    css: str

    def label(self, key: str) -> str:
        return self.labels.get(key, key)


@dataclass(frozen=True)
class Part:
    key: str
    value: float


@dataclass(frozen=True)
class Bar:
    """One 100% bar of a share chart: its label, what it counts, its parts (percentages)."""

    label: str
    unit: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Slot:
    """One time bucket of a stacked bar chart, its labels preformatted by the caller."""

    start: str
    end: str
    total: int
    parts: dict[str, int]
    tests: int = 0
    tests_failed: int = 0


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


def legend_for(series: Series, keys: Iterable[str]) -> tuple[LegendItem, ...]:
    present = set(keys)
    return tuple(
        LegendItem(k, series.label(k), series.css + k, SERIES_PATTERN.get(k, ""))
        for k in series.order
        if k in present
    )


def _segment(series: Series, key: str, x: float, y: float, w: float, h: float, title: str) -> Shape:
    return Shape(
        "rect",
        _f(x),
        _f(y),
        _f(w),
        _f(h),
        css=series.css + key,
        text=title,
        pattern=SERIES_PATTERN.get(key, ""),
    )


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


# --- shares ------------------------------------------------------------------------------------


def share_bars(bars: Sequence[Bar], series: Series, *, chart_id: str, desc: str) -> Chart:
    """100% bars, one per `Bar` (events and changed lines, raw and weighted), each cut into
    its parts' percentages, with a label on the parts wide enough to hold one."""
    width, label_w, bar_h, gap = 600, 150, 22, 10
    bar_w = width - label_w - 10
    shapes: list[Shape] = []
    for i, bar in enumerate(bars):
        y = i * (bar_h + gap) + 4
        shapes.append(Shape("text", "0", _f(y + bar_h * 0.7), text=bar.label))
        x = float(label_w)
        drawn = False
        for part in bar.parts:
            if not part.value:
                continue
            w = bar_w * part.value / 100
            title = f"{series.label(part.key)}: {part.value:.1f}% of {bar.label.lower()}"
            shapes.append(_segment(series, part.key, x, y, w, bar_h, title))
            if w >= 34:
                shapes.append(
                    Shape(
                        "text",
                        _f(x + w / 2),
                        _f(y + bar_h * 0.7),
                        css="on-bar",
                        text=_pct_text(part.value),
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
                    text=f"no {bar.unit} to count",
                )
            )
    return Chart(
        id=chart_id,
        width=width,
        height=len(bars) * (bar_h + gap) + 4,
        title="Share of events and changed lines by attribution, raw and confidence-weighted",
        desc=desc,
        shapes=tuple(shapes),
        legend=legend_for(series, [p.key for bar in bars for p in bar.parts]),
    )


# --- over time ---------------------------------------------------------------------------------


def time_bars(
    slots: Sequence[Slot],
    series: Series,
    *,
    chart_id: str,
    what: str,
    desc: str,
    compact: bool = False,
    show_tests: bool = False,
) -> Chart:
    """Stacked bars per time slot. With `show_tests` (full size only), each slot's tests are
    marked under its bar: a circle when every test passed, a cross when one failed."""
    width = 280 if compact else 720
    plot_h = 70 if compact else 150
    left = 4 if compact else 40
    top = 6 if compact else 16
    show_tests = show_tests and not compact
    bottom = 18 if compact else (44 if show_tests else 26)
    height = top + plot_h + bottom
    n = max(1, len(slots))
    slot_w = (width - left - 4) / n
    bar_w = max(1.0, slot_w * 0.8)
    peak = max((s.total for s in slots), default=0) or 1
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
    for i, slot in enumerate(slots):
        x = left + i * slot_w + (slot_w - bar_w) / 2
        y = float(top + plot_h)
        span = f"{slot.start}–{slot.end}"
        for key in series.order:
            count = slot.parts.get(key, 0)
            if not count:
                continue
            seen.add(key)
            h = plot_h * count / peak
            y -= h
            label = f"{count} {series.label(key).lower()}"
            shapes.append(_segment(series, key, x, y, bar_w, h, f"{span}: {label}"))
        if slot.total and not compact and slot_w >= 18:
            shapes.append(
                Shape(
                    "text",
                    _f(x + bar_w / 2),
                    _f(y - 3),
                    text=str(slot.total),
                    anchor="middle",
                    css="tick",
                )
            )
        if show_tests and slot.tests:
            cy = top + plot_h + 12
            cx = x + bar_w / 2
            note = (
                f"{span}: {slot.tests} test run{'s' if slot.tests != 1 else ''}, "
                f"{slot.tests_failed} failing"
            )
            if slot.tests_failed:
                shapes.append(
                    Shape("text", _f(cx), _f(cy + 4), text="✗", anchor="middle", css="test-fail")
                )
                shapes.append(Shape("circle", _f(cx), _f(cy), "6", css="hit", text=note))
            else:
                shapes.append(Shape("circle", _f(cx), _f(cy), "3.5", css="test-pass", text=note))
    if slots:
        label_y = height - 6
        shapes.append(Shape("text", _f(left), _f(label_y), text=slots[0].start, css="tick"))
        shapes.append(
            Shape("text", _f(width - 4), _f(label_y), text=slots[-1].end, anchor="end", css="tick")
        )
        if not compact and len(slots) > 2:
            mid = len(slots) // 2
            shapes.append(
                Shape(
                    "text",
                    _f(left + mid * slot_w),
                    _f(label_y),
                    text=slots[mid].start,
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


def file_bar(
    parts: Sequence[tuple[str, int, int]],
    series: Series,
    *,
    added: int,
    removed: int,
    width: int = 100,
) -> Chart:
    """A small 100% bar of one file's changed lines, from (series key, added, removed)."""
    shapes: list[Shape] = []
    x = 0.0
    total = added + removed
    for key, part_added, part_removed in parts:
        if not total or not part_added + part_removed:
            continue
        w = width * (part_added + part_removed) / total
        # No hatch at this size: the row lists the same numbers as text beside the bar.
        shapes.append(
            Shape(
                "rect",
                _f(x),
                "0",
                _f(w),
                "10",
                css=series.css + key,
                text=f"{series.label(key)}: +{part_added} −{part_removed}",
            )
        )
        x += w
    return Chart(
        id="",
        width=width,
        height=10,
        title="Changed lines by attribution",
        desc=f"+{added} −{removed}",
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
