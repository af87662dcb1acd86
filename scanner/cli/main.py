"""The `cmaudit` command line: a thin dispatcher over scanner.cli.commands.*.

Exit status (schedulers rely on it):
  0   every host judged, no finding
  1   bit 1: a host is AFFECTED or AT_RISK (findings)
  2   bit 2: a host is ERROR or UNKNOWN (incomplete audit); 3 = both
  64  bad usage, or an unreadable inventory/log/results file
  70  cmaudit itself failed (a bug): one line names the file holding the traceback
  130 stopped (Ctrl-C, SIGTERM) before the last step; results and reports may be written, history not
  141 the output pipe was closed early (`| head`); the audit itself is unaffected
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import os
import pkgutil
import re
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol

from reports.terminal import ConsoleStream
from scanner import __version__
from scanner.cli import commands as commands_pkg
from scanner.cli.argtypes import any_case_choice
from scanner.cli.crash import EXIT_SOFTWARE, report_crash
from scanner.cli.debug import debug_trace
from scanner.model.errors import UsageError

EXIT_USAGE = 64
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a pipe reader that stopped early
PLAIN_EXIT_STATUS = """Exit status:
  0   done
  64  bad usage, or an unreadable file
  70  cmaudit itself failed (a bug): one line names the file holding the traceback
  130 interrupted (Ctrl-C)
  141 the output pipe was closed early (`| head`)"""


class Command(Protocol):
    """A module under scanner/cli/commands; the module's name (dashes for underscores) is the sub-command."""

    HELP: str
    ORDER: int  # position in `cmaudit --help`

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; cmaudit reserves 2 for "incomplete audit", so use 64."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cmaudit",
        description="Audit ConfigMgr 2007 site servers against Microsoft Security Advisory 954474 (KB 951376).",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cmaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _commands():
        # A command states its own exit status (EXIT_STATUS); the scan's (this module's) is the default for
        # the commands that report an audit, a plain one for the others.
        epilog = getattr(module, "EXIT_STATUS", None) or (
            __doc__.split("\n\n", 1)[1] if __doc__ and name in ("scan", "report") else PLAIN_EXIT_STATUS)
        description = getattr(module, "DESCRIPTION", module.HELP)  # the command's own --help may say more
        p = sub.add_parser(name, help=module.HELP, description=description, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        _forgiving_choices(p)
        p.set_defaults(_run=module.run)
    return parser


def _forgiving_choices(parser: argparse.ArgumentParser) -> None:
    """Every option with fixed choices takes them in any case (`--auth NTLM`) and suggests the nearest."""
    for action in parser._actions:  # argparse has no public API to walk a parser's options
        if action.choices is not None and action.type is None and all(isinstance(c, str) for c in action.choices):
            what = f"a {action.option_strings[-1]} value" if action.option_strings else "a choice"
            action.type = any_case_choice(tuple(action.choices), what)


def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of `cmaudit`, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


SUGGESTION_CUTOFF = 0.7  # difflib's ratio of the names without their dashes: --usernme is --username, --dry-run
# is not --keep-runs
_SHORT_OPTION = re.compile(r"-[A-Za-z]")


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    """"; did you mean --username?" for the nearest spelling, compared without the leading dashes; "" if none is
    near. A lone letter (`-q`) is taken for the first letter of a long option, where only one starts with it."""
    names = {k.lstrip("-"): k for k in known}
    bare = word.lstrip("-")
    if _SHORT_OPTION.fullmatch(word):
        starting = [k for k in known if k.startswith("--") and k[2:3] == bare]
        return f"; did you mean {starting[0]}?" if len(starting) == 1 else ""
    near = difflib.get_close_matches(bare, list(names), n=1, cutoff=SUGGESTION_CUTOFF)
    return f"; did you mean {names[near[0]]}?" if near else ""


def _unknown_option(parser: argparse.ArgumentParser, token: str) -> str | None:
    """The option as typed (without a value after `=`) if `parser` does not know it, else None. A long option
    may be an unambiguous prefix (argparse takes `--invent` for --inventory-format); a short one may carry its
    value (`-oDIR`)."""
    options = parser._option_string_actions  # argparse has no public API to list a parser's options
    if token.startswith("--"):
        name = token.split("=", 1)[0]
        return None if any(o.startswith(name) for o in options if o.startswith("--")) else name
    if _SHORT_OPTION.match(token):
        return None if token[:2] in options else token[:2]
    return None  # a value, a negative number, "-" for stdin


def check_spelling(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> None:
    """Before argparse: a sub-command or an option cmaudit does not know is one usage error, with the nearest
    known spelling and the usage of the sub-command it was typed for (argparse would show the top-level usage
    and "unrecognized arguments")."""
    commands = sub_commands(parser)
    first = next((i for i, a in enumerate(arguments) if not a.startswith("-")), len(arguments))
    before = arguments[:first]
    if any(a in ("-h", "--help", "--version") for a in before):
        return
    for token in before:
        name = _unknown_option(parser, token)
        if name is not None:
            where = " (a command's options go after the command)" if any(
                _unknown_option(sub, token) is None for sub in commands.values()) else ""
            parser.error(f"unknown option {name[:40]}{_did_you_mean(name, list(parser._option_string_actions))}"
                         f"{where}")
    if first == len(arguments):
        return
    command = arguments[first]
    if command not in commands:
        parser.error(f"unknown command {command[:40]!r}{_did_you_mean(command, list(commands))} "
                     f"(commands: {', '.join(commands)})")
    sub = commands[command]
    for token in arguments[first + 1:]:
        if token == "--":
            break
        name = _unknown_option(sub, token)
        if name is not None:
            sub.error(f"unknown option {name[:40]}{_did_you_mean(name, list(sub._option_string_actions))} "
                      f"(see cmaudit {command} --help)")


def parse_arguments(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> argparse.Namespace:
    """argparse's reading of the command line; what is left over is the sub-command's usage error, not the
    top-level parser's "unrecognized arguments"."""
    check_spelling(parser, arguments)
    args, extra = parser.parse_known_args(arguments)
    if extra:
        command = getattr(args, "command", None)
        owner = sub_commands(parser).get(command or "", parser)
        shown = " ".join(repr(x[:40]) for x in extra[:3]) + (" ..." if len(extra) > 3 else "")
        owner.error(f"unexpected argument{'s' if len(extra) > 1 else ''} {shown}"
                    + (f" (see cmaudit {command} --help)" if command else ""))
    return args


def _commands() -> list[tuple[str, Command]]:
    """Every module in scanner.cli.commands is a sub-command: adding one needs no edit here."""
    found: list[tuple[str, Command]] = []
    for info in pkgutil.iter_modules(commands_pkg.__path__):
        if info.name.startswith("_"):
            continue
        module: Command = importlib.import_module(f"scanner.cli.commands.{info.name}")  # type: ignore[assignment]
        found.append((info.name.replace("_", "-"), module))
    return sorted(found, key=lambda item: (getattr(item[1], "ORDER", 100), item[0]))


def _tolerant_console() -> None:
    """Server text printed to a console whose code page lacks a character (cp1252/cp437 on Windows) is
    shown with a replacement mark rather than ending the run in a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_console()
    saved = sys.stdout, sys.stderr
    # Every line any command prints passes one sanitiser (reports.terminal): a log or a server cannot
    # send the admin's terminal escape sequences, whatever path its text takes to the console.
    sys.stdout, sys.stderr = ConsoleStream(sys.stdout), ConsoleStream(sys.stderr)  # type: ignore[assignment]
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`cmaudit check ... | head -1`): no traceback, and no second one when Python
        # flushes stdout at exit; the status a program killed by SIGPIPE would have.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, saved[0].fileno())
        return EXIT_BROKEN_PIPE
    finally:
        sys.stdout, sys.stderr = saved


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_arguments(parser, arguments)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = getattr(args, "debug", None)  # commands that offer --debug FILE
    try:
        with debug_trace(debug, arguments):
            try:
                return int(args._run(args))
            except (UsageError, KeyboardInterrupt, BrokenPipeError):
                raise
            except Exception as exc:  # noqa: BLE001 - a bug must not end as 1 ("findings present") with a traceback
                print(f"cmaudit: {report_crash(exc, debug, arguments)}", file=sys.stderr)
                return EXIT_SOFTWARE
    except UsageError as exc:
        print(f"cmaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cmaudit: interrupted", file=sys.stderr)
        return 130
