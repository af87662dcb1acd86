"""argparse `type=` converters, built from scanner.model.options so the command line and cmaudit.toml
accept exactly the same values and every option says "bad number" alike."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Sequence
from pathlib import Path

from scanner.model.options import (
    BOUNDS,
    ENV_NAME_RULE,
    SPN_SERVICE,
    ByteSize,
    Seconds,
    WholeNumber,
    is_env_name,
)


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """A converter for a whole number in [low, high]; the error names the allowed range."""
    return _whole(WholeNumber(low, high))


def _whole(bound: WholeNumber) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        try:
            return bound.check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None

    return convert


def _seconds(bound: Seconds) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        try:
            return bound.check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None

    return convert


def option(name: str) -> Callable[[str], int] | Callable[[str], float]:
    """The converter for a scan option of scanner.model.options.BOUNDS."""
    bound = BOUNDS[name]
    if isinstance(bound, ByteSize):
        return byte_size(name)
    return _whole(bound) if isinstance(bound, WholeNumber) else _seconds(bound)


positive_int = whole_number(1)
non_negative_int = whole_number(0)
port = _whole(WholeNumber(1, 65535))
seconds = _seconds(Seconds())


def folder(text: str) -> Path:
    """An output folder: `-o ""` would silently mean the working directory, so it is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name would mean the current folder; give a folder name "
                                         "(or . if that is really meant)")
    return Path(text)


def env_name(text: str) -> str:
    """`--password-env NAME`: a variable's name; the value is never echoed, in case it is the password."""
    if not is_env_name(text):
        raise argparse.ArgumentTypeError(ENV_NAME_RULE)
    return text


def spn_service(text: str) -> str:
    """A Kerberos SPN service class such as HTTP, WSMAN or host."""
    if not SPN_SERVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an SPN service class (e.g. HTTP, WSMAN, host)")
    return text



def byte_size(name: str) -> Callable[[str], int]:
    """A size in bytes for the BOUNDS option `name`, with or without a unit (scanner.model.options.ByteSize)."""
    bound = BOUNDS[name]
    assert isinstance(bound, ByteSize)

    def convert(text: str) -> int:
        try:
            return bound.check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} {exc}") from None

    return convert


def any_case_choice(choices: Sequence[str], what: str) -> Callable[[str], str]:
    """A converter for an option with fixed choices that takes them in any case (`--auth NTLM`) and, for a
    choice it does not know, names the nearest one."""
    canonical = {c.casefold(): c for c in choices}

    def convert(text: str) -> str:
        found = canonical.get(text.strip().casefold())
        if found is not None:
            return found
        near = difflib.get_close_matches(text.strip().casefold(), list(canonical), n=1, cutoff=0.6)
        hint = f"; did you mean {canonical[near[0]]}?" if near else ""
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not {what} (one of {', '.join(choices)}){hint}")

    return convert
