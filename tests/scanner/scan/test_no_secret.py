"""No password reaches any output: every file of a demo run and of a recorded scan, stdout and stderr.

The runs go through the real CLI (`cmaudit demo`, `cmaudit scan --history --log-file`) with known passwords, faults
that produce auth and protocol errors, and a host whose own password is wrong. Every file under the
run folders is searched as bytes, gzip evidence decompressed, the SQLite history (and any journal)
included; the password is searched raw, as UTF-16LE, and as the Basic header's base64.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.cli.main import main
from simulator.fleet import Fleet
from tests.support.ntlm import hash_forms
from tests.support.scans import new_password, write_inventory

pytestmark = pytest.mark.network


def _forms(secret: str, username: str = "LAB\\auditor") -> list[bytes]:
    raw = secret.encode()
    # the NTLM hashes cmaudit logs on with are password-equivalent: searched for like the password
    hashes = [form.encode() for form in hash_forms(secret)]
    return [raw, secret.encode("utf-16-le"), base64.b64encode(raw),
            base64.b64encode(f"{username}:{secret}".encode()), base64.b64encode(f"auditor:{secret}".encode()), *hashes]


def _artefacts(root: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        yield path, data
        if data[:2] == b"\x1f\x8b":
            yield path.with_name(path.name + " (decompressed)"), gzip.decompress(data)


def _leaks(root: Path, streams: str, secrets: list[str]) -> list[str]:
    found = []
    forms = [form for secret in secrets for form in _forms(secret)]
    for path, data in _artefacts(root):
        found += [f"{path.relative_to(root)}" for form in forms if form in data]
    found += [f"<{name}>" for name, text in (("stdout+stderr", streams),) for form in forms
              if form.decode("latin-1") in text]
    return found


def test_demo_run_leaks_no_password(demo_run) -> None:
    """`cmaudit demo` with faulty hosts leaves its password in no file, stdout or stderr."""
    out = demo_run.root
    assert demo_run.status == 0, demo_run.stderr
    files = [p for p, _ in _artefacts(out)]
    assert any(p.name == "results.json" for p in files) and any(p.suffix == ".gz" for p in files)
    assert "auth" in (out / "results.json").read_text()  # the badauth host's error is in there
    assert not _leaks(demo_run.home, demo_run.stdout + demo_run.stderr, [demo_run.password])


def test_recorded_scan_leaks_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    """`cmaudit scan --history --log-file` with a wrong per-host password leaves no password in results,
    reports, evidence, the history database, the log file, stdout or stderr."""
    password, wrong = new_password(), new_password()
    with Fleet(hosts=8, password=password, faults="1=badauth,2=badxml,3=http500") as fleet:
        rows = fleet.inventory_rows()
        rows[4] = {**rows[4], "password_env": "CMAUDIT_TEST_OTHER"}
        inventory = write_inventory(tmp_path / "hosts.csv", rows)
        monkeypatch.setenv("CMAUDIT_PASSWORD", password)
        monkeypatch.setenv("CMAUDIT_TEST_OTHER", wrong)
        history = tmp_path / "state" / "history.sqlite"
        argv = ["scan", str(inventory), "-o", str(tmp_path / "run"), "--username", fleet.username,
                "--timeout", "4", "--retries", "1", "--history", str(history), "--quiet",
                "--log-file", str(tmp_path / "state" / "audit.log")]
        first = main(argv)
        second = main(argv[:3] + [str(tmp_path / "run2")] + argv[4:])  # a second run: changes are computed too
    captured = capfd.readouterr()
    assert first & 2 and second & 2, captured.err  # incomplete audit: the faulty hosts are ERROR
    assert history.is_file() and history.stat().st_size > 0
    assert (tmp_path / "state" / "audit.log").stat().st_size > 0  # the audit trail is searched too
    assert not _leaks(tmp_path, captured.out + captured.err, [password, wrong])


@pytest.mark.parametrize("where", ["plain", "gzip", "utf16", "basic-header", "stream"])
def test_leak_finder_sees_every_form(tmp_path: Path, where: str) -> None:
    """The search above would notice a password in any of the forms and places it looks at."""
    secret = new_password()
    data = {"plain": secret.encode(), "gzip": gzip.compress(b"x " + secret.encode()),
            "utf16": secret.encode("utf-16-le"), "basic-header": base64.b64encode(f"LAB\\auditor:{secret}".encode()),
            "stream": b"nothing"}[where]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file.bin").write_bytes(data if where == "gzip" else b"head " + data + b" tail")
    streams = f"error: {secret}" if where == "stream" else ""
    assert _leaks(tmp_path, streams, [secret])
