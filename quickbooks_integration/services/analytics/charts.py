"""The geometry of the dashboards' SVG charts: pure functions from labelled numbers to rectangles, points and ticks.

No database and no HTML: the templates under templates/admin/quickbooks_integration/dashboards/ draw what these
return as inline SVG, styled by classes in static/quickbooks_integration/dashboards/dashboards.css. Server-drawn,
so a page works offline and under the admin's Content-Security-Policy (no script, no CDN); pygal is not among the
requirements, and three chart shapes did not justify adding it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

MONEY, PERCENT, COUNT, DAYS = "money", "percent", "count", "days"
WIDTH, HEIGHT = 640, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 12, 12, 40
Number = Decimal | int | float | None


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str  # the hover text: label, series and value


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    series: int
    title: str


@dataclass(frozen=True)
class Line:
    points: str  # "x,y x,y …" for <polyline>
    series: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    value_ticks: list[Tick] = field(default_factory=list)
    category_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[int, str]] = field(default_factory=list)
    horizontal: bool = False
    zero: float = 0.0  # where the value axis's zero is drawn

    @property
    def empty(self) -> bool:
        return not (self.bars or self.points)


def value_label(value: Number, unit: str) -> str:
    """How a value reads on an axis or in a tooltip: $12.5k, 45%, 12 days."""
    if value is None:
        return "–"
    number = float(value)
    if unit == MONEY:
        sign, size = ("−" if number < 0 else ""), abs(number)
        if size >= 1_000_000:
            return f"{sign}${size / 1_000_000:.1f}M"
        if size >= 10_000:
            return f"{sign}${size / 1000:.0f}k"
        if size >= 1000:
            return f"{sign}${size / 1000:.1f}k"
        return f"{sign}${size:,.0f}"
    if unit == PERCENT:
        return f"{number:.0f}%"
    if unit == DAYS:
        return f"{number:.0f} d"
    return f"{number:,.0f}"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10ⁿ apart) covering [low, high], zero included."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        if value >= high:
            break
        value += step
    return ticks


class _Scale:
    """Values to pixels along one axis, from the ticks' range."""

    def __init__(self, ticks: list[float], start: float, end: float) -> None:
        self.low, self.high = ticks[0], ticks[-1]
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        return round(self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start), 1)


def _category_ticks(labels: Sequence[str], centres: list[float], most: int = 12) -> list[Tick]:
    every = max(1, math.ceil(len(labels) / most))
    return [
        Tick(position=c, label=label)
        for i, (c, label) in enumerate(zip(centres, labels, strict=True))
        if i % every == 0
    ]


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number]]],
    unit: str = MONEY,
    stacked: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Vertical bars per label: side by side for several series, or stacked (positive values) when `stacked`."""
    left, top, right, bottom = MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    values = [[float(v or 0) for v in vs] for _, vs in series]
    if stacked:
        totals = [sum(column) for column in zip(*values, strict=True)] if values else []
        low, high = 0.0, max(totals, default=0.0)
    else:
        flat = [v for vs in values for v in vs]
        low, high = min(flat, default=0.0), max(flat, default=0.0)
    ticks = nice_ticks(low, high)
    scale = _Scale(ticks, bottom, top)
    slot = (right - left) / max(len(labels), 1)
    groups = 1 if stacked else max(len(series), 1)
    bar_width = slot * 0.8 / groups
    bars, centres = [], []
    for i, label in enumerate(labels):
        x0 = left + slot * i + slot * 0.1
        centres.append(round(left + slot * (i + 0.5), 1))
        base = 0.0
        for s, (name, _) in enumerate(series):
            value = values[s][i]
            if stacked:
                y_low, y_high = base, base + value
                base = y_high
                x = x0
            else:
                y_low, y_high = min(0.0, value), max(0.0, value)
                x = x0 + bar_width * s
            y1, y2 = scale(y_high), scale(y_low)
            shown = value_label(value, unit)
            title_text = f"{label} · {name}: {shown}" if len(series) > 1 else f"{label}: {shown}"
            bars.append(Bar(round(x, 1), y1, round(bar_width, 1), round(y2 - y1, 1), s, title_text))
    return Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        bars=bars,
        value_ticks=[Tick(scale(t), value_label(t, unit)) for t in ticks],
        category_ticks=_category_ticks(labels, centres),
        legend=[(s, name) for s, (name, _) in enumerate(series)] if len(series) > 1 else [],
        zero=scale(0.0),
    )


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number]]],
    unit: str = PERCENT,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """A line per series over the labels; a missing value (None) breaks the line rather than drawing a zero."""
    left, top, right, bottom = MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    flat = [float(v) for _, vs in series for v in vs if v is not None]
    ticks = nice_ticks(min(flat, default=0.0), max(flat, default=0.0))
    scale = _Scale(ticks, bottom, top)
    slot = (right - left) / max(len(labels), 1)
    centres = [round(left + slot * (i + 0.5), 1) for i in range(len(labels))]
    lines, points = [], []
    for s, (name, vs) in enumerate(series):
        run: list[str] = []
        for i, value in enumerate(vs):
            if value is None:
                if len(run) > 1:
                    lines.append(Line(" ".join(run), s))
                run = []
                continue
            y = scale(float(value))
            run.append(f"{centres[i]},{y}")
            points.append(Point(centres[i], y, s, f"{labels[i]} · {name}: {value_label(value, unit)}"))
        if len(run) > 1:
            lines.append(Line(" ".join(run), s))
    return Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        lines=lines,
        points=points,
        value_ticks=[Tick(scale(t), value_label(t, unit)) for t in ticks],
        category_ticks=_category_ticks(labels, centres),
        legend=[(s, name) for s, (name, _) in enumerate(series)],
        zero=scale(0.0),
    )


def hbar_chart(
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[Number],
    unit: str = MONEY,
    width: int = WIDTH,
    row: int = 22,
) -> Chart:
    """Horizontal bars, one per label (a ranking: names read better down the side than under a bar)."""
    left, top, right = 200, MARGIN_TOP, width - MARGIN_RIGHT
    height = top + row * max(len(labels), 1) + 28
    bottom = height - 28
    numbers = [float(v or 0) for v in values]
    ticks = nice_ticks(min(numbers, default=0.0), max(numbers, default=0.0))
    scale = _Scale(ticks, left, right)
    bars, centres = [], []
    for i, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        y = top + row * i + row * 0.15
        x1, x2 = scale(min(0.0, value)), scale(max(0.0, value))
        centres.append(round(top + row * (i + 0.5), 1))
        bars.append(
            Bar(x1, round(y, 1), round(x2 - x1, 1), round(row * 0.7, 1), 0, f"{label}: {value_label(value, unit)}")
        )
    return Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        bars=bars,
        value_ticks=[Tick(scale(t), value_label(t, unit)) for t in ticks],
        category_ticks=[Tick(c, _shorten(label)) for c, label in zip(centres, labels, strict=True)],
        horizontal=True,
        zero=scale(0.0),
    )


def _shorten(label: str, size: int = 30) -> str:
    return label if len(label) <= size else label[: size - 1] + "…"
