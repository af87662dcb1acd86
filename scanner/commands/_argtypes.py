"""argparse `type=` converters shared by the sub-commands, so every option says "bad number" alike.

Not a sub-command (the leading underscore keeps scanner.cli from registering it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """A converter for a whole number in [low, high]; the error names the allowed range."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value

    return convert


positive_int = whole_number(1)
non_negative_int = whole_number(0)
port = whole_number(1, 65535)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value
