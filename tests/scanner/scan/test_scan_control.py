"""Scan control an admin relies on: the auth breaker, interrupting a run, HTTPS with a CA file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.model.errors import UsageError
from scanner.model.records import ErrorCategory, Verdict
from simulator.fleet import Fleet
from tests.paths import REPO
from tests.support.fleet import healthy_machine, new_password, scan

pytestmark = pytest.mark.network



def test_wrong_password_trips_the_breaker(tmp_path: Path) -> None:
    """After K failed logons in a row the remaining hosts are skipped and never see a logon attempt."""
    password = new_password()
    with Fleet(hosts=7, password=password, machine_factory=healthy_machine, profiles=["h"] * 7) as fleet:
        wrong = "wrong-" + password[::-1]
        result = scan(fleet, tmp_path, wrong, concurrency=1, max_auth_failures=3)
        attempts_seen = [h.counters.requests for h in fleet.hosts]
    hosts = result.outcome.results.hosts
    categories = [h.error.category if h.error else None for h in hosts]
    assert categories == [ErrorCategory.AUTH] * 3 + [ErrorCategory.AUTH_SKIPPED] * 4
    assert all(h.attempts == 1 for h in hosts[:3])  # never retried
    assert attempts_seen[3:] == [0] * 4
    assert "PASSWORD REJECTED: the password for LAB\\auditor was rejected by 3 host(s); 4 not tried to protect " \
           "the account" in result.stdout
    assert result.outcome.exit_status == 2
    texts = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()] + [(result.stdout + result.stderr).encode()]
    assert not any(wrong.encode() in t or password.encode() in t for t in texts)  # neither password leaks


def test_one_bad_host_does_not_trip_the_breaker(tmp_path: Path) -> None:
    """A single host rejecting the account fails alone; every other host is scanned."""
    password = new_password()
    with Fleet(hosts=5, password=password, faults="0=badauth", machine_factory=healthy_machine,
               profiles=["h"] * 5) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=1, max_auth_failures=2)
    hosts = result.outcome.results.hosts
    assert hosts[0].error is not None and hosts[0].error.category is ErrorCategory.AUTH
    assert all(h.verdict is not Verdict.ERROR for h in hosts[1:])


def test_stop_writes_results_for_every_host(tmp_path: Path) -> None:
    """Stopping a running scan still leaves a results.json with every host; unfinished ones interrupted."""
    password = new_password()
    with Fleet(hosts=6, password=password, faults="2-5=hang", machine_factory=healthy_machine,
               profiles=["h"] * 6) as fleet:
        runners = []
        done = []

        def on_done(run: object) -> None:
            done.append(run)
            if len(done) == 2:
                runners[0].request_stop()

        result = scan(fleet, tmp_path, password, concurrency=2, timeout=30.0, grace=0.3,
                      on_runner=runners.append, on_host_done=on_done)
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert doc["meta"]["interrupted"] is True and len(doc["hosts"]) == 6
    verdicts = [h["verdict"] for h in doc["hosts"]]
    assert verdicts[:2] != ["ERROR", "ERROR"]
    assert all(h["error"]["category"] == "interrupted" for h in doc["hosts"][2:])
    assert result.outcome.exit_status & 2


# Sending Ctrl-C or SIGTERM to another process is POSIX: on Windows Ctrl-C reaches the processes of a console
# (test_ctrl_c_in_the_console_stops_the_scan covers it there) and a stopped task is terminated outright.
POSIX_SIGNALS = pytest.mark.skipif(os.name == "nt", reason="sends a POSIX signal to another process")


class _CtrlCOnProgress:
    """stderr for main(): once `line` is printed (a host is done), Ctrl-C arrives as a console delivers it."""

    def __init__(self, line: str) -> None:
        self.line, self.text, self.sent = line, [], False

    def write(self, text: str) -> int:
        self.text.append(text)
        if not self.sent and self.line in "".join(self.text):
            import _thread

            self.sent = True
            _thread.interrupt_main(signal.SIGINT)  # what the console's Ctrl-C does, on POSIX and Windows alike
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_ctrl_c_in_the_console_stops_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the console during `cmaudit scan` ends it promptly, every host in results.json (the unfinished
    ones ERROR/interrupted), on Windows as on Linux."""
    from scanner.cli.main import main

    password = new_password()
    with Fleet(hosts=5, password=password, faults="1-4=hang", machine_factory=healthy_machine,
               profiles=["h"] * 5) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        monkeypatch.setenv("CMAUDIT_PASSWORD", password)
        stderr = _CtrlCOnProgress("[1/5]")
        monkeypatch.setattr(sys, "stderr", stderr)
        status = main(["scan", str(inventory), "-o", str(tmp_path / "run"), "--username", fleet.username,
                       "--timeout", "60", "--concurrency", "2", "--workers", "1", "--no-history"])
    assert stderr.sent and status in (2, 3), "".join(stderr.text)
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert len(doc["hosts"]) == 5 and doc["meta"]["interrupted"] is True
    assert sum(h["error"] is not None and h["error"]["category"] == "interrupted" for h in doc["hosts"]) == 4


