"""`cmaudit.toml`: what a scheduled run needs, so the scheduler's command line stays short.

    inventory = "fleet.csv"                 # relative paths are relative to this file
    runs_dir = "/var/lib/cmaudit/runs"      # each run gets its own UTC-timestamped folder below this
    auth = "kerberos"
    spn_service = "HTTP"                    # Kerberos SPN class: HTTP (default), WSMAN or host
    username = "CORP\\svc-cmaudit"
    password_env = "CMAUDIT_PASSWORD"       # the variable's NAME; never the password itself
    concurrency = 32
    workers = 4                             # worker processes (default: 1, the cmaudit process itself)
    timeout = 300
    history = "/var/lib/cmaudit/history.sqlite3"
    keep_runs = 52
    waivers = "waivers.toml"                # accepted findings until a date (scanner.config.waivers)
    audit = "fleet"                         # runs of this name are compared (default: the inventory's name)

    [mail]
    to = ["sccm-admins@corp.example"]
    from = "cmaudit@corp.example"
    host = "smtp.corp.example"
    port = 587
    security = "starttls"                   # starttls | tls | none
    username = "cmaudit"
    password_env = "CMAUDIT_SMTP_PASSWORD"
    when = "changed"                        # changed | findings | always

Rules: an unknown key is an error naming the file and the key (a typo must not silently fall back to a
default on a weekly job); a `password` key is refused, because a config file gets copied, committed
and backed up; options given on the command line win over the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.config.mail_settings import MAIL_WHEN, SECURITY, address_problem, host_problem
from scanner.history.database import check_audit_name
from scanner.model.errors import UsageError
from scanner.model.host import AUTH_METHODS, TLS_MODES
from scanner.model.options import BOUNDS, ENV_NAME_RULE, SPN_SERVICE, is_env_name
from scanner.model.toml_text import TomlTextError, parse_toml, read_bounded

MAX_CONFIG_BYTES = 1024 * 1024


class ConfigError(UsageError):
    """A config file that cannot be used; names the file and, where there is one, the key."""

    def __init__(self, path: Path | str, key: str | None, message: str) -> None:
        self.path, self.key, self.message = str(path), key, message
        where = f"{path}: {key}" if key else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class _Key:
    """How one config key is checked, and which argparse destinations it can fill."""

    convert: Callable[[Any, Path], Any]
    dests: tuple[str, ...]


def _str(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _path(value: Any, base: Path) -> Path:
    p = Path(_str(value, base)).expanduser()
    return p if p.is_absolute() else base / p


def _bounded(option: str) -> Callable[[Any, Path], Any]:
    """The same bounds as the matching command-line option (scanner.model.options.BOUNDS)."""
    bound = BOUNDS[option]

    def convert(value: Any, base: Path) -> Any:
        return bound.check(value)
    return convert


def _bool(value: Any, base: Path) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Any, Path], str]:
    """A value of fixed choices in any case (`auth = "NTLM"`, as `--auth NTLM`); a wrong one names the nearest."""
    canonical = {c.casefold(): c for c in choices}

    def convert(value: Any, base: Path) -> str:
        found = canonical.get(value.strip().casefold()) if isinstance(value, str) else None
        if found is None:
            near = difflib.get_close_matches(str(value).strip().casefold(), list(canonical), n=1, cutoff=0.6)
            hint = f"; did you mean {canonical[near[0]]}?" if near else ""
            raise ValueError(f"must be one of {', '.join(choices)}{hint}")
        return found
    return convert


def _env_name(value: Any, base: Path) -> str:
    if not is_env_name(value):
        raise ValueError(ENV_NAME_RULE)
    return str(value)


def _spn_service(value: Any, base: Path) -> str:
    text = _str(value, base)
    if not SPN_SERVICE.fullmatch(text):
        raise ValueError("must be an SPN service class such as HTTP, WSMAN or host")
    return text


def _addresses(value: Any, base: Path) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(a, str) for a in items):
        raise ValueError("must be a mail address or a list of them")
    return tuple(_address(a, base) for a in items)


def _address(value: Any, base: Path) -> str:
    text = _str(value, base)
    problem = address_problem(text)
    if problem:
        raise ValueError(f"{text[:80]!r} {problem}")
    return text


def _mail_host(value: Any, base: Path) -> str:
    text = _str(value, base)
    problem = host_problem(text)
    if problem:
        raise ValueError(f"{text[:80]!r} {problem}")
    return text.strip()


def _audit(value: Any, base: Path) -> str:
    return check_audit_name(_str(value, base))


# Top-level keys. `dests` are the argparse destinations the key fills when the option was not given.
KEYS: dict[str, _Key] = {
    "inventory": _Key(_path, ("inventory",)),
    "runs_dir": _Key(_path, ("runs_dir",)),  # where run folders go: each run gets a new folder below it
    "output": _Key(_path, ()),  # the older name of runs_dir (not the command line's -o, which is one run's folder)
    "auth": _Key(_choice(AUTH_METHODS), ("auth",)),
    "spn_service": _Key(_spn_service, ("spn_service",)),
    "username": _Key(_str, ("username",)),
    "password_env": _Key(_env_name, ("password_env",)),
    "port": _Key(_bounded("port"), ("port",)),
    "scheme": _Key(_choice(("http", "https")), ("scheme",)),
    "tls": _Key(_choice(TLS_MODES), ("tls",)),
    "ca_file": _Key(_path, ("ca_file",)),
    "concurrency": _Key(_bounded("concurrency"), ("concurrency",)),
    "workers": _Key(_bounded("workers"), ("workers",)),
    "timeout": _Key(_bounded("timeout"), ("timeout",)),
    "connect_timeout": _Key(_bounded("connect_timeout"), ("connect_timeout",)),
    "retries": _Key(_bounded("retries"), ("retries",)),
    "max_auth_failures": _Key(_bounded("max_auth_failures"), ("max_auth_failures",)),  # 0 disables
    "max_log_bytes": _Key(_bounded("max_log_bytes"), ("max_log_bytes",)),
    "history": _Key(_path, ("history",)),
    "record_history": _Key(_bool, ()),  # false = --no-history
    "keep_runs": _Key(_bounded("keep_runs"), ("keep_runs",)),
    "quiet": _Key(_bool, ("quiet",)),
    "log_file": _Key(_path, ("log_file",)),
    "waivers": _Key(_path, ("waivers",)),
    "audit": _Key(_audit, ("audit",)),
}
MAIL_KEYS: dict[str, _Key] = {
    "to": _Key(_addresses, ("mail_to",)),
    "from": _Key(_address, ()),
    "host": _Key(_mail_host, ()),
    "port": _Key(_bounded("port"), ()),
    "security": _Key(_choice(SECURITY), ()),
    "username": _Key(_str, ()),
    "password_env": _Key(_env_name, ()),
    "when": _Key(_choice(MAIL_WHEN), ("mail_when",)),
    "ca_file": _Key(_path, ()),
    "timeout": _Key(_bounded("mail_timeout"), ()),
    "subject_prefix": _Key(_str, ()),
}
_SECRET_KEYS = ("password", "passwd", "secret", "smtp_password")


@dataclass(frozen=True, slots=True)
class Config:
    """A validated config file: `values` holds the top-level keys, `mail` the [mail] table."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    mail: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def value_for_dest(self, dest: str) -> Any:
        """The config's value for an argparse destination, or None."""
        for key, spec in KEYS.items():
            if dest in spec.dests and key in self.values:
                return self.values[key]
        for key, spec in MAIL_KEYS.items():
            if dest in spec.dests and key in self.mail:
                return self.mail[key]
        if dest == "no_history" and "record_history" in self.values:
            return not self.values["record_history"]
        return None


