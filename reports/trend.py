"""The trend over the last runs, as inline SVG: % compliant on top, the hosts to act on below.

Two small panels on one dated axis instead of one chart with two scales: a reader compares the
shapes, not the axes. Every label has a place of its own (the panel titles and their legends above
the plot areas, the dates below, a value over a point only where there is room), so nothing overlaps.

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

from reports.overview import GROUP_ACTION, GROUP_OK, GROUP_UNCHECKED, GROUP_WAIVED, group_percents, percent_text
from scanner.model.records import Verdict
from scanner.model.times import parse_utc

COMPLIANT_COLOUR = "#2e7d32"
ACTION_COLOUR = "#b71c1c"
UNCHECKED_COLOUR = "#8e63a8"
TEXT_COLOUR = "#333"
AXIS_COLOUR = "#999"
_OK = (Verdict.RECOVERED, Verdict.NOT_AFFECTED, Verdict.NOT_APPLICABLE)
_FONT = 10
_CHAR_W = 6.0  # px per character at font-size 10, a little generous
_PAD_LEFT, _PAD_RIGHT = 40, 12


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run: its label (e.g. "#12"), start time, hosts per verdict, how many of them were waived, and how many
    of those waived hosts could not be checked (ERROR, UNKNOWN): the headline's four groups, exactly."""

    label: str
    started: str
    counts: Mapping[Verdict, int]
    waived: int = 0
    waived_unchecked: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def groups(self) -> dict[str, int]:
        """The run's hosts in the report's four headline groups (reports.overview.host_group)."""
        compliant = sum(self.counts.get(v, 0) for v in _OK)
        findings = self.counts.get(Verdict.AFFECTED, 0) + self.counts.get(Verdict.AT_RISK, 0)
        unchecked = self.counts.get(Verdict.ERROR, 0) + self.counts.get(Verdict.UNKNOWN, 0)
        waived_unchecked = min(self.waived_unchecked, self.waived, unchecked)
        action = max(0, findings - (self.waived - waived_unchecked))
        return {GROUP_OK: compliant, GROUP_ACTION: action, GROUP_UNCHECKED: max(0, unchecked - waived_unchecked),
                GROUP_WAIVED: self.total - compliant - action - max(0, unchecked - waived_unchecked)}

    def figures(self) -> tuple[int, int, int]:
        """(% compliant, needing action, could not check), as the report's headline counts and rounds them."""
        groups = self.groups()
        return group_percents(groups)[GROUP_OK], groups[GROUP_ACTION], groups[GROUP_UNCHECKED]

    @property
    def compliant_text(self) -> str:
        groups = self.groups()
        return percent_text(groups[GROUP_OK], group_percents(groups)[GROUP_OK])


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


def _when(point: TrendPoint) -> str:
    moment = parse_utc(point.started)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else point.started


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where things go: the x of each run, the two plot areas' tops and bottoms."""

    width: int
    step: float
    top1: float
    bottom1: float
    top2: float
    bottom2: float
    axis_y: float

    def x(self, i: int) -> float:
        return _PAD_LEFT + self.step * (i + 0.5)


def _frame(n: int, width: int, height: int) -> _Frame:
    """Rows from the top: legend 1, room for the values over the points, plot 1, legend 2, room for the values
    over the bars, plot 2, two lines of dates."""
    step = (width - _PAD_LEFT - _PAD_RIGHT) / max(1, n)
    top1, between, dates = 32, 42, 30
    plot = (height - top1 - between - dates) / 2
    top2 = top1 + plot + between
    return _Frame(width, step, top1, top1 + plot, top2, top2 + plot, top2 + plot)


def _legend(x: float, y: float, items: Sequence[tuple[str, str]], title: str) -> list[str]:
    parts = [f'<text x="{x:.0f}" y="{y:.0f}" font-size="11" font-weight="600" fill="{TEXT_COLOUR}">'
             f"{escape(title)}</text>"]
    x += len(title) * 6.6 + 14
    for colour, name in items:
        parts.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:.0f}" y="{y:.0f}" font-size="{_FONT}" fill="{TEXT_COLOUR}">'
                     f"{escape(name)}</text>")
        x += 14 + len(name) * _CHAR_W + 14
    return parts


def _axes(f: _Frame, top_count: int) -> list[str]:
    parts = []
    for top, bottom, high in ((f.top1, f.bottom1, "100%"), (f.top2, f.bottom2, str(top_count))):
        parts.append(f'<line x1="{_PAD_LEFT}" y1="{bottom:.1f}" x2="{f.width - _PAD_RIGHT}" y2="{bottom:.1f}" '
                     f'stroke="{AXIS_COLOUR}"/>')
        parts.append(f'<line x1="{_PAD_LEFT}" y1="{top:.1f}" x2="{f.width - _PAD_RIGHT}" y2="{top:.1f}" '
                     'stroke="#e3e7ea" stroke-dasharray="3 3"/>')
        for y, text in ((top + 4, high), (bottom, "0" if high != "100%" else "0%")):
            parts.append(f'<text x="{_PAD_LEFT - 5}" y="{y:.1f}" text-anchor="end" font-size="{_FONT}" '
                         f'fill="#555">{text}</text>')
    return parts