@POSIX_SIGNALS
@pytest.mark.parametrize("signum", [pytest.param(signal.SIGINT, id="ctrl-c"),
                                    pytest.param(signal.SIGTERM, id="sigterm")])
def test_signal_to_cmaudit_scan(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM on a real `cmaudit scan` process ends it promptly with a complete results.json."""
    password = new_password()
    with Fleet(hosts=5, password=password, faults="1-4=hang", machine_factory=healthy_machine,
               profiles=["h"] * 5) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        env = {**os.environ, "CMAUDIT_PASSWORD": password}
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", "scan", str(inventory), "-o", str(tmp_path / "run"),
             "--username", fleet.username, "--timeout", "60", "--concurrency", "2",
             "--history", str(tmp_path / "history.sqlite3")],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        assert proc.stderr is not None
        for line in proc.stderr:  # the first finished host is the signal that the scan is under way
            if "[1/5]" in line:
                break
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode in (2, 3), stderr  # bit 2: incomplete audit (bit 1: the healthy host is AT_RISK)
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert len(doc["hosts"]) == 5 and doc["meta"]["interrupted"] is True
    assert sum(h["error"] is not None and h["error"]["category"] == "interrupted" for h in doc["hosts"]) == 4
    assert password not in stdout + stderr
    assert (tmp_path / "history.sqlite3").is_file()  # an interrupted run is still recorded


def test_https_basic_with_ca_file(tmp_path: Path) -> None:
    """HTTPS with Basic works when the CA is given, and is refused as ERROR/tls (not retried, the hint naming
    --ca-file) when it is not."""
    password = new_password()
    with Fleet(hosts=2, password=password, tls=True, auth="basic", machine_factory=healthy_machine,
               profiles=["h"] * 2) as fleet:
        good = scan(fleet, tmp_path / "good", password, scheme="https")
        bad = scan(fleet, tmp_path / "bad", password, scheme="https", ca_file=None)
        insecure = scan(fleet, tmp_path / "insecure", password, scheme="https", ca_file=None, insecure=True)
    assert all(h.verdict is not Verdict.ERROR for h in good.outcome.results.hosts)
    assert all(h.error is not None and h.error.category is ErrorCategory.TLS and h.attempts == 1
               for h in bad.outcome.results.hosts)
    assert "certificate" in bad.outcome.results.hosts[0].error.message  # type: ignore[union-attr]
    assert "--ca-file" in bad.outcome.results.hosts[0].error.hint  # type: ignore[union-attr]
    assert insecure.outcome.results.meta.insecure and "--insecure" in insecure.stderr
    assert all(h.verdict is not Verdict.ERROR for h in insecure.outcome.results.hosts)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["scan", "does-not-exist.csv"], id="missing-inventory"),
        pytest.param(["scan", "hosts.csv", "--ca-file", "no-such-ca.pem"], id="missing-ca-file"),
        pytest.param(["scan", "hosts.csv", "--concurrency", "0"], id="zero-concurrency"),
        pytest.param(["scan", "hosts.csv", "--workers", "0"], id="zero-workers"),
        pytest.param(["scan", "hosts.csv", "--timeout", "-1"], id="negative-timeout"),
    ],
)
def test_bad_usage_exits_64(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """Bad options or an unreadable inventory give one error line and exit status 64, no traceback."""
    from scanner.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hosts.csv").write_text("host,port\n127.0.0.1,1\n", encoding="utf-8")
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse rejects bad option values itself (with cmaudit's status 64)
        status = exc.code  # type: ignore[assignment]
    assert status == 64
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" in err


def test_per_host_credential_failure_stays_with_that_host(tmp_path: Path) -> None:
    """A host whose own password variable is wrong fails alone: its rejection counts against the account's
    allowance (the domain counts failed logons per account, whatever variable held the password), and the next
    host's logon with the right one proves the account again."""
    import io

    from scanner.cli.scan_console import run_scan
    from scanner.scan.settings import ScanSettings

    password = new_password()
    with Fleet(hosts=4, password=password, machine_factory=healthy_machine, profiles=["h"] * 4) as fleet:
        rows = ["host,port,transport,auth,password_env"]
        rows += [f"127.0.0.1,{h.port},http,ntlm,{'SITE2_PASSWORD' if h.index == 1 else ''}" for h in fleet.hosts]
        inventory = tmp_path / "hosts.csv"
        inventory.write_text("\n".join(rows) + "\n", encoding="utf-8")
        outcome = run_scan(
            ScanSettings(inventory=inventory, output=tmp_path / "run", username=fleet.username, timeout=5.0,
                         concurrency=1, max_auth_failures=2),
            environ={"CMAUDIT_PASSWORD": password, "SITE2_PASSWORD": "not-" + password},
            out=io.StringIO(), err=io.StringIO(), install_signal_handlers=False)
    hosts = outcome.results.hosts
    assert hosts[1].error is not None and hosts[1].error.category is ErrorCategory.AUTH
    assert [h.verdict is Verdict.ERROR for h in hosts] == [False, True, False, False]


def test_history_shows_changes_on_the_second_run(tmp_path: Path) -> None:
    """With a history database the second scan's report says what changed since the first."""
    password = new_password()
    history = tmp_path / "history.sqlite3"
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        first = scan(fleet, tmp_path, password, history=history, output=tmp_path / "one")
        fleet.stop_host(1)
        second = scan(fleet, tmp_path, password, history=history, retries=0, output=tmp_path / "two")
    assert first.outcome.results.hosts[1].verdict is not Verdict.ERROR
    assert second.outcome.results.hosts[1].verdict is Verdict.ERROR
    import csv

    def changes(result: object) -> list[str]:
        with result.outcome.paths["csv"].open(encoding="utf-8-sig", newline="") as fh:  # type: ignore[attr-defined]
            return [row["change"] for row in csv.DictReader(fh)]

    assert "Since last run" in second.outcome.paths["html"].read_text(encoding="utf-8")
    assert changes(first) == ["", ""] and "newly-unreachable" in changes(second)
    assert "history" not in second.stderr  # no "history not updated" complaint


def test_scheduled_scan_from_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`cmaudit scan --config cmaudit.toml` takes inventory and account from the file, one run folder per run."""
    from scanner.cli.main import main

    password = new_password()
    monkeypatch.setenv("SCHEDULED_PW", password)
    monkeypatch.delenv("CMAUDIT_PASSWORD", raising=False)
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        fleet.write_inventory(tmp_path / "hosts.csv")
        user = fleet.username.replace("\\", "\\\\")
        (tmp_path / "cmaudit.toml").write_text(
            f'inventory = "hosts.csv"\noutput = "runs"\nusername = "{user}"\npassword_env = "SCHEDULED_PW"\n'
            'record_history = false\nquiet = true\ntimeout = 10\n', encoding="utf-8")
        status = main(["scan", "--config", str(tmp_path / "cmaudit.toml")])
    runs = list((tmp_path / "runs").iterdir())
    assert status == 1 and len(runs) == 1  # the healthy machine is AT_RISK: findings, audit complete
    assert (runs[0] / "results.json").is_file() and (runs[0] / "report.html").is_file()
    assert password not in capsys.readouterr().out


def test_no_password_anywhere_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Without any password source the scan refuses to start (no failed logons) and says where to put one."""
    from scanner.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CMAUDIT_PASSWORD", raising=False)
    (tmp_path / "hosts.csv").write_text("host,port,auth\n127.0.0.1,1,ntlm\n", encoding="utf-8")
    assert main(["scan", "hosts.csv", "--username", "LAB\\auditor", "--no-history", "-o", "run"]) == 64
    assert "$CMAUDIT_PASSWORD" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_report_that_cannot_be_written_keeps_the_results(tmp_path: Path) -> None:
    """A report.csv held open (here: a folder in its place) costs neither results.json nor the HTML report."""
    password = new_password()
    run_dir = tmp_path / "run"
    (run_dir / "report.csv").mkdir(parents=True)
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        result = scan(fleet, tmp_path, password)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert len(results["hosts"]) == 2
    assert (run_dir / "report.html").is_file()
    assert "report.csv" in result.stderr and "Traceback" not in result.stderr
    assert set(result.outcome.paths) == {"json", "jsonl", "html", "junit"}


def test_basic_with_a_password_beyond_latin1_is_a_usage_error(tmp_path: Path) -> None:
    """Basic auth with a password Latin-1 cannot carry is a clear usage error before any host is contacted."""
    password = "Pw-\u20ac-" + new_password()  # the euro sign is not Latin-1
    with Fleet(hosts=1, password=password, tls=True, auth="basic", machine_factory=healthy_machine,
               profiles=["h"]) as fleet:
        with pytest.raises(UsageError) as refused:
            scan(fleet, tmp_path, password, scheme="https")
        assert fleet.hosts[0].counters.requests == 0
    message = str(refused.value)
    assert "Basic" in message and "Latin-1" in message and "ntlm" in message and password not in message


@POSIX_SIGNALS
def test_ctrl_c_while_another_run_holds_the_history(tmp_path: Path) -> None:
    """Ctrl-C while another process holds the history's write lock ends the scan within seconds, exit 130,
    with results.json and the CSV/HTML reports written (it waited out the 30 s lock, then wrote no reports)."""
    import sqlite3
    import time

    from scanner.history import database as history
    from tests.support.weekly_runs import run

    db = tmp_path / "history.sqlite3"
    history.record_run(db, run(1))  # an existing history, as on any jump box after the first week
    password = new_password()
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another cmaudit writing its run
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "scanner", "scan", str(inventory), "-o", str(tmp_path / "run"),
                 "--username", fleet.username, "--quiet", "--history", str(db)],
                cwd=REPO, env={**os.environ, "CMAUDIT_PASSWORD": password}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            results = tmp_path / "run" / "results.json"
            give_up = time.monotonic() + 120
            while not results.exists() and proc.poll() is None and time.monotonic() < give_up:
                time.sleep(0.02)  # polling for the file the scan writes just before it waits for the history
            assert results.exists(), proc.communicate(timeout=30)
            asked = time.monotonic()
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
            reacted = time.monotonic() - asked
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert proc.returncode == 130, stderr
    assert reacted < 5.0, reacted  # within a second on an idle box; room for a loaded one
    assert (tmp_path / "run" / "report.csv").is_file() and (tmp_path / "run" / "report.html").is_file()
    assert "interrupted while recording the history" in stderr and "Traceback" not in stderr
    assert len(history.list_runs(db)) == 1  # the interrupted run was not recorded


def test_ctrl_c_right_after_results_json_still_writes_the_reports(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that lands just as results.json is written (before the history step starts) still leaves the
    CSV and HTML reports and exit 130 (it used to escape the guard: exit 130 with no reports at all)."""
    from reports.json_report import JsonReporter

    original = JsonReporter.write
    calls = []

    def write_then_interrupt(self: JsonReporter, results: object, path: Path) -> None:
        original(self, results, path)  # type: ignore[arg-type]
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as SIGINT delivered right after the rename

    monkeypatch.setattr(JsonReporter, "write", write_then_interrupt)
    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["h"]) as fleet:
        result = scan(fleet, tmp_path, password, history=tmp_path / "history.sqlite3")
    run = tmp_path / "run"
    assert result.outcome.exit_status == 130
    assert (run / "results.json").is_file() and (run / "report.csv").is_file() and (run / "report.html").is_file()
    assert "interrupted while recording the history" in result.stderr
