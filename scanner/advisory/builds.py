"""ConfigMgr/SMS `Full Version` strings: parsing and classification against an advisory's ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_VERSION = re.compile(r"\d{1,6}(?:\.\d{1,6}){0,3}")


class BuildStatus(StrEnum):
    AFFECTED = "affected"  # the advisory applies to this build
    FIXED = "fixed"  # a later build of the product that includes the fix
    NOT_APPLICABLE = "not_applicable"  # another product (SMS 2003, ConfigMgr 2012+)
    UNKNOWN = "unknown"  # no build, or one no range names: judged by the logs


@dataclass(frozen=True, slots=True)
class BuildRange:
    """`start <= build < below`, compared part by part as integers ("4.00.6221" < "4.00.6221.1000")."""

    name: str
    start: tuple[int, ...]
    below: tuple[int, ...]
    status: BuildStatus

    def contains(self, version: tuple[int, ...]) -> bool:
        return self.start <= version < self.below


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """"4.00.6221.1000" -> (4, 0, 6221, 1000); None for anything that is not a dotted number."""
    if text is None or not _VERSION.fullmatch(text.strip()):
        return None
    return tuple(int(part) for part in text.strip().split("."))


def classify(build: str | None, ranges: tuple[BuildRange, ...]) -> tuple[BuildStatus, BuildRange | None]:
    """The first range holding the build, and its status; UNKNOWN when none does."""
    version = parse_version(build)
    if version is None:
        return BuildStatus.UNKNOWN, None
    for r in ranges:
        if r.contains(version):
            return r.status, r
    return BuildStatus.UNKNOWN, None
