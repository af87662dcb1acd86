"""`cmaudit doctor`'s records: one check (name, ok, detail, hint), a host's checks, the whole diagnosis.

Collected by scanner.winrm.doctor_probes (per host) and scanner.scan.doctor_run (the jump box), rendered by the
doctor command as a table or as JSON:

    {"hosts": [{"host", "address", "port", "ok", "checks": [{"name", "ok", "detail", "hint"}]}],
     "local": [{"name", "ok", "detail", "hint"}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """One thing doctor looked at: passed or not, what it saw, and on failure what to do about it."""

    name: str
    ok: bool
    detail: str
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class HostDiagnosis:
    """A host's checks, in order, ending at the first failure."""

    host: str
    address: str
    port: int
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "address": self.address, "port": self.port, "ok": self.ok,
                "checks": [check.to_dict() for check in self.checks]}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Everything doctor found: the jump box's own checks and every host's."""

    local: tuple[Check, ...]
    hosts: tuple[HostDiagnosis, ...]

    @property
    def local_ok(self) -> bool:
        return all(check.ok for check in self.local)

    @property
    def hosts_ok(self) -> bool:
        return all(host.ok for host in self.hosts)

    def to_dict(self) -> dict[str, Any]:
        return {"hosts": [host.to_dict() for host in self.hosts], "local": [check.to_dict() for check in self.local]}
