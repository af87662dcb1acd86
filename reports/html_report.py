"""report.html: one self-contained page for the manager (the picture) and the admin (the hosts).

Everything is inline (CSS, JS, an SVG chart), so the file works offline, from a file share or as a
mail attachment, and makes no request at all. Server text is untrusted: Jinja2 autoescapes every
value, nothing from a host is ever marked safe, and a Content-Security-Policy meta tag allows only
our own inline style and script, by their SHA-256 hashes computed at render time.

Issue 6 adds sections above the summary ("Since last run", a trend chart): pass them as `sections`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reports.atomic import atomic_write_bytes
from reports.base import action_order, needs_action, why_text
from reports.csv_report import key_evidence
from scanner.model.records import VERDICT_ORDER, RunResults, Verdict
from scanner.model.remediation import remediation_for
from scanner.model.times import parse_utc

TEMPLATE = "report.html.j2"
MAX_EVIDENCE_SHOWN = 50  # per host; results.json keeps them all
MAX_TEXT = 4000  # characters of one evidence line or message shown
_SECRET_OPTION = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
_HTTP_URL = re.compile(r"https?://[^\s\"'<>]+\Z")

VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.AFFECTED: "Affected",
    Verdict.AT_RISK: "At risk",
    Verdict.ERROR: "Error",
    Verdict.UNKNOWN: "Unknown",
    Verdict.RECOVERED: "Recovered",
    Verdict.NOT_AFFECTED: "Not affected",
    Verdict.NOT_APPLICABLE: "Not applicable",
}
VERDICT_COLOURS: dict[Verdict, str] = {  # also in report.css (.v-*); SVG uses attributes, not styles
    Verdict.AFFECTED: "#b71c1c",
    Verdict.AT_RISK: "#e65100",
    Verdict.ERROR: "#6a1b9a",
    Verdict.UNKNOWN: "#546e7a",
    Verdict.RECOVERED: "#00796b",
    Verdict.NOT_AFFECTED: "#2e7d32",
    Verdict.NOT_APPLICABLE: "#9e9e9e",
}


@dataclass(frozen=True, slots=True)
class Section:
    """An extra block rendered above the summary: a template under reports/templates and its values."""

    template: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bar:
    verdict: Verdict
    label: str
    count: int
    colour: str
    y: int
    width: float


@dataclass(frozen=True, slots=True)
class Asset:
    """Our own inline CSS or JS, and the CSP source that allows exactly it."""

    text: Markup
    csp: str


@cache
def _asset(name: str) -> Asset:
    text = (resources.files("reports") / "templates" / name).read_text(encoding="utf-8")
    closing = "</style" if name.endswith(".css") else "</script"
    if closing in text.lower():  # would end the inline block early
        raise ValueError(f"{name} must not contain {closing}")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    # Markup: this is our packaged file, not server text; it must reach the page byte for byte
    return Asset(Markup(text), f"'sha256-{digest}'")


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = utc_text
    env.filters["utc_short"] = utc_short
    env.filters["clip"] = clip
    env.filters["basename"] = lambda p: re.split(r"[\\/]", p or "")[-1]
    env.filters["size"] = lambda n: f"{int(n):,}"
    return env


def utc_text(value: str | None) -> str:
    """ISO 8601 UTC as people read it: 2026-11-20 02:13:12.004Z."""
    return (value or "").replace("T", " ", 1)


def utc_short(value: str | None) -> str:
    """Table-cell time: whole seconds (the details show the milliseconds)."""
    return re.sub(r"\.\d+(?=Z|[+-]\d\d:\d\d|$)", "", utc_text(value))


def clip(value: str | None, limit: int = MAX_TEXT) -> str:
    text = value or ""
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit:,} more characters]"


def duration_text(started: str | None, finished: str | None) -> str:
    a, b = parse_utc(started), parse_utc(finished)
    if a is None or b is None or (a.tzinfo is None) != (b.tzinfo is None):
        return ""
    seconds = int((b - a).total_seconds())
    if seconds < 0:
        return ""
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def kb_link(results: RunResults) -> str | None:
    """The KB article's address, only if it is a plain http(s) URL (a results file could say javascript:)."""
    url = results.meta.kb_url.strip()
    if not url and results.meta.advisory_kb.strip().isdigit():
        url = f"https://support.microsoft.com/kb/{results.meta.advisory_kb.strip()}"
    return url if _HTTP_URL.match(url) else None


def option_items(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Options as shown; anything that looks like a secret is masked, should one ever slip in."""
    return [(str(k), "***" if _SECRET_OPTION.search(str(k)) else str(v)) for k, v in sorted(options.items())]


def chart_bars(counts: Mapping[Verdict, int], *, width: float = 260.0, row: int = 26) -> list[Bar]:
    """Horizontal bars, one per verdict in VERDICT_ORDER, scaled to the largest count."""
    top = max(counts.values(), default=0) or 1
    return [Bar(v, VERDICT_LABELS[v], counts.get(v, 0), VERDICT_COLOURS[v], i * row,
                round(width * counts.get(v, 0) / top, 1)) for i, v in enumerate(VERDICT_ORDER)]


def render_html(results: RunResults, *, sections: Sequence[Section] = ()) -> str:
    """The complete page."""
    hosts = action_order(results.hosts)
    counts = Counter(h.verdict for h in hosts)
    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src {css.csp}; script-src {js.csp}; img-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return _environment().get_template(TEMPLATE).render(
        r=results,
        meta=results.meta,
        hosts=hosts,
        counts=counts,
        total=len(hosts),
        action_count=sum(1 for h in hosts if needs_action(h)),
        verdicts=VERDICT_ORDER,
        labels=VERDICT_LABELS,
        rank=rank,
        bars=chart_bars(counts),
        css=css.text,
        js=js.text,
        csp=csp,
        kb_url=kb_link(results),
        options=option_items(results.meta.options),
        duration=duration_text(results.meta.started, results.meta.finished),
        key_evidence=key_evidence,
        why=why_text,
        hint=lambda host: remediation_for(host, results.meta),
        max_evidence=MAX_EVIDENCE_SHOWN,
        sections=sections,
    )


@dataclass(frozen=True, slots=True)
class HtmlReporter:
    """`sections` go above the summary (e.g. issue 6's "Since last run")."""

    sections: tuple[Section, ...] = ()
    name: str = "html"
    filename: str = "report.html"

    def render(self, results: RunResults) -> bytes:
        return render_html(results, sections=self.sections).encode("utf-8", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        atomic_write_bytes(path, self.render(results))
