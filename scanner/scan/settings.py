"""Every knob of `cmaudit scan` in one record: the plan and execute steps read it, publish gets its part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scanner.model.options import DEFAULT_MAX_AUTH_FAILURES, DEFAULT_MAX_LOG_BYTES, DEFAULT_SPN_SERVICE


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """Every knob of `cmaudit scan`; recorded (minus secrets, which never live here) in results.json."""

    inventory: Path
    output: Path | None = None
    username: str | None = None
    auth: str = "ntlm"
    port: int | None = None
    scheme: str = "http"
    tls: str = "modern"  # default TLS for hosts whose inventory entry does not say (legacy: 2003/2008 listeners)
    ca_file: str | None = None
    insecure: bool = False
    concurrency: int = 32
    workers: int = 1  # worker processes (1: this one); capped by --concurrency and the hosts to scan
    transport: str = "auto"  # "requests": pypsrp's own HTTP transport for every host (benchmarks, comparisons)
    timeout: float = 120.0
    retries: int = 2
    max_auth_failures: int = DEFAULT_MAX_AUTH_FAILURES
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    connect_timeout: float = 10.0
    operation_timeout: int = 20
    quiet: bool = False
    password_env: str = "CMAUDIT_PASSWORD"
    interactive: bool = False  # may prompt for a password (only on a terminal)
    grace: float = 3.0
    backoff_base: float = 0.5
    log_file: Path | None = None  # append an audit trail of hosts contacted (no secrets)
    spn_service: str = DEFAULT_SPN_SERVICE  # Kerberos SPN service class: HTTP (WinRM's), WSMAN or host
    history: Path | None = None  # record the run here (and show changes since the last one); None: don't
    keep_runs: int | None = None  # retention after recording
    force: bool = False  # write into a folder that already holds an earlier run's results
    waivers: Path | None = None  # a waivers file (accepted findings until a date)
    host_patterns: tuple[str, ...] = ()  # --hosts: fnmatch on inventory name or address
    tags: tuple[str, ...] = ()  # --tag
    sites: tuple[str, ...] = ()  # --site
    rescan_failed: Path | None = None  # scan again the ERROR/UNKNOWN hosts of this results.json and merge
    audit: str | None = None  # the name runs are compared by in the history (default: from the inventory's name)
