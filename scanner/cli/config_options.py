"""`--config`, and the history/retention/mail options of a scheduled scan, on the command line.

The file itself is read and validated by scanner.config.cmaudit_toml; this module only decides which
argparse options a config key may fill (command-line options always win).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any

from scanner.cli.argtypes import option
from scanner.config.cmaudit_toml import KEYS, MAIL_KEYS, Config, load_config
from scanner.config.mail_settings import MAIL_WHEN, MailSettings, address_problem
from scanner.history.database import default_history_path


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
    group.add_argument("--keep-runs", metavar="N", type=option("keep_runs"), default=None,
                       help="after recording, keep only the newest N runs of this audit (and their folders)")
    group.add_argument("--mail-to", metavar="ADDR", action="append", default=None, type=_mail_address,
                       help="mail the summary, the changes and report.html to ADDR (repeatable; SMTP from [mail])")
    group.add_argument("--mail-when", choices=MAIL_WHEN, default=None,
                       help="send always, only when something changed (default), or only with findings")


def _mail_address(text: str) -> str:
    problem = address_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} {problem}")
    return text


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


def left_unset(args: argparse.Namespace, dests: tuple[str, ...]) -> set[str]:
    """The options among `dests` not given on the command line; call it before apply_config (which fills them in),
    then drop those the config sets (`unset_by_config`)."""
    return {dest for dest in dests if getattr(args, dest, None) is None or isinstance(getattr(args, dest),
                                                                                        _FromDefault)}


def unset_by_config(unset: set[str], config: Config | None) -> set[str]:
    """Of `unset` (left_unset), the options --config does not set either."""
    return {dest for dest in unset if config is None or config.value_for_dest(dest) is None}


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


def history_target(args: argparse.Namespace) -> Path | None:
    """The database to record in: None for --no-history, else --history or the per-user default."""
    if getattr(args, "no_history", False):
        return None
    chosen: Path | None = getattr(args, "history", None)
    return chosen if chosen is not None else default_history_path()
