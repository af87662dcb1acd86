"""The normalised result records every part of cmaudit shares.

Collection produces them, the advisory engine fills in the judgement, and every reporter consumes
them (reports/ imports this module and nothing of the scanner's network code). `results.json` is
these records as plain JSON; `to_dict`/`from_dict` are the one place that mapping lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from scanner.model.audit_name import check_audit_name

RESULTS_SCHEMA_VERSION = 1


class Verdict(StrEnum):
    """A host's verdict; the names are part of the interface (reports, exit codes, tests)."""

    AFFECTED = "AFFECTED"
    AT_RISK = "AT_RISK"
    RECOVERED = "RECOVERED"
    NOT_AFFECTED = "NOT_AFFECTED"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    UNKNOWN = "UNKNOWN"
    ERROR = "ERROR"

    @property
    def is_finding(self) -> bool:
        """Hosts an admin must act on."""
        return self in (Verdict.AFFECTED, Verdict.AT_RISK)

    @property
    def is_incomplete(self) -> bool:
        """Hosts the audit could not judge."""
        return self in (Verdict.ERROR, Verdict.UNKNOWN)


# Most urgent first: the order reports list hosts in.
VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.AFFECTED,
    Verdict.AT_RISK,
    Verdict.ERROR,
    Verdict.UNKNOWN,
    Verdict.RECOVERED,
    Verdict.NOT_AFFECTED,
    Verdict.NOT_APPLICABLE,
)


class ErrorCategory(StrEnum):
    """Why a host could not be collected."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTH = "auth"
    AUTH_SKIPPED = "auth-skipped"
    ACCESS = "access"  # logged on, but not allowed (not an administrator, remote shells off, ACL denied)
    TLS = "tls"  # the TLS handshake failed (certificate, or a 2003/2008 listener that speaks only TLS 1.0)
    PROTOCOL = "protocol"
    INTERRUPTED = "interrupted"
    LOCAL = "local"  # the jump box's problem (cannot save evidence), not the host's
    INTERNAL = "internal"  # a bug in cmaudit; the traceback is in the debug log
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One log line (or fact) that led to a verdict; enough to reproduce it by hand."""

    file: str
    line: int  # 1-based, where the entry starts in that file; 0 for facts not from a log
    time: str | None  # ISO 8601 UTC ("2008-06-11T03:14:15.123Z") when the line carries a time
    text: str
    role: str = ""  # e.g. "sync-start", "failure", "summary", "success", "other-error", "build"


@dataclass(frozen=True, slots=True)
class Window:
    """The time span the collected logs cover (UTC, ISO 8601)."""

    first: str | None
    last: str | None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The advisory engine's output for one host."""

    verdict: Verdict
    reasons: tuple[str, ...]
    evidence: tuple[Evidence, ...] = ()
    build: str | None = None
    build_name: str | None = None
    window: Window | None = None
    advisory_id: str = ""
    remediation: str = ""  # what to do: the advisory's text for the verdict, and for the case where it has one


@dataclass(frozen=True, slots=True)
class LogFileFact:
    """A collected log file: where it was, how big, its hash, where the evidence copy is kept."""

    path: str
    size: int
    sha256: str
    truncated: bool = False  # the --max-log-bytes cap was hit
    saved_as: str | None = None  # gzip copy under the run folder, relative to it


