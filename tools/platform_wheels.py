"""Wheels for another platform than this one, with that platform's dependencies.

`pip download --platform win_amd64` resolves environment markers against the interpreter running pip (Linux),
so a dependency that only Windows needs (pyspnego's `sspilib; sys_platform == "win32"`, keyring's
`pywin32-ctypes`) is silently left out. `download` lets pip resolve, then reads every wheel's metadata, evaluates
its markers for the target platform and Python, and asks pip again with what was left out, until nothing is.

Used by tools/windows_python.py (the Windows test run under wine) and tools/wheelhouse.py (`make wheelhouse`).
"""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a venv without packaging: pip carries its own copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

ROUNDS = 5  # each round adds what markers for the target uncovered; two are usually enough


@dataclass(frozen=True)
class Target:
    """A platform and Python a set of wheels is for."""

    system: str  # "windows" or "linux"
    python: str  # "3.13"

    @property
    def tag(self) -> str:
        return f"{self.system}-cp{self.python.replace('.', '')}"

    def pip_options(self) -> list[str]:
        abi = f"cp{self.python.replace('.', '')}"
        platforms = ["win_amd64"] if self.system == "windows" else [
            "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64",
            "manylinux1_x86_64", "linux_x86_64"]
        options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.python]
        for platform in platforms:
            options += ["--platform", platform]
        for tag in (abi, "abi3", "none"):
            options += ["--abi", tag]
        return options

    def markers(self, extra: str = "") -> dict[str, str]:
        windows = self.system == "windows"
        return {
            "implementation_name": "cpython", "implementation_version": f"{self.python}.0",
            "os_name": "nt" if windows else "posix", "platform_machine": "AMD64" if windows else "x86_64",
            "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
            "platform_system": "Windows" if windows else "Linux", "python_full_version": f"{self.python}.0",
            "python_version": self.python, "sys_platform": "win32" if windows else "linux", "extra": extra,
        }


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return email.parser.BytesParser().parsebytes(archive.read(name), headersonly=True)


def left_out(wheels: list[Path], wanted: list[str], target: Target) -> list[str]:
    """Requirements the target needs that none of `wheels` provides (markers evaluated for the target)."""
    metadata = {canonicalize_name(str(m["Name"])): m for m in map(_metadata, wheels)}
    missing: dict[str, str] = {}
    todo = [(Requirement(text), "") for text in wanted]
    seen: set[tuple[str, str]] = set()
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate(target.markers(extra)):
            continue
        name = canonicalize_name(requirement.name)
        found = metadata.get(name)
        if found is None:
            missing[name] = f"{requirement.name}{requirement.specifier}"
            continue
        for want in ("", *sorted(requirement.extras)):
            if (name, want) in seen:
                continue
            seen.add((name, want))
            todo += [(Requirement(text), want) for text in found.get_all("Requires-Dist") or []]
    return sorted(missing.values())


def download(requirements: list[str], dest: Path, target: Target, *, pip: list[str] | None = None) -> list[Path]:
    """Download into `dest` every wheel `requirements` need on `target`; returns the wheels of this target."""
    pip = pip or [sys.executable, "-m", "pip"]
    wanted = list(requirements)
    for _round in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix=f"wheels-{target.tag}-") as scratch:
            subprocess.run([*pip, "download", "-qq", "--disable-pip-version-check", "--dest", scratch,
                            *target.pip_options(), *wanted], check=True)
            wheels = sorted(Path(scratch).glob("*.whl"))
            missing = left_out(wheels, wanted, target)
            if not missing:
                dest.mkdir(parents=True, exist_ok=True)
                for wheel in wheels:
                    if not (dest / wheel.name).exists():
                        shutil.copy2(wheel, dest / wheel.name)
                return [dest / wheel.name for wheel in wheels]
        print(f"{target.tag}: pip left out {', '.join(missing)} (markers of the target): adding them", flush=True)
        wanted += missing
    raise SystemExit(f"{target.tag}: the wheels' dependencies did not settle after {ROUNDS} rounds")
