"""`cmaudit.toml`: what a scheduled run needs, so the scheduler's command line stays short.

    inventory = "fleet.csv"                 # relative paths are relative to this file
    output = "/var/lib/cmaudit/runs"        # each run gets its own UTC-timestamped folder below this
    auth = "kerberos"
    username = "CORP\\svc-cmaudit"
    password_env = "CMAUDIT_PASSWORD"       # the variable's NAME; never the password itself
    concurrency = 32
    timeout = 300
    history = "/var/lib/cmaudit/history.sqlite3"
    keep_runs = 52

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

import argparse
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inventory import AUTH_METHODS
from reports.mail import MAIL_WHEN, SECURITY, MailSettings
from scanner.commands._argtypes import positive_int
from scanner.errors import UsageError

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


def _int(minimum: int, maximum: int | None = None) -> Callable[[Any, Path], int]:
    """The same bounds as the matching command-line option (scanner.commands._argtypes)."""
    def convert(value: Any, base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be a whole number of at least {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be a whole number from {minimum} to {maximum}")
        return value
    return convert


def _seconds(value: Any, base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError("must be a positive number of seconds")
    return float(value)


def _bool(value: Any, base: Path) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[Any, Path], str]:
    def convert(value: Any, base: Path) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)
    return convert


def _env_name(value: Any, base: Path) -> str:
    text = _str(value, base)
    if not all(ch.isalnum() or ch == "_" for ch in text):
        raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a password")
    return text


def _addresses(value: Any, base: Path) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(a, str) and "@" in a for a in items):
        raise ValueError("must be a mail address or a list of them")
    return tuple(items)


# Top-level keys. `dests` are the argparse destinations the key fills when the option was not given.
KEYS: dict[str, _Key] = {
    "inventory": _Key(_path, ("inventory",)),
    "output": _Key(_path, ()),  # where run folders go: each run gets a new UTC-timestamped folder below it
    "auth": _Key(_choice(AUTH_METHODS), ("auth",)),
    "username": _Key(_str, ("username",)),
    "password_env": _Key(_env_name, ("password_env",)),
    "port": _Key(_int(1, 65535), ("port",)),
    "scheme": _Key(_choice(("http", "https")), ("scheme",)),
    "ca_file": _Key(_path, ("ca_file",)),
    "concurrency": _Key(_int(1), ("concurrency",)),
    "timeout": _Key(_seconds, ("timeout",)),
    "connect_timeout": _Key(_seconds, ("connect_timeout",)),
    "retries": _Key(_int(0), ("retries",)),
    "max_auth_failures": _Key(_int(0), ("max_auth_failures",)),  # 0 disables, as on the CLI
    "max_log_bytes": _Key(_int(1024), ("max_log_bytes",)),
    "history": _Key(_path, ("history",)),
    "record_history": _Key(_bool, ()),  # false = --no-history
    "keep_runs": _Key(_int(1), ("keep_runs",)),
    "quiet": _Key(_bool, ("quiet",)),
    "log_file": _Key(_path, ("log_file",)),
}
MAIL_KEYS: dict[str, _Key] = {
    "to": _Key(_addresses, ("mail_to",)),
    "from": _Key(_str, ()),
    "host": _Key(_str, ()),
    "port": _Key(_int(1, 65535), ()),
    "security": _Key(_choice(SECURITY), ()),
    "username": _Key(_str, ()),
    "password_env": _Key(_env_name, ()),
    "when": _Key(_choice(MAIL_WHEN), ("mail_when",)),
    "ca_file": _Key(_path, ()),
    "timeout": _Key(_seconds, ()),
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
        with p.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(p, None, f"cannot read config: {exc.strerror or exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(p, None, "config file larger than 1 MiB")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(p, None, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, None, f"not valid TOML: {exc}") from None
    mail_table = doc.pop("mail", {})
    if not isinstance(mail_table, dict):
        raise ConfigError(p, "mail", "must be a table ([mail])")
    values = _check(p, {k: v for k, v in doc.items()}, KEYS, "")
    mail = _check(p, mail_table, MAIL_KEYS, "mail.")
    return Config(path=p, values=values, mail=mail)


class _FromDefault:
    """Marks an option left at its default, so a config value can take its place (see add_config_option)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:  # `%(default)s` in help texts still shows the real default
        return str(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


def add_schedule_options(parser: argparse.ArgumentParser) -> None:
    """The options of a scheduled scan: history, retention and mail (then call add_config_option)."""
    group = parser.add_argument_group("history, retention and mail (for scheduled runs)")
    group.add_argument("--history", metavar="PATH", type=Path, default=None,
                       help="history database to record the run in (default: $CMAUDIT_HISTORY, else under the "
                            "user's data directory)")
    group.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    group.add_argument("--keep-runs", metavar="N", type=positive_int, default=None,
                       help="after recording, keep only the newest N runs of this inventory (and their folders)")
    group.add_argument("--mail-to", metavar="ADDR", action="append", default=None,
                       help="mail the summary, the changes and report.html to ADDR (repeatable; SMTP from [mail])")
    group.add_argument("--mail-when", choices=MAIL_WHEN, default=None,
                       help="send always, only when something changed (default), or only with findings")


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add --config; call it LAST in a command's add_arguments.

    Options a config key can fill get their default wrapped, so `apply_config` can tell "not given"
    from "given with the default value": the command line wins even when it repeats the default.
    """
    parser.add_argument("--config", metavar="FILE", type=Path, default=None,
                        help="cmaudit.toml with the settings of a scheduled run; command-line options win")
    fillable = {d for spec in (*KEYS.values(), *MAIL_KEYS.values()) for d in spec.dests} | {"no_history"}
    for action in parser._actions:  # argparse has no public API to walk a parser's options
        # None already means "not given"; wrapping it would also break append actions.
        if action.dest in fillable and action.default not in (None, argparse.SUPPRESS):
            default = action.default
            if isinstance(default, str) and callable(action.type):
                default = action.type(default)
            action.default = _FromDefault(default)


def apply_config(args: argparse.Namespace) -> Config | None:
    """Fill options not given on the command line from --config; returns the config (None without one)."""
    path: Path | None = getattr(args, "config", None)
    config = load_config(path) if path is not None else None
    for dest, value in list(vars(args).items()):
        if isinstance(value, _FromDefault):
            from_config = config.value_for_dest(dest) if config else None
            setattr(args, dest, value.value if from_config is None else from_config)
        elif value is None and config is not None:
            from_config = config.value_for_dest(dest)
            if from_config is not None:
                setattr(args, dest, from_config)
    return config


def mail_settings(args: argparse.Namespace, config: Config | None) -> MailSettings | None:
    """The mail to send after a run: --mail-to/--mail-when over [mail]; None when nobody is to be mailed."""
    table = config.mail if config else {}
    to = getattr(args, "mail_to", None) or table.get("to")
    if not to:
        return None
    sender = table.get("from") or f"cmaudit@{socket.getfqdn()}"
    when = getattr(args, "mail_when", None) or table.get("when", "changed")
    return MailSettings(to=tuple(to), sender=sender, host=table.get("host", "localhost"),
                        port=table.get("port", 465 if table.get("security") == "tls" else 587),
                        security=table.get("security", "starttls"), username=table.get("username"),
                        password_env=table.get("password_env"), when=when, ca_file=table.get("ca_file"),
                        timeout=table.get("timeout", 30.0), subject_prefix=table.get("subject_prefix", "[cmaudit]"))
