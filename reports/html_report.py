"""report.html: one self-contained page for the manager (the picture) and the admin (the hosts).

Everything is inline (CSS, JS, an SVG chart), so the file works offline, from a file share or as a
mail attachment, and makes no request at all. Server text is untrusted: Jinja2 autoescapes every
value, nothing from a host is ever marked safe, and a Content-Security-Policy meta tag allows only
our own inline style and script, by their SHA-256 hashes computed at render time.

Reading order is a manager's: the title says scope and date, the summary comes first (% compliant,
needing action, waived, could not check), then `sections` ("Since last run" and the trend chart, from
the history), then the hosts, and the run's details in a collapsed appendix. Printed, the summary is a
page of its own and only the hosts to act on follow, unless the reader asks for every host.
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
from scanner.model.changes import NO_NOTE, Changes, HostNote, weeks_text
from scanner.model.records import VERDICT_ORDER, HostResult, RunMeta, RunResults, Verdict
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


# The run options a reader can act on, with how the command line spells them; internal settings
# (grace, backoff, the password variable's name, ...) stay in results.json only.
SHOWN_OPTIONS: dict[str, str] = {
    "audit": "--audit", "auth": "--auth", "username": "--username", "scheme": "--scheme", "port": "--port",
    "ca_file": "--ca-file", "insecure": "--insecure", "concurrency": "--concurrency", "timeout": "--timeout",
    "connect_timeout": "--connect-timeout", "retries": "--retries", "max_auth_failures": "--max-auth-failures",
    "max_log_bytes": "--max-log-bytes", "waivers": "--waivers",
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One headline number of the summary: the four of them add up to every host."""

    key: str
    label: str
    count: int
    percent: int
    note: str


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
    env.filters["when"] = when_text
    env.filters["day"] = day_text
    env.filters["clip"] = clip
    env.filters["basename"] = lambda p: re.split(r"[\\/]", p or "")[-1]
    env.filters["size"] = lambda n: f"{int(n):,}"
    return env


def utc_text(value: str | None) -> str:
    """ISO 8601 UTC as a log shows it, to the millisecond (evidence lines): 2026-11-20 02:13:12.004Z."""
    return (value or "").replace("T", " ", 1)


def when_text(value: str | None) -> str:
    """A time in prose, to the second: 2026-11-29 09:35:38 UTC."""
    moment = parse_utc(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else (value or "")


def day_text(value: str | None) -> str:
    moment = parse_utc(value)
    return moment.strftime("%Y-%m-%d") if moment else (value or "")


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
    """The options a reader can act on, as the command line spells them; unset ones and internal settings
    are left out, and anything that looks like a secret is masked, should one ever slip in."""
    shown = []
    for key, flag in SHOWN_OPTIONS.items():
        value = options.get(key)
        if value is None or value is False or value == "":
            continue
        text = "" if value is True else str(value)
        shown.append((flag, "***" if _SECRET_OPTION.search(key) else text))
    return shown


def advisory_number(meta: RunMeta) -> str:
    """"954474" for "ms-954474": how admins name a Microsoft advisory."""
    return meta.advisory_id.removeprefix("ms-").removeprefix("MS-") or meta.advisory_id


def report_title(results: RunResults) -> str:
    """"ConfigMgr 2007 audit for advisory 954474 - 42 site servers - 2026-11-29": scope and date first."""
    meta, n = results.meta, len(results.hosts)
    scope = f"{n} site server{'s' if n != 1 else ''}"
    if meta.partial and meta.selection:
        scope += f" ({' '.join(meta.selection)})"
    return f"ConfigMgr 2007 audit for advisory {advisory_number(meta)} - {scope} - {day_text(meta.started)}"


def host_group(host: HostResult) -> str:
    """Which headline figure a host counts in: waived, action (to fix), unchecked, or ok (compliant)."""
    if host.waived:
        return "waived"
    if host.verdict.is_finding:
        return "action"
    return "unchecked" if host.verdict.is_incomplete else "ok"


def headline(hosts: Sequence[HostResult]) -> list[Figure]:
    """% compliant, needing action, waived, could not check: each host in exactly one."""
    groups = Counter(host_group(h) for h in hosts)
    total = len(hosts)

    def pct(n: int) -> int:
        return round(100 * n / total) if total else 0

    return [
        Figure("ok", "compliant", groups["ok"], pct(groups["ok"]), "not affected, recovered or not applicable"),
        Figure("action", "needing action", groups["action"], pct(groups["action"]), "AFFECTED or AT_RISK"),
        Figure("waived", "waived", groups["waived"], pct(groups["waived"]), "accepted until a date"),
        Figure("unchecked", "could not check", groups["unchecked"], pct(groups["unchecked"]), "ERROR or UNKNOWN"),
    ]


def chart_bars(counts: Mapping[Verdict, int], *, width: float = 260.0, row: int = 26) -> list[Bar]:
    """Horizontal bars, one per verdict in VERDICT_ORDER, scaled to the largest count."""
    top = max(counts.values(), default=0) or 1
    return [Bar(v, VERDICT_LABELS[v], counts.get(v, 0), VERDICT_COLOURS[v], i * row,
                round(width * counts.get(v, 0) / top, 1)) for i, v in enumerate(VERDICT_ORDER)]


def render_html(results: RunResults, *, sections: Sequence[Section] = (), changes: Changes | None = None) -> str:
    """The complete page; `changes` (from the history) fills the change, first seen and age columns."""
    hosts = action_order(results.hosts)
    counts = Counter(h.verdict for h in hosts)
    figures = headline(hosts)
    meta = results.meta

    def note(host: HostResult) -> HostNote:
        return changes.annotation_for(host) if changes is not None else NO_NOTE

    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src {css.csp}; script-src {js.csp}; img-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return _environment().get_template(TEMPLATE).render(
        r=results,
        meta=meta,
        title=report_title(results),
        number=advisory_number(meta),
        figures=figures,
        group=host_group,
        note=note,
        weeks=weeks_text,
        has_history=changes is not None,
        remedy=lambda h: remediation_for(h, meta),
        expired_waivers=[w for w in meta.waivers if w.expired],
        waived_count=sum(1 for h in hosts if h.waived),
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
        why=lambda h: why_text(h, meta),
        max_evidence=MAX_EVIDENCE_SHOWN,
        sections=sections,
    )


@dataclass(frozen=True, slots=True)
class HtmlReporter:
    """`sections` go after the summary (e.g. "Since last run"); `changes` fills the history columns."""

    sections: tuple[Section, ...] = ()
    changes: Changes | None = None
    name: str = "html"
    filename: str = "report.html"

    def render(self, results: RunResults) -> bytes:
        return render_html(results, sections=self.sections, changes=self.changes).encode("utf-8", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        atomic_write_bytes(path, self.render(results))