@dataclass(frozen=True, slots=True)
class FileStamp:
    """A file on the server as `dir` listed it (and, for a program, the version its resource holds): evidence only."""

    path: str
    written: str | None = None  # the last write, local time of the server as dir shows it: "2008-06-11 03:12"
    size: int | None = None
    version: str | None = None  # the file version from its version resource, where it could be read


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What collection learned about a site server."""

    build: str | None = None
    site_code: str | None = None
    # Setup\Type as the registry holds it ("1"): its coding is not publicly confirmed for ConfigMgr 2007 (the
    # SMS 2.0 KB Q273853 says 1 = primary, 2 = secondary, the reverse of WMI's SMS_Site.Type), so it stays raw
    site_type: str | None = None
    install_dir: str | None = None
    registry_root: str | None = None  # HKLM\SOFTWARE\Microsoft\SMS or ...\Wow6432Node\...
    log_path: str | None = None
    logs: tuple[LogFileFact, ...] = ()
    codepage: int | None = None  # the WinRS shell's code page: 65001, or 437 where the host refused UTF-8
    site_database: bool | None = None  # the SMS\SQL Server key a site with a database has: found, absent, not read
    itmu_folder: str | None = None  # ITMU's PkgSource folder ("": ITMU looked for and not found; None: not read)
    catalog: FileStamp | None = None  # ITMU's wsusscn2.cab, the catalog a legacy sync processes
    program: FileStamp | None = None  # <Installation Directory>\bin\i386\updatewuscatalog.exe
    hotfix: tuple[str, ...] | None = None  # registrations naming the advisory's KB (None: not looked for): evidence


@dataclass(frozen=True, slots=True)
class HostFailure:
    """Why a host has no judgement (the ERROR verdict): a category reports count, a one-line message, and a
    hint: one sentence an admin can act on (a setting, a group membership, a port, an inventory option)."""

    category: ErrorCategory
    message: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Waiver:
    """An accepted risk: an owner signed off a host's finding until a date (one `[[waiver]]` of a waivers file).

    A waived host keeps its real verdict; only `needs_action` (and the exit status) change, and only
    while the waiver has not expired.
    """

    host: str  # the host pattern as written (fnmatch, matched on the inventory name)
    reason: str
    owner: str
    expires: str  # ISO date (YYYY-MM-DD), the last day the waiver holds
    verdicts: tuple[str, ...] = ("AFFECTED", "AT_RISK")
    expired: bool = False  # past `expires` on the run's date: no longer waives
    source: str = ""  # "file:line" of its [[waiver]] header


WAIVABLE_VERDICTS = ("AFFECTED", "AT_RISK", "ERROR", "UNKNOWN")  # the verdicts that need action
MAX_WAIVER_TEXT = 1000  # host pattern, reason, owner: the waivers file's bound, also for a waiver read back


@dataclass(frozen=True, slots=True)
class HostResult:
    """One host's line in every report."""

    host: str  # the name from the inventory
    address: str
    port: int
    scheme: str
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    build_name: str | None = None
    window: Window | None = None
    facts: HostFacts = field(default_factory=HostFacts)
    error: HostFailure | None = None
    site_code: str | None = None
    tags: tuple[str, ...] = ()
    started: str | None = None
    finished: str | None = None
    seconds: float = 0.0
    requests: int = 0
    attempts: int = 0
    waiver: Waiver | None = None  # the waiver that matched this host and its verdict (expired ones too)

    @property
    def waived(self) -> bool:
        """A waiver in force covers this host's verdict."""
        return self.waiver is not None and not self.waiver.expired

    @property
    def needs_action(self) -> bool:
        """A finding to fix or a host to check again, and no waiver in force: what sets the exit status."""
        return (self.verdict.is_finding or self.verdict.is_incomplete) and not self.waived


