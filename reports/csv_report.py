"""report.csv: one row per host, for the admin who sorts and filters in a spreadsheet.

UTF-8 with a BOM (so Excel detects the encoding), RFC 4180 quoting with CRLF line ends, hosts
needing action first. Columns, in this fixed order (new columns are only ever appended):

    host              name from the inventory
    address           address contacted
    port              WinRM port
    scheme            http or https
    site_code         ConfigMgr site code (from the registry, else the inventory)
    site_type         Setup\\Type as the registry holds it ("1"): its coding is not publicly confirmed for
                      ConfigMgr 2007 (SMS 2.0's KB Q273853 says 1 = primary, the reverse of WMI), so it is raw
    build             ConfigMgr "Full Version", e.g. 4.00.6221.1000
    build_name        what the build is, e.g. "ConfigMgr 2007 SP1"
    verdict           AFFECTED, AT_RISK, ERROR, UNKNOWN, RECOVERED, NOT_AFFECTED, NOT_APPLICABLE
    needs_action      "yes" for AFFECTED/AT_RISK (fix) and ERROR/UNKNOWN (check again) unless waived, else "no"
    reason            every reason for the verdict, joined with "; "
    evidence_file     the key evidence line: the first with role "failure", else the first listed
    evidence_line     its 1-based line number in that file (empty for facts not from a log)
    evidence_time     its time (UTC)
    evidence_text     its text (long text is cut at 2,000 characters)
    evidence_count    how many evidence lines the host has in results.json
    log_window_first  the earliest time the collected logs cover (UTC)
    log_window_last   the latest time the collected logs cover (UTC)
    error_category    unreachable, timeout, auth, auth-skipped, access, tls, protocol, interrupted, local,
                      internal, other
    error_message     why the host could not be collected
    scanned_at_utc    when the host's scan finished (else started; else the run's start)
    seconds           how long the host took
    tags              inventory tags, joined with "; "
    advisory          advisory id, e.g. ms-954474
    run_id            the run the row comes from (after `cmaudit report` merging, per source run)
    first_seen        when the host's current finding was first seen (UTC date; needs the history)
    change            since the last run: new, fixed, regressed, still-open, newly-unreachable, added,
                      waived or waiver-ended (empty when nothing changed or without a history)
    age_weeks         whole weeks since first_seen
    last_known_build  for a host with no build now (ERROR): the last build the history saw
    waived            "yes" while a waiver covers the verdict, "expired" for a waiver past its date, else "no"
    waiver_owner      who accepted the risk
    waiver_expires    the waiver's last day (date)
    waiver_reason     why the risk was accepted
    remediation       what to do: the advisory's text for the verdict; for ERROR, the error's hint
    site_database     "yes" when the SMS\\SQL Server key of a site database is there, "no" when not (a
                      secondary site, with Setup\\Type 2), empty when not read
    itmu_pkgsource    ITMU's PkgSource folder, "not installed", or empty when not read
    catalog_written   when ITMU's wsusscn2.cab was last written (the server's local time, as `dir` shows it)
    updatewuscatalog  bin\\i386\\updatewuscatalog.exe: written, size, file version (evidence only)
    hotfix_registrations  registrations naming the advisory's KB under the Updates and Uninstall keys,
                      joined with "; " ("none found"; empty when not read): evidence, never a verdict

Times are UTC written as `2026-11-29 09:35:38` (dates as `2026-11-29`), a form Excel and LibreOffice
read as dates; results.json keeps the full ISO 8601 times with milliseconds.

Formula injection: text from a server or an inventory is untrusted, and a spreadsheet runs a cell
starting with `=`, `+`, `-`, `@`, tab or CR as a formula (`=HYPERLINK(...)`, DDE). Every *text* cell
starting with one of those (also after leading spaces, and their full-width forms) gets a leading
single quote, the OWASP advice, so it shows as text. Only the numeric columns we format ourselves
from numbers (port, evidence_line, evidence_count, seconds, age_weeks) are left alone: even a negative one is a
plain number to a spreadsheet, never a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from reports.atomic import atomic_write_bytes
from reports.base import action_order, needs_action, results_beside, with_results_path
from scanner.model.changes import NO_NOTE, Changes, HostNote
from scanner.model.records import Evidence, FileStamp, HostResult, RunResults
from scanner.model.remediation import remediation_for
from scanner.model.times import parse_utc

MAX_TEXT_CELL = 2000  # Excel's hard cell limit is 32,767; a log line this long is noise anyway
_FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")  # + full-width = + - @


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    value: Callable[[HostResult, RunResults], str | int | float | None]
    text: bool = True  # False only for numbers we produce ourselves


def excel_time(value: str | None) -> str | None:
    """An ISO time as UTC `YYYY-MM-DD HH:MM:SS`, which spreadsheets read as a date and time."""
    moment = parse_utc(value)
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def excel_date(value: str | None) -> str | None:
    moment = parse_utc(value)
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


def key_evidence(host: HostResult) -> Evidence | None:
    """The evidence line a row shows: the failure if there is one, else the first listed."""
    for ev in host.evidence:
        if ev.role == "failure":
            return ev
    return host.evidence[0] if host.evidence else None


def _ev(attr: str) -> Callable[[HostResult, RunResults], str | int | None]:
    def get(h: HostResult, _r: RunResults) -> str | int | None:
        ev = key_evidence(h)
        if ev is None:
            return None
        value: str | int | None = getattr(ev, attr)
        if attr == "time":
            return excel_time(ev.time)
        return None if attr == "line" and value == 0 else value

    return get


COLUMNS: tuple[Column, ...] = (
    Column("host", lambda h, r: h.host),
    Column("address", lambda h, r: h.address),
    Column("port", lambda h, r: h.port, text=False),
    Column("scheme", lambda h, r: h.scheme),
    Column("site_code", lambda h, r: h.facts.site_code or h.site_code),
    Column("site_type", lambda h, r: h.facts.site_type),
    Column("build", lambda h, r: h.facts.build),
    Column("build_name", lambda h, r: h.build_name),
    Column("verdict", lambda h, r: h.verdict.value),
    Column("needs_action", lambda h, r: "yes" if needs_action(h) else "no"),
    Column("reason", lambda h, r: "; ".join(h.reasons)),
    Column("evidence_file", _ev("file")),
    Column("evidence_line", _ev("line"), text=False),
    Column("evidence_time", _ev("time")),
    Column("evidence_text", _ev("text")),
    Column("evidence_count", lambda h, r: len(h.evidence), text=False),
    Column("log_window_first", lambda h, r: excel_time(h.window.first) if h.window else None),
    Column("log_window_last", lambda h, r: excel_time(h.window.last) if h.window else None),
    Column("error_category", lambda h, r: h.error.category.value if h.error else None),
    Column("error_message", lambda h, r: h.error.message if h.error else None),
    Column("scanned_at_utc", lambda h, r: excel_time(h.finished or h.started or r.meta.started)),
    Column("seconds", lambda h, r: f"{h.seconds:.1f}", text=False),
    Column("tags", lambda h, r: "; ".join(h.tags)),
    Column("advisory", lambda h, r: r.meta.advisory_id),
    Column("run_id", lambda h, r: r.meta.run_id),
)


def waiver_state(host: HostResult) -> str:
    return "yes" if host.waived else "expired" if host.waiver is not None else "no"


def note_columns(changes: Changes | None, results_path: str | None = None) -> tuple[Column, ...]:
    """The columns the history fills (empty without one), then the waiver and remediation columns (the hint naming
    `results_path`, the results.json beside the file, where it says to scan again)."""
    def note(h: HostResult) -> HostNote:
        return changes.annotation_for(h) if changes is not None else NO_NOTE

    return (
        Column("first_seen", lambda h, r: excel_date(note(h).first_seen)),
        Column("change", lambda h, r: note(h).change or None),
        Column("age_weeks", lambda h, r: note(h).age_weeks, text=False),
        Column("last_known_build", lambda h, r: note(h).last_build),
        Column("waived", lambda h, r: waiver_state(h)),
        Column("waiver_owner", lambda h, r: h.waiver.owner if h.waiver else None),
        Column("waiver_expires", lambda h, r: h.waiver.expires if h.waiver else None),
        Column("waiver_reason", lambda h, r: h.waiver.reason if h.waiver else None),
        Column("remediation", lambda h, r: with_results_path(remediation_for(h, r.meta), results_path) or None),
    )


def _stamp(stamp: FileStamp | None) -> str | None:
    if stamp is None:
        return None
    parts = [f"written {stamp.written}" if stamp.written else "", f"{stamp.size:,} bytes" if stamp.size else "",
             f"version {stamp.version}" if stamp.version else ""]
    return ", ".join(p for p in parts if p) or "found"


# What the scan read besides the logs (issue 21): evidence shown with the verdict, never deciding it.
SITE_COLUMNS: tuple[Column, ...] = (
    Column("site_database", lambda h, r: None if h.facts.site_database is None else
           "yes" if h.facts.site_database else "no"),
    Column("itmu_pkgsource", lambda h, r: h.facts.itmu_folder if h.facts.itmu_folder != "" else "not installed"),
    Column("catalog_written", lambda h, r: h.facts.catalog.written if h.facts.catalog else None),
    Column("updatewuscatalog", lambda h, r: _stamp(h.facts.program)),
    Column("hotfix_registrations", lambda h, r: None if h.facts.hotfix is None else
           "; ".join(h.facts.hotfix) or "none found"),
)

FIELDNAMES: tuple[str, ...] = tuple(c.name for c in (*COLUMNS, *note_columns(None), *SITE_COLUMNS))


def neutralise(cell: str) -> str:
    """Make a spreadsheet show `cell` as text, never run it as a formula."""
    if cell and (cell[0] in _FORMULA_START or cell.lstrip(" \u00a0")[:1] in _FORMULA_START):
        return "'" + cell
    return cell


def _text_cell(value: str) -> str:
    if len(value) > MAX_TEXT_CELL:
        value = value[:MAX_TEXT_CELL] + " [...]"
    # NUL and other C0 controls break some CSV readers; tab/LF/CR are kept (quoting handles them)
    value = value.translate(_CONTROL_MAP)
    return neutralise(value)


_CONTROL_MAP = {c: "\ufffd" for c in range(0x20) if chr(c) not in "\t\n\r"} | {0x7F: "\ufffd"}


def _cell(column: Column, host: HostResult, results: RunResults) -> str:
    value = column.value(host, results)
    if value is None:
        return ""
    if not column.text:
        return str(value)
    return _text_cell(str(value))


def render_csv(results: RunResults, *, changes: Changes | None = None,
               extra_columns: Sequence[Column] = (), results_path: str | None = None) -> str:
    """The CSV text (without the BOM); `extra_columns` are appended after the documented ones."""
    columns = (*COLUMNS, *note_columns(changes, results_path), *SITE_COLUMNS, *extra_columns)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([c.name for c in columns])
    for host in action_order(results.hosts):
        writer.writerow([_cell(c, host, results) for c in columns])
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class CsvReporter:
    """`changes` fills the history columns; `extra_columns` lets later features add columns at the end."""

    changes: Changes | None = None
    extra_columns: tuple[Column, ...] = ()
    name: str = "csv"
    filename: str = "report.csv"

    def render(self, results: RunResults, *, results_path: str | None = None) -> bytes:
        # utf-8-sig writes the BOM Excel needs; lone surrogates from a broken log become '?'
        return render_csv(results, changes=self.changes, extra_columns=self.extra_columns,
                          results_path=results_path).encode("utf-8-sig", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        """The file beside its results.json, whose real path the hints give."""
        atomic_write_bytes(path, self.render(results, results_path=results_beside(path)))
