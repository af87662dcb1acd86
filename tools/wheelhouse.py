"""`make wheelhouse`: every wheel cmaudit needs to install on a jump box without an index; `make wheelhouse-check`.

    python tools/wheelhouse.py build   dist/wheelhouse/: cmaudit's wheel, its dependencies and its keyring extra
                                       for Windows x64 and Linux x86_64, CPython 3.11 to 3.13 (sspilib and the
                                       other Windows-only dependencies included), and setuptools and wheel, so
                                       a source folder installs offline too
    python tools/wheelhouse.py check   installs from it with --no-index: Linux CPython 3.11 to 3.13 (those found
                                       here) in fresh venvs, the source folder once, and Windows CPython 3.11
                                       and 3.13 under wine, whose own pip judges the Windows markers

On the jump box: copy the folder, then `pip install --no-index --find-links wheelhouse "cmaudit[keyring]"`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import platform_wheels
import windows_python

REPO = Path(__file__).resolve().parent.parent
WHEELHOUSE = REPO / "dist" / "wheelhouse"
PYTHONS = ("3.11", "3.12", "3.13")
WINDOWS_CHECKED = ("3.11", "3.13")
LOG = REPO / "tests" / "data" / "logs" / "server-affected" / "wsyncmgr.log"  # `cmaudit check` of a real log


def requirements() -> list[str]:
    """What a jump box installs: cmaudit's dependencies, its keyring extra, and what building cmaudit needs."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["keyring"],
            *pyproject["build-system"]["requires"]]


def build() -> Path:
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    for old in WHEELHOUSE.glob("cmaudit-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="cmaudit-wheel-") as scratch:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-qq", "--no-deps", "--wheel-dir", str(WHEELHOUSE),
                        str(REPO)], check=True, cwd=scratch)
    wanted = requirements()
    for system in ("windows", "linux"):
        for python in PYTHONS:
            target = platform_wheels.Target(system, python)
            wheels = platform_wheels.download(wanted, WHEELHOUSE, target)
            print(f"{target.tag}: {len(wheels)} wheels", flush=True)
    print(f"{WHEELHOUSE.relative_to(REPO)}: {len(list(WHEELHOUSE.glob('*.whl')))} wheels; on the jump box: "
          "pip install --no-index --find-links wheelhouse \"cmaudit[keyring]\"", flush=True)
    return WHEELHOUSE


def _offline(pip: list[str], *args: str) -> None:
    subprocess.run([*pip, "install", "-qq", "--disable-pip-version-check", "--no-index", "--find-links",
                    str(WHEELHOUSE), *args], check=True)


def check_linux(version: str, *, source: bool) -> bool:
    """A fresh venv of Linux CPython `version` installs cmaudit[keyring] offline and runs it; False: no such Python."""
    python = _linux_python(version)
    if python is None:
        print(f"linux-cp{version.replace('.', '')}: no python{version} on this machine, not checked", flush=True)
        return False
    with tempfile.TemporaryDirectory(prefix=f"wheelhouse-{version}-") as scratch:
        venv = Path(scratch) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        _offline(pip, "cmaudit[keyring]")
        _run_cmaudit([str(venv / "bin" / "cmaudit")])
        subprocess.run([str(venv / "bin" / "python"), "-c", "import keyring, pypsrp, spnego, cryptography"],
                       check=True)
        if source:  # the source folder (docs/scheduling.md): its build needs setuptools, from the wheelhouse
            _offline(pip, "--force-reinstall", "--no-deps", str(REPO))
    print(f"linux-cp{version.replace('.', '')}: installed offline from {WHEELHOUSE.name}"
          + (" (the wheel and the source folder)" if source else ""), flush=True)
    return True