@dataclass(frozen=True, slots=True)
class RejectedPassword:
    """An account the run stopped short for: hosts rejected its password, or took it without an answer as often
    as its lockout allowance; what every report says first. Three readings, each with its own words:

        accepted_by   rejected_by   headline              what is true
        0             > 0           PASSWORD REJECTED     the password is wrong (or the account refused)
        > 0           > 0           ACCOUNT REFUSED       the password worked elsewhere in this run: those hosts
                                                          refused the account (not an administrator there) or
                                                          the password changed mid-run
        0             0             PASSWORD UNCONFIRMED  hosts took the password without an answer (timeouts,
                                                          server errors): cmaudit stopped before more could
    """

    account: str  # DOMAIN\\user as the run used it (never the password)
    rejected_by: int  # hosts that rejected the password
    not_tried: int  # hosts of the account not tried, to protect it from a lockout
    unanswered: int = 0  # hosts the password went to without an answer, when they tripped the account
    accepted_by: int = 0  # hosts where the account logged on in the same run

    @property
    def headline(self) -> str:
        if self.accepted_by and self.rejected_by:
            return "ACCOUNT REFUSED"
        return "PASSWORD REJECTED" if self.rejected_by else "PASSWORD UNCONFIRMED"

    @property
    def sentence(self) -> str:
        unanswered = f"; {self.unanswered} more took it without an answer" if self.unanswered else ""
        if self.accepted_by and self.rejected_by:
            return (f"{self.account} was refused by {self.rejected_by} host(s) although {self.accepted_by} host(s) "
                    f"accepted its password in this run (not an administrator there, or the password changed "
                    f"mid-run){unanswered}; {self.not_tried} not tried to protect the account")
        if self.rejected_by:
            return (f"the password for {self.account} was rejected by {self.rejected_by} host(s){unanswered}; "
                    f"{self.not_tried} not tried to protect the account")
        return (f"the password for {self.account} went to {self.unanswered} host(s) without an answer (a timeout or "
                f"a server error), as many as its lockout allowance; {self.not_tried} not tried to protect the "
                "account")

    @property
    def advice(self) -> str:
        """What to do about it, for the console and the HTML report."""
        if self.accepted_by and self.rejected_by:
            return ("check the account's rights on the hosts that refused it (local Administrators), or the password "
                    "if it changed, then scan again")
        if self.rejected_by:
            return "fix the password, then scan again"
        return "check the hosts that did not answer (or raise --timeout), then scan again"


@dataclass(frozen=True, slots=True)
class RunMeta:
    """What a report needs to say about the run itself."""

    run_id: str
    started: str
    finished: str | None
    cmaudit_version: str
    advisory_id: str
    advisory_title: str
    advisory_kb: str
    advisory_sha256: str
    inventory_path: str | None = None
    inventory_sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    insecure: bool = False
    interrupted: bool = False
    merged_from: tuple[str, ...] = ()
    remediation: str = ""
    kb_url: str = ""
    audit: str | None = None  # the audit name runs are compared by in the history (--audit)
    selection: tuple[str, ...] = ()  # how hosts were chosen ("--hosts CM0*", "--rescan-failed ..."); () = all
    partial: bool = False  # only some of the inventory's hosts were scanned (--hosts/--tag/--site)
    verdict_text: dict[str, str] = field(default_factory=dict)  # the advisory's headline per verdict
    verdict_remediation: dict[str, str] = field(default_factory=dict)  # the advisory's fix per verdict
    waiver_file: str | None = None
    waivers: tuple[Waiver, ...] = ()  # every waiver of the file, `expired` as of this run
    rejected_passwords: tuple[RejectedPassword, ...] = ()  # the audit is incomplete: said first, everywhere


@dataclass(frozen=True, slots=True)
class RunResults:
    meta: RunMeta
    hosts: tuple[HostResult, ...]


def _evidence_to_dict(e: Evidence) -> dict[str, Any]:
    return {"file": e.file, "line": e.line, "time": e.time, "text": e.text, "role": e.role}


def _window_to_dict(w: Window | None) -> dict[str, Any] | None:
    return None if w is None else {"first": w.first, "last": w.last}


def waiver_to_dict(w: Waiver) -> dict[str, Any]:
    return {"host": w.host, "reason": w.reason, "owner": w.owner, "expires": w.expires,
            "verdicts": list(w.verdicts), "expired": w.expired, "source": w.source}


def _stamp_to_dict(s: FileStamp | None) -> dict[str, Any] | None:
    return None if s is None else {"path": s.path, "written": s.written, "size": s.size, "version": s.version}


def judgement_to_dict(j: Judgement) -> dict[str, Any]:
    return {
        "verdict": j.verdict.value,
        "reasons": list(j.reasons),
        "evidence": [_evidence_to_dict(e) for e in j.evidence],
        "build": j.build,
        "build_name": j.build_name,
        "window": _window_to_dict(j.window),
        "advisory": j.advisory_id,
    }


