"""report.html: one self-contained page for the manager (the picture) and the admin (the hosts).

Everything is inline (CSS, JS, an SVG chart), so the file works offline, from a file share or as a
mail attachment, and makes no request at all. Server text is untrusted: Jinja2 autoescapes every
value, nothing from a host is ever marked safe, and a Content-Security-Policy meta tag allows only
our own inline style and script, by their SHA-256 hashes computed at render time.

Reading order is a manager's: the title says scope and date; the summary gives the four headline
figures (each host in one of them) and what changed since the last run; the findings follow, one block
per thing to do with its advice once and its hosts under it; then `sections` ("Since last run" and the
trend, from the history), the tables by site and by build, the sortable host table for the admin, and
the run's details in a collapsed appendix. Printed, everything but the host table and the appendix
fits a few A4 pages; the reader can add the host table (and its details).
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
from markupsafe import Markup, escape

from reports.atomic import atomic_write_bytes
from reports.base import action_order, needs_action, results_beside, why_text, with_results_path
from reports.csv_report import key_evidence
from reports.overview import (
    VERDICT_LABELS,
    HistoryCells,
    by_build,
    by_site,
    change_tiles,
    differences,
    findings,
    headline,
    history_cells,
    host_group,
    known_site,
    site_of,
)
from scanner.model.changes import NO_NOTE, Changes, HostNote, weeks_text
from scanner.model.host import canonical_ipv4, endpoint, is_ip_address
from scanner.model.records import VERDICT_ORDER, HostResult, RunMeta, RunResults
from scanner.model.remediation import remediation_for
from scanner.model.times import parse_utc

TEMPLATE = "report.html.j2"
MAX_EVIDENCE_SHOWN = 50  # per host; results.json keeps them all
MAX_TEXT = 4000  # characters of one evidence line or message shown
MAX_FINDING_HOSTS = 100  # hosts listed under one piece of advice; the host table below has them all
_SECRET_OPTION = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
_HTTP_URL = re.compile(r"https?://[^\s\"'<>]+\Z")
_BREAK_AFTER = re.compile(r"(?<=[.:\\/_-])")
_PATH_BREAK = re.compile(r"(?<=[\\/])")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
ADDRESS_WIDTHS = (16, 22, 30, 40, 48)  # characters; report.css has a class per width



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
    env.filters["breakable"] = breakable
    env.filters["keep_figures"] = keep_figures
    env.filters["host_name"] = host_name
    env.filters["path"] = path
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
    first, last = day_text(meta.started), day_text(meta.finished)
    when = f"{first} to {last}" if meta.merged_from and meta.finished and last != first else first
    if meta.merged_from:
        scope += f", {len(meta.merged_from)} runs merged"
    return f"ConfigMgr 2007 audit for advisory {advisory_number(meta)} - {scope} - {when}"


def breakable(value: object) -> Markup:
    """Text that may wrap only after a separator (`.`, `:`, `-`, `\\`, `/`, `_`): an address or a build
    breaks between its parts, never inside a number. Escaped here, piece by piece."""
    return Markup("<wbr>").join(escape(part) for part in _BREAK_AFTER.split(str(value or "")))


def path(value: object) -> Markup:
    """A file or registry path that may wrap only after a `\\` or `/`, so a file name (wsyncmgr.log) stays whole."""
    return Markup("<wbr>").join(escape(part) for part in _PATH_BREAK.split(str(value or "")))


def keep_figures(value: object) -> Markup:
    """Text that may wrap between its words, never inside one holding a figure (a date, a count): escaped."""
    words = str(value or "").split(" ")
    return Markup(" ").join(Markup('<span class="nowrap">{}</span>').format(w) if any(c.isdigit() for c in w)
                            else escape(w) for w in words)


def host_name(value: object) -> Markup:
    """A host name that stays told apart from its neighbours in a narrow column: the short name first, whole (it
    wraps at its separators), then the domain, which may be cut at its end (the least distinguishing part)."""
    name = str(value or "")
    short, dot, domain = name.partition(".")
    if not dot or not short or is_ip_address(name) or short.isdigit():
        return Markup('<span class="short">{}</span>').format(breakable(name))
    return Markup('<span class="short">{}</span><span class="domain">.{}</span>').format(breakable(short), domain)


def address_cell(host: HostResult, width: int) -> Markup:
    """`address:port` for a table cell: an IPv4 address whole, always; a name or an IPv6 address may wrap at its
    separators where the column is narrower than the longest (ADDRESS_WIDTHS)."""
    text = endpoint(host.address, host.port)
    if width <= ADDRESS_WIDTHS[1] or canonical_ipv4(host.address) is not None:
        return Markup('<span class="nowrap">{}</span>').format(text)
    return breakable(text)


def address_width(hosts: Sequence[HostResult]) -> int:
    """The width class (characters) of the host table's Address column: the longest `address:port` fits
    whole, up to ADDRESS_WIDTHS[-1]; longer ones wrap at their separators."""
    longest = max((len(endpoint(h.address, h.port)) for h in hosts), default=0)
    return next((w for w in ADDRESS_WIDTHS if longest <= w), ADDRESS_WIDTHS[-1])


def merged_runs(meta: RunMeta) -> list[str]:
    """The runs a merged report was made of, one line each (results files of earlier cmaudit versions too)."""
    return [_ISO_TIME.sub(lambda m: when_text(m.group(0)), line) for line in meta.merged_from]


def render_html(results: RunResults, *, sections: Sequence[Section] = (), changes: Changes | None = None,
                results_path: str | None = None) -> str:
    """The complete page; `changes` (from the history) fills the change tiles and the history columns;
    `results_path`, where the results file is known, replaces `RESULTS.json` in the advice."""
    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src {css.csp}; script-src {js.csp}; img-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    return _environment().get_template(TEMPLATE).render(
        **_host_context(results, changes), **_run_context(results, results_path), sections=sections,
        css=css.text, js=js.text, csp=csp)


def _run_context(results: RunResults, results_path: str | None) -> dict[str, Any]:
    """What the page says about the run itself."""
    meta = results.meta
    return dict(
        r=results, meta=meta, title=report_title(results), number=advisory_number(meta),
        expired_waivers=[w for w in meta.waivers if w.expired], kb_url=kb_link(results),
        options=option_items(meta.options), duration=duration_text(meta.started, meta.finished),
        merged=merged_runs(meta), verdicts=VERDICT_ORDER, labels=VERDICT_LABELS,
        rank={v: i for i, v in enumerate(VERDICT_ORDER)}, max_evidence=MAX_EVIDENCE_SHOWN,
        max_listed=MAX_FINDING_HOSTS,
        key_evidence=key_evidence, weeks=weeks_text,
        endpoint=lambda h: endpoint(h.address, h.port), group=host_group, site_of=site_of,
        remedy=lambda h: with_results_path(remediation_for(h, meta), results_path), why=lambda h: why_text(h, meta),
        real_paths=lambda text: with_results_path(text, results_path),
    )


def _host_context(results: RunResults, changes: Changes | None) -> dict[str, Any]:
    """The figures, findings, tables and rows computed from the hosts (and the history's changes)."""
    hosts = action_order(results.hosts)
    shown = differences(hosts, results.meta)
    width = address_width(hosts)

    def note(host: HostResult) -> HostNote:
        return changes.annotation_for(host) if changes is not None else NO_NOTE

    def cells(host: HostResult) -> HistoryCells:
        return history_cells(changes, host, note(host)) if changes is not None else HistoryCells()

    return dict(
        hosts=hosts, total=len(hosts), counts=Counter(h.verdict for h in hosts), figures=headline(hosts),
        findings=findings(hosts, results.meta), waived_hosts=[h for h in hosts if h.waived],
        action_count=sum(1 for h in hosts if needs_action(h)), waived_count=sum(1 for h in hosts if h.waived),
        sites=by_site(hosts, note), builds=by_build(hosts), differs=lambda h: shown.get(id(h), ""),
        note=note, history=cells, has_history=changes is not None, changes=changes,
        tiles=change_tiles(changes) if changes is not None else [], address_width=width,
        address=lambda h: address_cell(h, width),
        last_known=any((not h.facts.build and note(h).last_build) or known_site(h, note(h))[1] for h in hosts),
        known_site=lambda h: known_site(h, note(h)),
    )


@dataclass(frozen=True, slots=True)
class HtmlReporter:
    """`sections` go after the summary (e.g. "Since last run"); `changes` fills the history columns."""

    sections: tuple[Section, ...] = ()
    changes: Changes | None = None
    name: str = "html"
    filename: str = "report.html"

    def render(self, results: RunResults, *, results_path: str | None = None) -> bytes:
        return render_html(results, sections=self.sections, changes=self.changes,
                           results_path=results_path).encode("utf-8", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        """The page beside its results.json, whose real path the advice gives."""
        atomic_write_bytes(path, self.render(results, results_path=results_beside(path)))
