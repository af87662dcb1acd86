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
# A scan's lockout allowance: below the threshold of 5 that the CIS benchmarks recommend and many domains use,
# with room for a user's own typo in the same window and a --rescan-failed's one more try. Doctor uses 1.
DEFAULT_MAX_AUTH_FAILURES = 2


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


_SIZE = re.compile(r"(\d{1,16})\s*([kmgt]?)(i?b?)", re.IGNORECASE)
_SIZE_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
SIZE_FORMS = "a number of bytes, or with a unit: 32M, 32MiB, 512K"


def size_text(value: int) -> str:
    """32 MiB for 33554432: how help texts and messages show a byte count."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if value >= 1 << shift and value % (1 << shift) == 0:
            return f"{value >> shift} {unit}"
    return f"{value:,} bytes"


@dataclass(frozen=True, slots=True)
class ByteSize:
    """A number of bytes in [low, high], as a number or as text with a unit (`32M`, `32MB`, `32MiB`, `512K`):
    K, M, G and T are powers of 1024 however they are written, as Windows counts file sizes."""

    low: int
    high: int

    def check(self, value: object) -> int:
        if isinstance(value, str):
            match = _SIZE.fullmatch(value.strip())
            suffix = match.group(3).lower() if match else ""
            if match is None or (suffix and not match.group(2) and suffix != "b"):
                raise ValueError(f"is not a size ({SIZE_FORMS})")
            value = int(match.group(1)) << _SIZE_SHIFT[match.group(2).lower()]
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValueError(f"must be a size {self.describe()}")
        return value

    def describe(self) -> str:
        return f"from {size_text(self.low)} to {size_text(self.high)} ({SIZE_FORMS})"


Bound = WholeNumber | Seconds | ByteSize

BOUNDS: dict[str, Bound] = {
    "port": WholeNumber(1, 65535),
    "concurrency": WholeNumber(1, 10_000),
    "workers": WholeNumber(1, 1024),  # processes; 1 scans in the cmaudit process itself
    "timeout": Seconds(),
    "connect_timeout": Seconds(),
    "retries": WholeNumber(0, 100),
    "max_auth_failures": WholeNumber(0, 10_000),  # 0 turns the logon gate off; default DEFAULT_MAX_AUTH_FAILURES
    "max_log_bytes": ByteSize(1024, 1 << 40),
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