def host_to_dict(h: HostResult) -> dict[str, Any]:
    f = h.facts
    return {
        "host": h.host,
        "address": h.address,
        "port": h.port,
        "scheme": h.scheme,
        "site_code": h.site_code,
        "tags": list(h.tags),
        "verdict": h.verdict.value,
        "reasons": list(h.reasons),
        "evidence": [_evidence_to_dict(e) for e in h.evidence],
        "build_name": h.build_name,
        "window": _window_to_dict(h.window),
        "facts": {
            "build": f.build,
            "site_code": f.site_code,
            "site_type": f.site_type,
            "install_dir": f.install_dir,
            "registry_root": f.registry_root,
            "log_path": f.log_path,
            "codepage": f.codepage,
            "site_database": f.site_database,
            "itmu_folder": f.itmu_folder,
            "catalog": _stamp_to_dict(f.catalog),
            "program": _stamp_to_dict(f.program),
            "hotfix": None if f.hotfix is None else list(f.hotfix),
            "logs": [
                {"path": lf.path, "size": lf.size, "sha256": lf.sha256, "truncated": lf.truncated,
                 "saved_as": lf.saved_as}
                for lf in f.logs
            ],
        },
        "error": None if h.error is None else {"category": h.error.category.value, "message": h.error.message,
                                               "hint": h.error.hint},
        "started": h.started,
        "finished": h.finished,
        "seconds": h.seconds,
        "requests": h.requests,
        "attempts": h.attempts,
        "waiver": None if h.waiver is None else waiver_to_dict(h.waiver),
        "needs_action": h.needs_action,  # derived (verdict and waiver); written for readers of the file
    }


def meta_to_dict(m: RunMeta) -> dict[str, Any]:
    return {
        "run_id": m.run_id,
        "started": m.started,
        "finished": m.finished,
        "cmaudit_version": m.cmaudit_version,
        "advisory": {"id": m.advisory_id, "title": m.advisory_title, "kb": m.advisory_kb,
                     "sha256": m.advisory_sha256, "remediation": m.remediation, "kb_url": m.kb_url,
                     "verdict_text": dict(m.verdict_text), "verdict_remediation": dict(m.verdict_remediation)},
        "inventory": {"path": m.inventory_path, "sha256": m.inventory_sha256},
        "audit": m.audit,
        "selection": list(m.selection),
        "partial": m.partial,
        "options": dict(m.options),
        "insecure": m.insecure,
        "interrupted": m.interrupted,
        "merged_from": list(m.merged_from),
        "waivers": {"file": m.waiver_file, "entries": [waiver_to_dict(w) for w in m.waivers]},
        "rejected_passwords": [{"account": r.account, "rejected_by": r.rejected_by, "not_tried": r.not_tried,
                                "unanswered": r.unanswered, "accepted_by": r.accepted_by}
                               for r in m.rejected_passwords],
    }


def results_to_dict(r: RunResults) -> dict[str, Any]:
    alerts = {"alerts": [rejected.sentence for rejected in r.meta.rejected_passwords]} \
        if r.meta.rejected_passwords else {}
    return {
        "schema": "cmaudit-results",
        "schema_version": RESULTS_SCHEMA_VERSION,
        **alerts,  # what a reader must know before the counts (read back from meta, not from here)
        "meta": meta_to_dict(r.meta),
        "hosts": [host_to_dict(h) for h in r.hosts],
    }


class ResultsFormatError(ValueError):
    """A results file that is not cmaudit's, or of a schema version we cannot read."""


def _text(value: Any, key: str) -> str:
    """A field that must be text; numbers are accepted as their text, anything else is malformed."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ResultsFormatError(f"{key}: expected text, found {type(value).__name__}")


def _opt_int(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResultsFormatError(f"{key}: expected a whole number, found {type(value).__name__}")
    return value


def _opt_text(value: Any, key: str) -> str | None:
    return None if value is None else _text(value, key)


def _texts(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ResultsFormatError(f"{key}: expected a list of text, found {type(value).__name__}")
    return tuple(_text(item, key) for item in value)


def _table(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResultsFormatError(f"{key}: expected an object, found {type(value).__name__}")
    return value


def _flag(value: Any, key: str) -> bool:
    """A JSON boolean; anything else (the text "false" included) is malformed rather than guessed at."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ResultsFormatError(f"{key}: expected true or false, found {type(value).__name__}")
    return value


