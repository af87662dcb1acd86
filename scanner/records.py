"""The normalised result records every part of cmaudit shares.

Collection produces them, the advisory engine fills in the judgement, and every reporter consumes
them (reports/ imports this module and nothing of the scanner's network code). `results.json` is
these records as plain JSON; `to_dict`/`from_dict` are the one place that mapping lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
    PROTOCOL = "protocol"
    INTERRUPTED = "interrupted"
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


@dataclass(frozen=True, slots=True)
class LogFileFact:
    """A collected log file: where it was, how big, its hash, where the evidence copy is kept."""

    path: str
    size: int
    sha256: str
    truncated: bool = False  # the --max-log-bytes cap was hit
    saved_as: str | None = None  # gzip copy under the run folder, relative to it


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What collection learned about a site server."""

    build: str | None = None
    site_code: str | None = None
    site_type: str | None = None
    install_dir: str | None = None
    registry_root: str | None = None  # HKLM\SOFTWARE\Microsoft\SMS or ...\Wow6432Node\...
    log_path: str | None = None
    logs: tuple[LogFileFact, ...] = ()


@dataclass(frozen=True, slots=True)
class HostError:
    category: ErrorCategory
    message: str


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
    error: HostError | None = None
    site_code: str | None = None
    tags: tuple[str, ...] = ()
    started: str | None = None
    finished: str | None = None
    seconds: float = 0.0
    requests: int = 0
    attempts: int = 0


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


@dataclass(frozen=True, slots=True)
class RunResults:
    meta: RunMeta
    hosts: tuple[HostResult, ...]


def _evidence_to_dict(e: Evidence) -> dict[str, Any]:
    return {"file": e.file, "line": e.line, "time": e.time, "text": e.text, "role": e.role}


def _window_to_dict(w: Window | None) -> dict[str, Any] | None:
    return None if w is None else {"first": w.first, "last": w.last}


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
            "logs": [
                {"path": lf.path, "size": lf.size, "sha256": lf.sha256, "truncated": lf.truncated,
                 "saved_as": lf.saved_as}
                for lf in f.logs
            ],
        },
        "error": None if h.error is None else {"category": h.error.category.value, "message": h.error.message},
        "started": h.started,
        "finished": h.finished,
        "seconds": h.seconds,
        "requests": h.requests,
        "attempts": h.attempts,
    }


def meta_to_dict(m: RunMeta) -> dict[str, Any]:
    return {
        "run_id": m.run_id,
        "started": m.started,
        "finished": m.finished,
        "cmaudit_version": m.cmaudit_version,
        "advisory": {"id": m.advisory_id, "title": m.advisory_title, "kb": m.advisory_kb,
                     "sha256": m.advisory_sha256, "remediation": m.remediation, "kb_url": m.kb_url},
        "inventory": {"path": m.inventory_path, "sha256": m.inventory_sha256},
        "options": dict(m.options),
        "insecure": m.insecure,
        "interrupted": m.interrupted,
        "merged_from": list(m.merged_from),
    }


def results_to_dict(r: RunResults) -> dict[str, Any]:
    return {
        "schema": "cmaudit-results",
        "schema_version": RESULTS_SCHEMA_VERSION,
        "meta": meta_to_dict(r.meta),
        "hosts": [host_to_dict(h) for h in r.hosts],
    }


class ResultsFormatError(ValueError):
    """A results file that is not cmaudit's, or of a schema version we cannot read."""


def _evidence_from(d: dict[str, Any]) -> Evidence:
    return Evidence(file=str(d["file"]), line=int(d["line"]), time=d.get("time"), text=str(d["text"]),
                    role=str(d.get("role", "")))


def _window_from(d: dict[str, Any] | None) -> Window | None:
    return None if d is None else Window(first=d.get("first"), last=d.get("last"))


def host_from_dict(d: dict[str, Any]) -> HostResult:
    f = d.get("facts") or {}
    err = d.get("error")
    return HostResult(
        host=str(d["host"]),
        address=str(d["address"]),
        port=int(d["port"]),
        scheme=str(d["scheme"]),
        site_code=d.get("site_code"),
        tags=tuple(d.get("tags") or ()),
        verdict=Verdict(d["verdict"]),
        reasons=tuple(d.get("reasons") or ()),
        evidence=tuple(_evidence_from(e) for e in d.get("evidence") or ()),
        build_name=d.get("build_name"),
        window=_window_from(d.get("window")),
        facts=HostFacts(
            build=f.get("build"),
            site_code=f.get("site_code"),
            site_type=f.get("site_type"),
            install_dir=f.get("install_dir"),
            registry_root=f.get("registry_root"),
            log_path=f.get("log_path"),
            logs=tuple(
                LogFileFact(path=lf["path"], size=int(lf["size"]), sha256=lf["sha256"],
                            truncated=bool(lf.get("truncated")), saved_as=lf.get("saved_as"))
                for lf in f.get("logs") or ()
            ),
        ),
        error=None if not err else HostError(ErrorCategory(err["category"]), str(err["message"])),
        started=d.get("started"),
        finished=d.get("finished"),
        seconds=float(d.get("seconds") or 0.0),
        requests=int(d.get("requests") or 0),
        attempts=int(d.get("attempts") or 0),
    )


def results_from_dict(d: dict[str, Any]) -> RunResults:
    """Read a results.json document; raises ResultsFormatError on anything not ours."""
    if not isinstance(d, dict) or d.get("schema") != "cmaudit-results":
        raise ResultsFormatError("not a cmaudit results file")
    if d.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise ResultsFormatError(f"unsupported results schema version {d.get('schema_version')!r}")
    try:
        m = d["meta"]
        adv = m.get("advisory") or {}
        inv = m.get("inventory") or {}
        meta = RunMeta(
            run_id=str(m["run_id"]),
            started=str(m["started"]),
            finished=m.get("finished"),
            cmaudit_version=str(m.get("cmaudit_version", "")),
            advisory_id=str(adv.get("id", "")),
            advisory_title=str(adv.get("title", "")),
            advisory_kb=str(adv.get("kb", "")),
            advisory_sha256=str(adv.get("sha256", "")),
            remediation=str(adv.get("remediation", "")),
            kb_url=str(adv.get("kb_url", "")),
            inventory_path=inv.get("path"),
            inventory_sha256=inv.get("sha256"),
            options=dict(m.get("options") or {}),
            insecure=bool(m.get("insecure")),
            interrupted=bool(m.get("interrupted")),
            merged_from=tuple(m.get("merged_from") or ()),
        )
        hosts = tuple(host_from_dict(h) for h in d["hosts"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsFormatError(f"malformed results file: {exc}") from exc
    return RunResults(meta=meta, hosts=hosts)
