"""Charts drawn as SVG on the server: no JavaScript, no CDN, nothing to vendor.

The dashboard's charts are simple (time series and stacked bars over at most ~170
buckets), so drawing them here costs less than shipping a chart library and keeps the page
working offline, printable and readable without scripts. Every mark carries a
``<title>`` (the browser's tooltip) and every chart is wrapped in a link to the items
behind it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = {
    "blue": "#2563eb",
    "green": "#16a34a",
    "amber": "#d97706",
    "red": "#dc2626",
    "violet": "#7c3aed",
    "slate": "#64748b",
    "teal": "#0d9488",
}

WIDTH, HEIGHT = 560, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 12, 12, 28


@dataclass
class Series:
    """One named series; ``None`` is a bucket without data (a gap in a line)."""

    name: str
    color: str
    values: list[float | None]
    href: str = ""


@dataclass
class Chart:
    """What a chart shows: series over the buckets starting at ``times``."""

    times: list[dt.datetime]
    series: list[Series] = field(default_factory=list)
    unit: str = ""
    kind: str = "line"  # or "bars" (stacked)
    #: Lines drawn over stacked bars (e.g. retries, a subset of the attempts).
    overlays: list[Series] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(v for s in (*self.series, *self.overlays) for v in s.values)


#: Tick steps for durations (seconds): readable as ms, s, min and h.
_TIME_STEPS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
)


def _tick_step(top: float, unit: str) -> float:
    """A readable step for four grid lines covering ``top`` (whole numbers for counts)."""
    wanted = top / 4
    if unit == "s":
        for step in _TIME_STEPS:
            if step >= wanted:
                return step
        return math.ceil(wanted / 86400) * 86400
    if wanted <= 1:
        return 1.0 if unit != "%" else max(wanted, 0.25)
    exponent = math.floor(math.log10(wanted))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * 10**exponent
        if step >= wanted and (step >= 10 or float(step).is_integer()):
            return step
    return 10 ** (exponent + 1)


def format_value(value: float, unit: str = "") -> str:
    if unit == "s":
        if value >= 3600:
            return f"{value / 3600:.3g} h"
        if value >= 60:
            return f"{value / 60:.3g} min"
        if value >= 1:
            return f"{value:.3g} s"
        return f"{value * 1000:.3g} ms"
    if unit == "%":
        return f"{value:.1f} %"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _time_label(t: dt.datetime, span: dt.timedelta) -> str:
    return t.strftime("%d %b %H:%M" if span > dt.timedelta(days=1) else "%H:%M")


def render(chart: Chart, *, label: str) -> SafeString:
    """The chart as an inline ``<svg>`` (``role="img"`` with ``label`` for screen readers)."""
    n = len(chart.times)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    if chart.kind == "bars":
        peak = max((sum(s.values[i] or 0 for s in chart.series) for i in range(n)), default=0)
    else:
        peak = max((v for s in chart.series for v in s.values if v is not None), default=0)
    peak = max([peak, *(v for s in chart.overlays for v in s.values if v is not None)])
    top = _tick_step(peak, chart.unit) * 4
    parts = [
        f'<svg class="ilk-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">'
    ]
    # grid and y axis
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(format_value(value, chart.unit))}</text>"
        )
    # x axis labels: about five
    if n:
        span = chart.times[-1] - chart.times[0] if n > 1 else dt.timedelta(0)
        for i in sorted({0, n // 4, n // 2, 3 * n // 4, n - 1}):
            x = PAD_LEFT + plot_w * (i + 0.5) / n
            anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
            x = PAD_LEFT if i == 0 else WIDTH - PAD_RIGHT if i == n - 1 else x
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                f"{escape(_time_label(chart.times[i], span))}</text>"
            )
    step = plot_w / max(n, 1)
    if chart.kind == "bars":
        base = [0.0] * n
        bar_w = max(1.0, step * 0.8)
        for s in chart.series:
            for i, value in enumerate(s.values):
                if not value:
                    continue
                h = plot_h * value / top
                y = PAD_TOP + plot_h - plot_h * (base[i] + value) / top
                x = PAD_LEFT + step * i + (step - bar_w) / 2
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                    f'height="{h:.1f}" fill="{s.color}"><title>{escape(s.name)} '
                    f"{escape(_time_label(chart.times[i], dt.timedelta(days=2)))}: "
                    f"{escape(format_value(value, chart.unit))}</title></rect>"
                )
                base[i] += value
    lines = chart.overlays if chart.kind == "bars" else chart.series
    for s in lines:
        # A gap (None) ends one polyline and starts the next.
        segments: list[list[tuple[float, float, float, dt.datetime]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                segments.append([])
                continue
            y = PAD_TOP + plot_h - plot_h * v / top
            segments[-1].append((PAD_LEFT + step * (i + 0.5), y, v, chart.times[i]))
        for segment in segments:
            if not segment:
                continue
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in segment)
            parts.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{s.color}" '
                f'stroke-width="2" stroke-linejoin="round"><title>{escape(s.name)}</title>'
                "</polyline>"
            )
            if n <= 60 or len(segment) == 1:
                for x, y, v, t in segment:
                    parts.append(
                        f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{s.color}">'
                        f"<title>{escape(s.name)} {escape(_time_label(t, dt.timedelta(days=2)))}: "
                        f"{escape(format_value(v, chart.unit))}</title></circle>"
                    )
    parts.append(
        f'<line class="axis" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
        f'y1="{PAD_TOP + plot_h}" y2="{PAD_TOP + plot_h}"/>'
    )
    if chart.empty:
        parts.append(
            f'<text class="empty" x="{PAD_LEFT + plot_w / 2}" y="{PAD_TOP + plot_h / 2}" '
            'text-anchor="middle">No data in this range</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