MAX_COUNT = 2**53  # the largest whole number every JSON reader keeps exactly; sizes, lines, counts stay below


def _whole(value: Any, key: str, low: int = 0, high: int = MAX_COUNT) -> int:
    """A JSON whole number in [low, high]; 1e400, "5985", true or 5985.5 are malformed, not converted."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = type(value).__name__ if not isinstance(value, int | float) or isinstance(value, bool) else value
        raise ResultsFormatError(f"{key}: expected a whole number from {low} to {high}, found {shown}")
    return value


def _seconds(value: Any, key: str) -> float:
    """A finite, non-negative JSON number (0 when absent)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_COUNT:
        raise ResultsFormatError(f"{key}: expected a number of seconds, found {value!r:.40}")
    return float(value)


def _text_map(value: Any, key: str) -> dict[str, str]:
    table = _table(value, key)
    return {_text(k, key): _text(v, key) for k, v in table.items()}


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_SOURCE = 8192  # "file:line": a path and a number


def _waiver_text(value: Any, key: str, limit: int = MAX_WAIVER_TEXT) -> str:
    """A waiver's text as the waivers file allows it: non-empty, bounded."""
    text = _text(value, key).strip()
    if not text or len(text) > limit:
        raise ResultsFormatError(f"{key}: expected 1 to {limit} characters")
    return text


def _waiver_date(value: Any, key: str) -> str:
    """A waiver's last day: an ISO date (YYYY-MM-DD) that exists, as the waivers file's TOML date is."""
    text = _text(value, key)
    try:
        if _ISO_DATE.fullmatch(text) is None:
            raise ValueError(text)
        date.fromisoformat(text)
    except ValueError:
        raise ResultsFormatError(f"{key}: expected a date (YYYY-MM-DD), found {text[:40]!r}") from None
    return text


