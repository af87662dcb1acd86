"""The documentation does what it says, followed literally: install steps, paths, tables, help texts."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from scanner.model.records import ErrorCategory
from tests.paths import REPO

SCHEDULING = REPO / "docs" / "scheduling.md"
# Where the Linux set-up puts things; the test moves all of them under a temporary root.
SYSTEM_PATHS = ("/opt/cmaudit", "/etc/cmaudit", "/var/lib/cmaudit", "/var/log/cmaudit")


def _steps(marker: str) -> list[str]:
    """The lines of the shell block that follows `<!-- steps: marker -->` in docs/scheduling.md."""
    text = SCHEDULING.read_text(encoding="utf-8")
    found = re.search(rf"<!-- steps: {marker} -->\n```sh\n(.*?)\n```", text, re.S)
    assert found is not None, f"no `<!-- steps: {marker} -->` block in {SCHEDULING}"
    return found.group(1).splitlines()


def _in_root(line: str, root: Path) -> str:
    for path in SYSTEM_PATHS:
        line = line.replace(path, f"{root}{path}")
    return line


def _as_test_step(line: str, root: Path) -> str | None:
    """A documented line as the test runs it (None: skipped). Only what a test box cannot do is changed:
    no sudo (the test is whoever runs it), no user account or ownership, no KDC, no network for pip."""
    line = re.sub(r"^sudo (-u \S+ )?", "", line.strip())
    line = line.replace("| sudo tee", "| tee")
    if not line or line.startswith("#") or line.startswith(("useradd", "klist")):
        return None
    line = re.sub(r" -o \S+ -g \S+", "", line)  # owners need the account that useradd would create
    if re.search(r"/bin/pip install ", line):
        venv = _in_root(line.split(" ", 1)[0].rsplit("/bin/", 1)[0], root)
        deps = sysconfig.get_paths()["purelib"]  # this environment's dependencies: a test has no network
        # What `pip install` would leave: the package importable and a `cmaudit` entry point in the venv.
        return (f'site="$(ls -d {venv}/lib/python3*/site-packages)" && '
                f'printf "%s\\n%s\\n" "{REPO}" "{deps}" > "$site/cmaudit-checkout.pth" && '
                f'printf "#!{venv}/bin/python\\nimport sys\\nfrom scanner.cli.main import main\\n'
                f'sys.exit(main())\\n" > {venv}/bin/cmaudit && chmod 0755 {venv}/bin/cmaudit')
    return _in_root(line, root)


@pytest.mark.skipif(os.name == "nt" or shutil.which("sh") is None, reason="the Linux steps need a POSIX shell")
def test_linux_install_steps_of_the_scheduling_guide_work(tmp_path: Path) -> None:
    """The documented Linux set-up, run in a temporary root, leaves everything the unit file and cron wrapper use."""
    root, work = tmp_path / "root", tmp_path / "work"
    root.mkdir()
    work.mkdir()
    for name in ("cmaudit.toml", "fleet.csv", "svc-cmaudit.keytab"):  # what the admin brings along
        (work / name).write_text(f"# {name}\n", encoding="utf-8")
    script = "\n".join(step for line in _steps("linux-install") if (step := _as_test_step(line, root)))
    proc = subprocess.run(["sh", "-eu", "-c", script], cwd=work, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, f"{script}\n---\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r"cmaudit \d", proc.stdout), proc.stdout  # `cmaudit --version` ran from the new venv
    text = SCHEDULING.read_text(encoding="utf-8")
    used = set(re.findall(r"(?:/opt/cmaudit|/etc/cmaudit)/[\w./-]+", text))
    assert "/opt/cmaudit/.venv/bin/cmaudit" in used and "/etc/cmaudit/cmaudit.keytab" in used
    missing = sorted(p for p in used if not Path(f"{root}{p}").exists())
    assert missing == [], f"paths the guide uses that its set-up does not create: {missing}"
    assert stat.S_IMODE((root / "etc/cmaudit/cmaudit.env").stat().st_mode) == 0o600


def test_readme_lists_every_error_category_and_exit_status() -> None:
    """The README names every ERROR category results.json can hold, and the exit statuses 0-3, 64, 130 and 141."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    categories = readme[readme.index("`ERROR` categories:"):]
    categories = categories[: categories.index("\n\n")]
    assert [c.value for c in ErrorCategory if f"`{c.value}`" not in categories] == []
    table = readme[readme.index("### Exit status"):]
    assert all(f"\n| {status} " in table for status in ("0", "64", "130", "141"))


def test_readme_documents_every_csv_inventory_column() -> None:
    """Every field the CSV inventory reads (cert_pem and cert_key_pem included) is in the README's column list."""
    from inventory.csv_inventory import COLUMNS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    header = re.search(r"CSV with a header: `([^`]+)`", readme)
    assert header is not None
    fields = {"transport" if field == "scheme" else field for field in COLUMNS.values()}  # aliases aside
    assert sorted(fields - set(header.group(1).split(","))) == []


def _help(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "scanner", *argv, "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_check_help_states_checks_own_exit_status() -> None:
    """`cmaudit check --help` states check's exit status (by verdict), not the scan's ("every host judged")."""
    text = _help("check")
    assert "every host judged" not in text
    assert "UNKNOWN" in text and "AT_RISK" in text and "64" in text


def test_simulate_help_names_the_address_column() -> None:
    """`cmaudit simulate --help` says the inventory it writes has an `address` column."""
    assert "address" in _help("simulate")


def test_readme_names_only_report_csv_columns_that_exist() -> None:
    """Where the README says which report.csv column holds something, report.csv has that column (the ERROR
    hint is in `remediation`; an `error_hint` column was dropped, and the README went on naming it)."""
    from reports.csv_report import FIELDNAMES

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"`report\.csv`[^.;]*? in `([a-z_]+)`", readme.replace("\n", " "))
    assert named and sorted(set(named) - set(FIELDNAMES)) == []
