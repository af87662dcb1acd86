"""`cmaudit version`: print cmaudit's version (the same text as `cmaudit --version`)."""

from __future__ import annotations

import argparse

from scanner import __version__

HELP = "print cmaudit's version"
ORDER = 99


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    print(f"cmaudit {__version__}")
    return 0