def _waiver_verdicts(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ("AFFECTED", "AT_RISK")
    verdicts = _texts(value, key)
    if not verdicts or any(v not in WAIVABLE_VERDICTS for v in verdicts):
        raise ResultsFormatError(f"{key}: expected a non-empty list of {', '.join(WAIVABLE_VERDICTS)}")
    return tuple(dict.fromkeys(verdicts))


def waiver_from_dict(d: Any, key: str = "waiver") -> Waiver:
    """A waiver read back (a results file, the history): every field checked as the waivers file checks it."""
    d = _table(d, key)
    source = _text(d.get("source", ""), f"{key}.source")
    if len(source) > MAX_SOURCE:
        raise ResultsFormatError(f"{key}.source: longer than {MAX_SOURCE} characters")
    return Waiver(host=_waiver_text(d["host"], f"{key}.host"), reason=_waiver_text(d["reason"], f"{key}.reason"),
                  owner=_waiver_text(d["owner"], f"{key}.owner"), expires=_waiver_date(d["expires"], f"{key}.expires"),
                  verdicts=_waiver_verdicts(d.get("verdicts"), f"{key}.verdicts"),
                  expired=_flag(d.get("expired"), f"{key}.expired"), source=source)


def _audit(value: Any, key: str) -> str | None:
    """The audit name as `--audit` accepts it (it becomes a key in the history when read back)."""
    if value is None:
        return None
    try:
        return check_audit_name(_text(value, key))
    except ValueError as exc:
        raise ResultsFormatError(f"{key}: {exc}") from None


def _evidence_from(d: Any) -> Evidence:
    d = _table(d, "evidence")
    return Evidence(file=_text(d["file"], "evidence.file"), line=_whole(d["line"], "evidence.line"),
                    time=_opt_text(d.get("time"), "evidence.time"), text=_text(d["text"], "evidence.text"),
                    role=_text(d.get("role", ""), "evidence.role"))


def _opt_flag(value: Any, key: str) -> bool | None:
    return None if value is None else _flag(value, key)


def _stamp_from(d: Any, key: str) -> FileStamp | None:
    if d is None:
        return None
    d = _table(d, key)
    return FileStamp(path=_text(d["path"], f"{key}.path"), written=_opt_text(d.get("written"), f"{key}.written"),
                     size=None if d.get("size") is None else _whole(d["size"], f"{key}.size"),
                     version=_opt_text(d.get("version"), f"{key}.version"))


def _window_from(d: Any) -> Window | None:
    if d is None:
        return None
    d = _table(d, "window")
    return Window(first=_opt_text(d.get("first"), "window.first"), last=_opt_text(d.get("last"), "window.last"))


def _list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ResultsFormatError(f"{key}: expected a list, found {type(value).__name__}")
    return value


def _rejected_from(d: Any) -> RejectedPassword:
    d = _table(d, "meta.rejected_passwords[]")
    return RejectedPassword(account=_text(d["account"], "meta.rejected_passwords.account"),
                            rejected_by=_whole(d["rejected_by"], "meta.rejected_passwords.rejected_by"),
                            not_tried=_whole(d.get("not_tried", 0), "meta.rejected_passwords.not_tried"),
                            unanswered=_whole(d.get("unanswered", 0), "meta.rejected_passwords.unanswered"),
                            accepted_by=_whole(d.get("accepted_by", 0), "meta.rejected_passwords.accepted_by"))


def rejected_passwords_from_meta(m: Any) -> tuple[RejectedPassword, ...]:
    """A stored run's meta.rejected_passwords alone (the history keeps the meta as results.json writes it)."""
    try:
        meta = _table(m, "meta")
        return tuple(_rejected_from(r) for r in _list(meta.get("rejected_passwords"), "meta.rejected_passwords"))
    except (KeyError, TypeError) as exc:
        raise ResultsFormatError(f"meta.rejected_passwords: {exc}") from None


def host_from_dict(d: dict[str, Any]) -> HostResult:
    """One host of results.json; every field type is checked, since the file may come from anywhere."""
    d = _table(d, "hosts[]")
    f = _table(d.get("facts"), "facts")
    err = _table(d.get("error"), "error")
    return HostResult(
        host=_text(d["host"], "host"),
        address=_text(d["address"], "address"),
        port=_whole(d["port"], "port", 0, 65535),
        scheme=_text(d["scheme"], "scheme"),
        site_code=_opt_text(d.get("site_code"), "site_code"),
        tags=_texts(d.get("tags"), "tags"),
        verdict=Verdict(d["verdict"]),
        reasons=_texts(d.get("reasons"), "reasons"),
        evidence=tuple(_evidence_from(e) for e in _list(d.get("evidence"), "evidence")),
        build_name=_opt_text(d.get("build_name"), "build_name"),
        window=_window_from(d.get("window")),
        facts=HostFacts(
            build=_opt_text(f.get("build"), "facts.build"),
            site_code=_opt_text(f.get("site_code"), "facts.site_code"),
            site_type=_opt_text(f.get("site_type"), "facts.site_type"),
            install_dir=_opt_text(f.get("install_dir"), "facts.install_dir"),
            registry_root=_opt_text(f.get("registry_root"), "facts.registry_root"),
            log_path=_opt_text(f.get("log_path"), "facts.log_path"),
            codepage=_opt_int(f.get("codepage"), "facts.codepage"),
            site_database=_opt_flag(f.get("site_database"), "facts.site_database"),
            itmu_folder=_opt_text(f.get("itmu_folder"), "facts.itmu_folder"),
            catalog=_stamp_from(f.get("catalog"), "facts.catalog"),
            program=_stamp_from(f.get("program"), "facts.program"),
            hotfix=None if f.get("hotfix") is None else _texts(f.get("hotfix"), "facts.hotfix"),
            logs=tuple(
                LogFileFact(path=_text(lf["path"], "facts.logs.path"), size=_whole(lf["size"], "facts.logs.size"),
                            sha256=_text(lf["sha256"], "facts.logs.sha256"),
                            truncated=_flag(lf.get("truncated"), "facts.logs.truncated"),
                            saved_as=_opt_text(lf.get("saved_as"), "facts.logs.saved_as"))
                for lf in (_table(x, "facts.logs[]") for x in _list(f.get("logs"), "facts.logs"))
            ),
        ),
        error=None if not err else HostFailure(ErrorCategory(err["category"]), _text(err["message"], "error.message"),
                                               _text(err.get("hint") or "", "error.hint")),
        started=_opt_text(d.get("started"), "started"),
        finished=_opt_text(d.get("finished"), "finished"),
        seconds=_seconds(d.get("seconds"), "seconds"),
        requests=_whole(d.get("requests", 0), "requests"),
        attempts=_whole(d.get("attempts", 0), "attempts"),
        waiver=None if d.get("waiver") is None else waiver_from_dict(d["waiver"]),
    )


def results_from_dict(d: dict[str, Any]) -> RunResults:
    """Read a results.json document; raises ResultsFormatError on anything not ours."""
    if not isinstance(d, dict) or d.get("schema") != "cmaudit-results":
        raise ResultsFormatError("not a cmaudit results file")
    if d.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise ResultsFormatError(f"unsupported results schema version {d.get('schema_version')!r}")
    try:
        m = _table(d["meta"], "meta")
        adv = _table(m.get("advisory"), "meta.advisory")
        inv = _table(m.get("inventory"), "meta.inventory")
        waivers = _table(m.get("waivers"), "meta.waivers")
        meta = RunMeta(
            run_id=_text(m["run_id"], "meta.run_id"),
            started=_text(m["started"], "meta.started"),
            finished=_opt_text(m.get("finished"), "meta.finished"),
            cmaudit_version=_text(m.get("cmaudit_version", ""), "meta.cmaudit_version"),
            advisory_id=_text(adv.get("id", ""), "meta.advisory.id"),
            advisory_title=_text(adv.get("title", ""), "meta.advisory.title"),
            advisory_kb=_text(adv.get("kb", ""), "meta.advisory.kb"),
            advisory_sha256=_text(adv.get("sha256", ""), "meta.advisory.sha256"),
            remediation=_text(adv.get("remediation", ""), "meta.advisory.remediation"),
            kb_url=_text(adv.get("kb_url", ""), "meta.advisory.kb_url"),
            inventory_path=_opt_text(inv.get("path"), "meta.inventory.path"),
            inventory_sha256=_opt_text(inv.get("sha256"), "meta.inventory.sha256"),
            options=_table(m.get("options"), "meta.options"),
            insecure=_flag(m.get("insecure"), "meta.insecure"),
            interrupted=_flag(m.get("interrupted"), "meta.interrupted"),
            merged_from=_texts(m.get("merged_from"), "meta.merged_from"),
            audit=_audit(m.get("audit"), "meta.audit"),
            selection=_texts(m.get("selection"), "meta.selection"),
            partial=_flag(m.get("partial"), "meta.partial"),
            verdict_text=_text_map(adv.get("verdict_text"), "meta.advisory.verdict_text"),
            verdict_remediation=_text_map(adv.get("verdict_remediation"), "meta.advisory.verdict_remediation"),
            waiver_file=_opt_text(waivers.get("file"), "meta.waivers.file"),
            waivers=tuple(waiver_from_dict(w, "meta.waivers.entries[]")
                          for w in _list(waivers.get("entries"), "meta.waivers.entries")),
            rejected_passwords=tuple(_rejected_from(r) for r in _list(m.get("rejected_passwords"),
                                                                      "meta.rejected_passwords")),
        )
        if not isinstance(d.get("hosts"), list):
            raise ResultsFormatError(f"hosts: expected a list of hosts, found {type(d.get('hosts')).__name__}")
        hosts = tuple(host_from_dict(h) for h in d["hosts"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsFormatError(f"malformed results file: {exc}") from exc
    return RunResults(meta=meta, hosts=hosts)
