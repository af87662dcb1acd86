"""A trend chart of verdict counts over the last runs, as inline SVG.

Inline SVG with presentation attributes only (no <script>, no style attribute, no external reference),
so the report stays one offline file that a strict Content-Security-Policy allows. Every piece of text
is escaped here; the result is Markup so the template inserts it without escaping it twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from reports.html_report import VERDICT_COLOURS
from scanner.model.records import VERDICT_ORDER, Verdict
from scanner.model.times import parse_utc

COLOURS: dict[Verdict, str] = dict(VERDICT_COLOURS)  # the same colours as the report's own chart
# Stacked bottom-up so findings sit on top, where the eye lands.
_STACK = tuple(reversed(VERDICT_ORDER))


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run's bar: its label (e.g. "#12"), start time and hosts per verdict."""

    label: str
    started: str
    counts: Mapping[Verdict, int]


def axis_labels(points: Sequence[TrendPoint]) -> list[tuple[str, ...]]:
    """Each run labelled by its date (MM-DD, or YYYY-MM-DD when the runs span years); when two runs share
    a day (a re-run, the demo) a second line gives the time, to the second if the minutes collide too."""
    moments = [parse_utc(p.started) for p in points]
    years = {m.year for m in moments if m is not None}
    day_format = "%Y-%m-%d" if len(years) > 1 else "%m-%d"
    days = [m.strftime(day_format) if m else p.started[:10] for m, p in zip(moments, points, strict=True)]
    if len(set(days)) == len(days):
        return [(d,) for d in days]
    minutes = [m.strftime("%H:%M") if m else "" for m in moments]
    time_format = "%H:%M" if len(set(zip(days, minutes, strict=True))) == len(days) else "%H:%M:%S"
    return [(d, m.strftime(time_format) if m else "") for d, m in zip(days, moments, strict=True)]


def trend_svg(points: Sequence[TrendPoint], *, width: int = 420, height: int = 230,
              title: str = "Hosts per verdict, last runs") -> Markup:
    """Stacked bars, one per run, with a legend; each segment has a tooltip (<title>) with its count."""
    used = [v for v in VERDICT_ORDER if any(p.counts.get(v) for p in points)]
    legend_w = [18 + 7 * len(v.value) for v in used]
    legend_rows = 1
    run_x = 0
    for w in legend_w:
        if run_x and run_x + w > width - 40:
            legend_rows, run_x = legend_rows + 1, 0
        run_x += w
    pad_left, pad_right, pad_top, pad_bottom, legend_h = 36, 8, 8, 22, 16 * legend_rows + 6
    chart_h = height - pad_top - pad_bottom - legend_h
    chart_w = width - pad_left - pad_right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    if not points:
        parts.append(f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" font-size="12" fill="#555">'
                     "No earlier runs recorded yet.</text></svg>")
        return Markup("".join(parts))
    top = max(1, max(sum(p.counts.values()) for p in points))
    step = chart_w / len(points)
    bar_w = max(2.0, min(48.0, step * 0.7))
    base_y = pad_top + chart_h
    # y axis: 0 and the maximum
    parts.append(f'<line x1="{pad_left}" y1="{base_y}" x2="{width - pad_right}" y2="{base_y}" stroke="#999"/>')
    parts.append(f'<text x="{pad_left - 4}" y="{base_y}" text-anchor="end" font-size="10" fill="#555">0</text>')
    parts.append(f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" font-size="10" fill="#555">'
                 f"{top}</text>")
    axis = axis_labels(points)
    widest = max(len(line) for label in axis for line in label) * 6.0  # ~6 px per character at font-size 10
    label_every = max(1, len(points) // 12, math.ceil(widest / step))
    for i, p in enumerate(points):
        x = pad_left + i * step + (step - bar_w) / 2
        y = float(base_y)
        total = sum(p.counts.values())
        parts.append(f'<g class="trend-run" data-run="{escape(p.label)}">')
        for verdict in _STACK:
            n = p.counts.get(verdict, 0)
            if not n:
                continue
            h = chart_h * n / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[verdict]}" data-verdict="{verdict.value}" data-count="{n}">'
                         f"<title>{escape(p.label)} ({escape(p.started)}): {verdict.value} {n} of {total}</title>"
                         "</rect>")
        parts.append("</g>")
        if i % label_every == 0 or (i == len(points) - 1 and (i % label_every) * step >= widest):
            lines = "".join(f'<tspan x="{x + bar_w / 2:.1f}" dy="{0 if n == 0 else 11}">{escape(line)}</tspan>'
                            for n, line in enumerate(axis[i]))
            parts.append(f'<text class="trend-label" x="{x + bar_w / 2:.1f}" y="{base_y + 14}" text-anchor="middle" '
                         f'font-size="10" fill="#555">{lines}</text>')
    lx = pad_left
    ly = height - legend_h + 12
    for verdict, w in zip(used, legend_w, strict=True):
        if lx > pad_left and lx + w > width - 4:
            lx, ly = pad_left, ly + 16
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{COLOURS[verdict]}"/>')
        parts.append(f'<text x="{lx + 13}" y="{ly}" font-size="10" fill="#333">{verdict.value}</text>')
        lx += w
    parts.append("</svg>")
    return Markup("".join(parts))