def _dates(points: Sequence[TrendPoint], f: _Frame) -> list[str]:
    """The runs' dates under the lower panel: as many as fit without touching, the newest run's always."""
    axis = axis_labels(points)
    room = max(len(line) for label in axis for line in label) * _CHAR_W + 6
    every = max(1, math.ceil(room / f.step))
    last = len(points) - 1
    shown = [i for i in range(0, last, every) if (last - i) * f.step >= room] + [last]
    parts = []
    for i in shown:
        lines = "".join(f'<tspan x="{f.x(i):.1f}" dy="{0 if n == 0 else 11}">{escape(line)}</tspan>'
                        for n, line in enumerate(axis[i]))
        parts.append(f'<text class="trend-label" x="{f.x(i):.1f}" y="{f.axis_y + 13:.1f}" text-anchor="middle" '
                     f'font-size="{_FONT}" fill="#555">{lines}</text>')
    return parts


def _run(i: int, point: TrendPoint, f: _Frame, top_count: int, labelled: bool) -> list[str]:
    """One run's point on the % line and its bar of hosts to act on, each with a tooltip."""
    percent, action, unchecked = point.figures()
    x, when = f.x(i), escape(_when(point))
    bar_w = max(3.0, min(28.0, f.step * 0.55))
    y = f.bottom1 - (f.bottom1 - f.top1) * percent / 100
    parts = [f'<g class="trend-run" data-run="{escape(point.label)}" data-compliant="{percent}" '
             f'data-action="{action}" data-unchecked="{unchecked}">',
             f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{COMPLIANT_COLOUR}"><title>{when}: '
             f"{point.compliant_text} compliant ({point.total} hosts)</title></circle>"]
    if labelled:
        parts.append(f'<text x="{x:.1f}" y="{y - 6:.1f}" text-anchor="middle" font-size="{_FONT}" '
                     f'fill="{TEXT_COLOUR}">{escape(point.compliant_text)}</text>')
    base, scale = f.bottom2, (f.bottom2 - f.top2) / max(1, top_count)
    for n, colour, what in ((action, ACTION_COLOUR, "needing action"), (unchecked, UNCHECKED_COLOUR,
                                                                          "could not check")):
        if n:
            parts.append(f'<rect x="{x - bar_w / 2:.1f}" y="{base - n * scale:.1f}" width="{bar_w:.1f}" '
                         f'height="{n * scale:.1f}" fill="{colour}" data-count="{n}"><title>{when}: {n} {what}'
                         "</title></rect>")
            base -= n * scale
    if labelled:
        parts.append(f'<text x="{x:.1f}" y="{base - 4:.1f}" text-anchor="middle" font-size="{_FONT}" '
                     f'fill="{TEXT_COLOUR}">{action + unchecked}</text>')
    parts.append("</g>")
    return parts


def trend_svg(points: Sequence[TrendPoint], *, width: int = 520, height: int = 250,
              title: str = "% compliant and hosts to act on, last runs") -> Markup:
    """The two panels over the runs, oldest left; "No earlier runs" when there is nothing to draw."""
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
            f"<title>{escape(title)}</title>"]
    if not points:
        head.append(f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" font-size="12" fill="#555">'
                    "No earlier runs recorded yet.</text></svg>")
        return Markup("".join(head))
    f = _frame(len(points), width, height)
    top_count = max(1, max(sum(p.figures()[1:]) for p in points))
    labelled = f.step >= 4 * _CHAR_W + 8  # room for "100%" over every point; else only the newest run's
    line = " ".join(f"{f.x(i):.1f},{f.bottom1 - (f.bottom1 - f.top1) * p.figures()[0] / 100:.1f}"
                    for i, p in enumerate(points))
    parts = [*head,
             *_legend(_PAD_LEFT, 14, [(COMPLIANT_COLOUR, "% of all hosts")], "Compliant"),
             *_legend(_PAD_LEFT, f.bottom1 + 24, [(ACTION_COLOUR, "needing action"),
                                                      (UNCHECKED_COLOUR, "could not check")], "To act on"),
             *_axes(f, top_count),
             f'<polyline points="{line}" fill="none" stroke="{COMPLIANT_COLOUR}" stroke-width="2"/>']
    for i, point in enumerate(points):
        parts += _run(i, point, f, top_count, labelled or i == len(points) - 1)
    parts += _dates(points, f)
    parts.append("</svg>")
    return Markup("".join(parts))
