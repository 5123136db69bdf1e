"""Server-side SVG charts for the reputation page: no JavaScript, no CDN, readable without CSS.

A chart is days along the x axis and one series of values (None: no data that day, a gap
in a line) with optional threshold lines drawn across it, each labelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from app.core import reputation as core

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 24
SERIES_COLOUR = "#2563eb"
AXIS_COLOUR = "#94a3b8"


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str
    colour: str


def chart(title: str, days: Sequence[date], values: Sequence[float | None], *,
          kind: str = "line", y_max: float | None = None,
          thresholds: Sequence[Threshold] = (),
          label: Callable[[float], str] = lambda value: f"{value:g}") -> Markup:
    """An accessible SVG of one series (`kind` "line" or "bars")."""
    known = [value for value in values if value is not None]
    top = y_max if y_max is not None else max([*known, *(t.value for t in thresholds), 0]) * 1.15
    top = top or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days), 1)

    def x(index: int) -> float:
        return LEFT + step * (index + 0.5)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value, top) / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" class="chart" width="100%" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             _line(LEFT, TOP + plot_h, WIDTH - RIGHT, TOP + plot_h, AXIS_COLOUR),
             _text(LEFT - 4, TOP + 8, label(top), anchor="end"),
             _text(LEFT - 4, TOP + plot_h, label(0), anchor="end")]
    if days:
        parts.append(_text(LEFT, HEIGHT - 6, days[0].isoformat(), anchor="start"))
        parts.append(_text(WIDTH - RIGHT, HEIGHT - 6, days[-1].isoformat(), anchor="end"))
    for threshold in thresholds:
        height = y(threshold.value)
        parts.append(_line(LEFT, height, WIDTH - RIGHT, height, threshold.colour, dashed=True))
        parts.append(_text(WIDTH - RIGHT - 2, height - 3, threshold.label, anchor="end",
                           colour=threshold.colour))
    if kind == "bars":
        parts += [f'<rect x="{x(i) - step * 0.4:.1f}" y="{y(v):.1f}" width="{step * 0.8:.1f}" '
                  f'height="{TOP + plot_h - y(v):.1f}" fill="{SERIES_COLOUR}">'
                  f"<title>{day.isoformat()}: {escape(label(v))}</title></rect>"
                  for i, (day, v) in enumerate(zip(days, values)) if v]
    else:
        parts += _line_series(days, values, x, y, label)
    parts.append("</svg>")
    return Markup("".join(parts))


def _line_series(days, values, x, y, label) -> list[str]:
    """A polyline per run of days with data; a dot with a tooltip on every point."""
    parts, run = [], []
    for index, (day, value) in enumerate(zip(days, values)):
        if value is None:
            parts.append(_polyline(run))
            run = []
            continue
        run.append(f"{x(index):.1f},{y(value):.1f}")
        parts.append(f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="2.5" '
                     f'fill="{SERIES_COLOUR}"><title>{day.isoformat()}: '
                     f"{escape(label(value))}</title></circle>")
    parts.append(_polyline(run))
    return parts


def _polyline(points: list[str]) -> str:
    if len(points) < 2:
        return ""
    return (f'<polyline points="{" ".join(points)}" fill="none" stroke="{SERIES_COLOUR}" '
            'stroke-width="2"/>')


def _line(x1, y1, x2, y2, colour, dashed=False) -> str:
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}"{dash}/>')


def _text(x, y, content, *, anchor, colour="#475569") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" '
            f'fill="{colour}">{escape(content)}</text>')


def _percent(value: float) -> str:
    return f"{value * 100:.2f} %"


def reputation_charts(points: Sequence) -> list[tuple[str, Markup]]:
    """The reputation page's four charts from its `DayPoint`s, thresholds drawn."""
    days = [point.day for point in points]
    hard_bounce = [point.rates.hard_bounce for point in points]
    complaint = [point.rates.complaint for point in points]
    return [
        ("Messages sent a day", chart("Messages sent a day", days,
                                      [point.counts.sent for point in points], kind="bars",
                                      label=lambda v: f"{v:,.0f}")),
        ("Hard bounce rate (hard and block bounces of messages sent)", chart(
            "Hard bounce rate", days, hard_bounce, label=_percent,
            thresholds=[Threshold(core.HARD_BOUNCE_RAMP[0], "0.5 % starts costing points",
                                  "#ca8a04"),
                        Threshold(core.HARD_BOUNCE_RAMP[1], "5 % costs the most", "#dc2626")])),
        ("Complaint rate", chart(
            "Complaint rate", days, complaint, label=_percent,
            thresholds=[Threshold(core.COMPLAINT_WARN, "0.1 % providers warn", "#ca8a04"),
                        Threshold(core.COMPLAINT_CRITICAL, "0.3 % providers' limit",
                                  "#dc2626")])),
        ("Score (30 days ending each day)", chart(
            "Reputation score", days, [point.score for point in points], y_max=core.PERFECT,
            label=lambda v: f"{v:.0f}",
            thresholds=[Threshold(core.GOOD_FROM, "good", "#16a34a"),
                        Threshold(core.FAIR_FROM, "fair", "#ca8a04"),
                        Threshold(core.POOR_FROM, "poor", "#dc2626")])),
    ]
