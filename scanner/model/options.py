"""The bounds of every scan option: one table read by the command line and by `cmaudit.toml`.

Kept here, beside the records, because both `scanner.cli` (argparse) and `scanner.config.cmaudit_toml` (TOML)
validate against it; two tables drifted apart before (`timeout = 1e9` passed in the file only).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_SECONDS = 86400.0  # a day: longer is a typo, not a budget
SPN_SERVICE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")  # Kerberos SPN service class: HTTP, WSMAN, host
# Defaults the command line shows in --help: kept here, not beside the code that uses them, so that starting
# `cmaudit` (any command, --help too) need not import the WinRM stack (pypsrp, requests, cryptography, gssapi).
DEFAULT_MAX_LOG_BYTES = 32 * 1024 * 1024  # wsyncmgr.log rolls at 2.5 MB by default: ample headroom
DEFAULT_SPN_SERVICE = "HTTP"  # the class WinRM registers (setspn -S HTTP/<fqdn>); some estates use WSMAN


@dataclass(frozen=True, slots=True)
class WholeNumber:
    """A whole number in [low, high] (high None: unbounded)."""

    low: int
    high: int | None = None

    def check(self, value: object) -> int:
        """The value, or ValueError saying what is allowed (bool is not a number here)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number {self.describe()}")
        if value < self.low or (self.high is not None and value > self.high):
            raise ValueError(f"must be a whole number {self.describe()}")
        return value

    def describe(self) -> str:
        return f"from {self.low} to {self.high}" if self.high is not None else f"of at least {self.low}"


@dataclass(frozen=True, slots=True)
class Seconds:
    """A positive, finite number of seconds up to `high`."""

    high: float = MAX_SECONDS

    def check(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number of seconds {self.describe()}")
        seconds = float(value)
        if not math.isfinite(seconds) or not 0 < seconds <= self.high:
            raise ValueError(f"must be a number of seconds {self.describe()}")
        return seconds

    def describe(self) -> str:
        return f"above 0 and at most {self.high:g}"


Bound = WholeNumber | Seconds

BOUNDS: dict[str, Bound] = {
    "port": WholeNumber(1, 65535),
    "concurrency": WholeNumber(1, 10_000),
    "workers": WholeNumber(1, 1024),  # processes; 1 scans in the cmaudit process itself
    "timeout": Seconds(),
    "connect_timeout": Seconds(),
    "retries": WholeNumber(0, 100),
    "max_auth_failures": WholeNumber(0, 10_000),  # 0 disables the breaker
    "max_log_bytes": WholeNumber(1024, 1 << 40),
    "keep_runs": WholeNumber(1, 100_000),
    "mail_timeout": Seconds(3600.0),
}


# An environment variable's NAME, as `--password-env`, `password_env` (config and inventory) take it.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
ENV_NAME_RULE = ("must be the NAME of an environment variable (letters, digits and _, not starting with a "
                 "digit), not the password itself; the value is not shown")


def is_env_name(text: object) -> bool:
    """True for a usable environment variable name (what a pasted password almost never is)."""
    return isinstance(text, str) and ENV_NAME.fullmatch(text) is not None
