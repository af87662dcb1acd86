"""How the run's mail is sent (relay, security, recipients), checked when cmaudit.toml or the options are read.

Kept apart from the sending (scanner.publish.mail) so that reading the configuration never loads smtplib, and a
bad address is refused before any host is contacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scanner.model.host import host_text_problem

MAIL_WHEN = ("changed", "findings", "always")
SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Where and how to send; `password_env` names the variable holding the SMTP password."""

    to: tuple[str, ...]
    sender: str
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | tls (implicit, usually port 465) | none (trusted relay, no login)
    username: str | None = None
    password_env: str | None = None
    when: str = "changed"  # changed | findings | always
    ca_file: Path | None = None  # extra CA for a relay with an internal certificate
    timeout: float = 30.0
    subject_prefix: str = "[cmaudit]"



_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


def host_problem(host: str) -> str | None:
    """Why `host` cannot be the SMTP relay (checked when the configuration is read); None when it can."""
    return host_text_problem(host.strip()) if host.strip() else "is empty"


def address_problem(address: str) -> str | None:
    """Why `address` cannot be sent to or from (an ASCII `local@domain`, the domain a valid name); None if it can."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local):
        return "is not a mail address (user@domain, ASCII)"
    problem = host_text_problem(domain.strip("[]"))
    return None if problem is None else f"has a domain that {problem}"