def _linux_python(version: str) -> str | None:
    """A CPython `version` here that makes venvs: this one, `pythonX.Y` on the PATH, or a pyenv version."""
    if sys.version_info[:2] == tuple(map(int, version.split("."))):
        return getattr(sys, "_base_executable", sys.executable)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{version}"), *map(str, sorted(pyenv.glob(f"{version}.*/bin/python{version}")))]
    for python in filter(None, candidates):
        if subprocess.run([python, "-c", "import venv, ensurepip"], capture_output=True).returncode == 0:
            return python
    return None


def _run_cmaudit(command: list[str]) -> None:
    subprocess.run([*command, "--version"], check=True, stdout=subprocess.DEVNULL)
    done = subprocess.run([*command, "check", "--full-version", "4.00.6221.1000", str(LOG)], stdout=subprocess.PIPE,
                          text=True)
    if done.returncode != 1 or "AFFECTED" not in done.stdout:
        raise SystemExit(f"{command[0]} check: exit {done.returncode}, expected AFFECTED (1)\n{done.stdout}")


def check_windows(version: str) -> None:
    """Windows CPython `version` (under wine) installs cmaudit[keyring] offline with its own pip, and runs it."""
    python = windows_python.prepare(version, with_tests=False)
    pip_wheel = _pip_wheel()
    target = python.parent / "wheelhouse-install"
    shutil.rmtree(target, ignore_errors=True)
    status = windows_python.run(python, [windows_python.windows_path(pip_wheel / "pip"), "install", "-qq",
                                         "--disable-pip-version-check", "--no-index", "--find-links",
                                         windows_python.windows_path(WHEELHOUSE), "--target",
                                         windows_python.windows_path(target), "cmaudit[keyring]"], quiet=True)
    if status != 0:
        raise SystemExit(f"windows-cp{version.replace('.', '')}: pip install from the wheelhouse failed ({status})")
    installed = {p.name.split("-")[0].lower() for p in target.glob("*.dist-info")}
    missing = {"sspilib", "pywin32_ctypes", "pyspnego", "pypsrp", "keyring", "cmaudit"} - installed
    if missing:
        raise SystemExit(f"windows-cp{version.replace('.', '')}: not installed: {', '.join(sorted(missing))}")
    # cmaudit from the install folder: --version and a `check` of a log (no network; under wine 8 a current
    # cryptography cannot load, which the network commands would need)
    code = (f"import sys; sys.path.insert(0, {windows_python.windows_path(target)!r}); "
            "from scanner.cli.main import main; sys.exit(main(sys.argv[1:]))")
    for args, expect in ((["--version"], 0),
                         (["check", "--full-version", "4.00.6221.1000", windows_python.windows_path(LOG)], 1)):
        status = windows_python.run(python, ["-c", code, *args], quiet=True, expect=expect)
        if status != expect:
            raise SystemExit(f"windows-cp{version.replace('.', '')}: cmaudit {args[0]} exit {status}")
    print(f"windows-cp{version.replace('.', '')}: installed offline from {WHEELHOUSE.name} by Windows' own pip "
          f"({len(installed)} packages, sspilib and pywin32-ctypes among them)", flush=True)


def _pip_wheel() -> Path:
    """pip's own wheel, which runs straight from the file (`python pip.whl/pip install ...`)."""
    folder = windows_python.HOME / "pip"
    found = sorted(folder.glob("pip-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-qq", "--no-deps", "--only-binary=:all:",
                        "--dest", str(folder), "pip"], check=True)
        found = sorted(folder.glob("pip-*.whl"))
    return found[-1]


def check() -> None:
    if not any(WHEELHOUSE.glob("cmaudit-*.whl")):
        raise SystemExit(f"no wheelhouse in {WHEELHOUSE}: run make wheelhouse first")
    checked = [version for index, version in enumerate(PYTHONS) if check_linux(version, source=index == 0)]
    if "3.11" not in checked:
        raise SystemExit("Linux CPython 3.11 is needed to check the wheelhouse")
    for version in WINDOWS_CHECKED:
        check_windows(version)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    build() if args.command == "build" else check()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