def _refuse_secrets(path: Path, table: Mapping[str, Any], prefix: str) -> None:
    for key in table:
        if key.lower() in _SECRET_KEYS:
            raise ConfigError(path, prefix + key, "a password never goes in the config file; name the "
                              "environment variable holding it with password_env, or store it in the system keyring "
                              "(service \"cmaudit\")")


def _check(path: Path, table: Mapping[str, Any], keys: Mapping[str, _Key], prefix: str) -> dict[str, Any]:
    _refuse_secrets(path, table, prefix)
    out: dict[str, Any] = {}
    for key, value in table.items():
        spec = keys.get(key)
        if spec is None:
            raise ConfigError(path, prefix + key, f"unknown key (known: {', '.join(sorted(keys))})")
        try:
            out[key] = spec.convert(value, path.parent)
        except ValueError as exc:
            raise ConfigError(path, prefix + key, str(exc)) from None
    return out


def load_config(path: Path | str) -> Config:
    """Read and validate a cmaudit.toml; every problem is a ConfigError naming the file (and key)."""
    p = Path(path)
    try:
        doc = parse_toml(read_bounded(p, MAX_CONFIG_BYTES), MAX_CONFIG_BYTES)
    except TomlTextError as exc:
        raise ConfigError(p, None, str(exc)) from None
    mail_table = doc.pop("mail", {})
    if not isinstance(mail_table, dict):
        raise ConfigError(p, "mail", "must be a table ([mail])")
    values = _check(p, {k: v for k, v in doc.items()}, KEYS, "")
    mail = _check(p, mail_table, MAIL_KEYS, "mail.")
    return Config(path=p, values=values, mail=mail)
