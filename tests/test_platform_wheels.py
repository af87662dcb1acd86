"""The wheelhouse and the Windows test run get every dependency the target platform needs, not only this one's."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

from tests.paths import REPO

_SPEC = importlib.util.spec_from_file_location("platform_wheels", REPO / "tools" / "platform_wheels.py")
assert _SPEC is not None and _SPEC.loader is not None
platform_wheels = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("platform_wheels", platform_wheels)  # tools/ is no package: its dataclasses need the entry
_SPEC.loader.exec_module(platform_wheels)


def _wheel(folder: Path, name: str, requires: list[str]) -> Path:
    """A minimal wheel: only its METADATA, which is all the resolver reads."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", metadata)
    return path


def test_windows_only_dependencies_are_added_for_windows(tmp_path):
    """pyspnego's sspilib (sys_platform == "win32") is found missing for Windows and not for Linux."""
    wheels = [_wheel(tmp_path, "pyspnego", ['sspilib>=0.5.0; sys_platform == "win32"', "cryptography"]),
              _wheel(tmp_path, "cryptography", ['cffi>=1.12; platform_python_implementation != "PyPy"']),
              _wheel(tmp_path, "cffi", [])]
    windows = platform_wheels.Target("windows", "3.13")
    linux = platform_wheels.Target("linux", "3.13")
    assert platform_wheels.left_out(wheels, ["pyspnego>=0.11"], windows) == ["sspilib>=0.5.0"]
    assert platform_wheels.left_out(wheels, ["pyspnego>=0.11"], linux) == []


def test_markers_of_the_target_python_and_requested_extras_count(tmp_path):
    """A dependency for older Pythons is wanted on 3.11 only, and an extra's dependencies only when asked for."""
    wheels = [_wheel(tmp_path, "keyring", ['importlib-metadata>=4.11.4; python_version < "3.12"',
                                           'pywin32-ctypes>=0.2.0; sys_platform == "win32"',
                                           'pytest; extra == "test"'])]
    assert platform_wheels.left_out(wheels, ["keyring"], platform_wheels.Target("windows", "3.11")) == \
        ["importlib-metadata>=4.11.4", "pywin32-ctypes>=0.2.0"]
    assert platform_wheels.left_out(wheels, ["keyring"], platform_wheels.Target("linux", "3.13")) == []
    assert platform_wheels.left_out(wheels, ["keyring[test]"], platform_wheels.Target("linux", "3.13")) == ["pytest"]
