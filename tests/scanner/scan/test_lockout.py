"""A wrong password reaches at most --max-auth-failures hosts, counted by the servers themselves."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from reports.console import exit_status
from scanner.model.records import ErrorCategory, RejectedPassword, RunResults, Verdict, Waiver
from scanner.model.results_file import load_results
from simulator.fleet import Fleet
from tests.support import scans
from tests.support.fleet import healthy_machine, new_password, scan
from tests.support.samples import meta, simple
from tests.support.scans import write_inventory

pytestmark = pytest.mark.network

FLEET = 40


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def fleet(password: str):
    with Fleet(hosts=FLEET, password=password, machine_factory=healthy_machine, profiles=["h"] * FLEET) as fleet:
        yield fleet


def _wrong_passwords(fleet: Fleet) -> list[int]:
    return [h.counters.wrong_passwords for h in fleet.hosts]


@pytest.mark.parametrize("workers", [pytest.param(1, id="one-process"), pytest.param(2, id="two-workers")])
def test_a_wrong_password_reaches_at_most_the_limit(fleet: Fleet, password: str, tmp_path: Path,
                                                    workers: int) -> None:
    """40 healthy hosts at --concurrency 32, a wrong password, --max-auth-failures 3: the servers see at most
    3 failed logons in total, and every other host says it was not tried to protect the account."""
    before = _wrong_passwords(fleet)
    result = scan(fleet, tmp_path, "wrong-" + password[::-1], concurrency=32, max_auth_failures=3, workers=workers)
    seen = [after - b for after, b in zip(_wrong_passwords(fleet), before, strict=True)]
    assert sum(seen) <= 3 and max(seen) <= 1
    hosts = result.outcome.results.hosts
    rejected = [h for h in hosts if h.error is not None and h.error.category is ErrorCategory.AUTH]
    skipped = [h for h in hosts if h.error is not None and h.error.category is ErrorCategory.AUTH_SKIPPED]
    assert len(rejected) == sum(seen) and len(rejected) + len(skipped) == FLEET
    assert all("not tried: protects LAB\\auditor from a lockout" in h.error.message for h in skipped if h.error)
    assert all(h.requests == 0 for h in skipped)
    said = f"the password for LAB\\auditor was rejected by {len(rejected)} host(s); {len(skipped)} not tried to " \
           "protect the account"
    assert result.stdout.startswith(f"PASSWORD REJECTED: {said}.")
    assert result.outcome.exit_status == 2
    saved = (tmp_path / "run" / "results.json").read_text(encoding="utf-8")
    assert json.loads(saved.splitlines()[3].rstrip(",").split(": ", 1)[1]) == [said]  # after schema and version
    assert load_results(tmp_path / "run" / "results.json").meta.rejected_passwords == (
        RejectedPassword("LAB\\auditor", len(rejected), len(skipped)),)  # `cmaudit report` says it again
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert html.index(said) < html.index('id="summary"')


def _inventory(fleet: Fleet, tmp_path: Path, **columns: list[str]) -> Path:
    """The fleet's inventory with extra columns, their values taken in turn row after row."""
    with fleet.write_inventory(tmp_path / "fleet.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for n, row in enumerate(rows):
        row.update({name: values[n % len(values)] for name, values in columns.items()})
    return write_inventory(tmp_path / "hosts.csv", rows)


@pytest.mark.parametrize("columns", [
    pytest.param({"username": ["LAB\\auditor", "lab\\AUDITOR", "LAB\\Auditor", "auditor@LAB.TEST"]},
                 id="four-spellings"),
    pytest.param({"username": ["LAB\\auditor", "auditor"]}, id="a-bare-name"),
    pytest.param({"password_env": ["CMAUDIT_PASSWORD", "PW_B", ""]}, id="three-password-sources"),
])
def test_every_spelling_and_password_source_shares_one_allowance(fleet: Fleet, password: str, tmp_path: Path,
                                                                 columns: dict[str, list[str]]) -> None:
    """The domain counts failed logons per account: however the inventory spells the user or wherever the password
    comes from, a wrong password reaches at most 3 servers, and the banner names the account once."""
    before = _wrong_passwords(fleet)
    wrong = "wrong-" + password[::-1]
    result = scans.scan(_inventory(fleet, tmp_path, **columns), tmp_path / "run",
                        {"CMAUDIT_PASSWORD": wrong, "PW_B": wrong + "-b"}, username=fleet.username, concurrency=32,
                        max_auth_failures=3)
    seen = [after - b for after, b in zip(_wrong_passwords(fleet), before, strict=True)]
    assert sum(seen) <= 3, seen
    assert len(result.outcome.results.meta.rejected_passwords) == 1
    assert result.stdout.count("PASSWORD REJECTED") == 1


@pytest.mark.parametrize("how", [
    pytest.param("rescan-failed", id="rescan-failed"),
    pytest.param("same-process", id="a-second-scan-in-the-process"),
    pytest.param("history", id="the-audit's-next-recorded-run"),
])
def test_the_next_run_starts_from_the_failed_logons_of_the_last(fleet: Fleet, password: str, tmp_path: Path,
                                                                 how: str) -> None:
    """A run after one that a wrong password stopped (--rescan-failed, the hint's own command; another scan in the
    same process; the audit's next run with a history) tries one host first: the same typo reaches one more
    server, not another 3, and a corrected password then scans every host."""
    from scanner.scan.accounts import UNPROVEN

    wrong = "wrong-" + password[::-1]
    history = tmp_path / "history.sqlite3" if how == "history" else None
    before = sum(_wrong_passwords(fleet))
    first = scan(fleet, tmp_path / "first", wrong, concurrency=32, max_auth_failures=3, history=history)
    assert first.outcome.exit_status == 2 and sum(_wrong_passwords(fleet)) - before <= 3
    if how != "same-process":
        UNPROVEN.forget()  # as a new process would start
    again = {"rescan_failed": tmp_path / "first" / "run" / "results.json"} if how == "rescan-failed" else {}
    before = sum(_wrong_passwords(fleet))
    second = scan(fleet, tmp_path / "second", wrong, concurrency=32, max_auth_failures=3, history=history, **again)
    assert sum(_wrong_passwords(fleet)) - before == 1
    skipped = [h.error.message for h in second.outcome.results.hosts
               if h.error is not None and h.error.category is ErrorCategory.AUTH_SKIPPED]
    assert skipped and all("failed logon(s) left from an earlier run" in message for message in skipped)
    if how != "same-process":
        UNPROVEN.forget()
    fixed = scan(fleet, tmp_path / "fixed", password, concurrency=32, max_auth_failures=3, history=history, **again)
    assert all(h.verdict is not Verdict.ERROR for h in fixed.outcome.results.hosts)


@pytest.mark.parametrize("fault", [pytest.param("badauth", id="a-host-refusing-every-logon"),
                                   pytest.param("nonadmin+denied401", id="a-non-administrator-answered-401")])
def test_a_refusal_after_the_password_worked_elsewhere_is_not_called_a_wrong_password(tmp_path: Path,
                                                                                      fault: str) -> None:
    """The right password, one host of ten refusing the account with a bare 401: the run does not tell the admin
    to fix a password nine hosts accepted; when it counts the refusal it says what is true instead."""
    password = new_password()
    with Fleet(hosts=10, password=password, machine_factory=healthy_machine, profiles=["h"] * 10,
               faults=f"3={fault}") as fleet:
        result = scan(fleet, tmp_path, password)
    assert "PASSWORD REJECTED" not in result.stdout and "fix the password" not in result.stdout
    for rejected in result.outcome.results.meta.rejected_passwords:
        assert rejected.headline == "ACCOUNT REFUSED" and rejected.accepted_by == 9
        assert result.stdout.startswith(
            "ACCOUNT REFUSED: LAB\\auditor was refused by 1 host(s) although 9 host(s) accepted its password in this "
            "run (not an administrator there, or the password changed mid-run); 0 not tried")
    if fault == "badauth":  # a 401 to NTLM's AUTHENTICATE is counted, whatever the other hosts said
        assert result.outcome.results.meta.rejected_passwords


def test_refusals_that_check_no_password_never_stop_the_run(tmp_path: Path) -> None:
    """Basic with a domain account is refused by every host before any password check: each host says so, none
    is skipped to protect the account, and no server counted a failed logon, even at --max-auth-failures 1."""
    password = new_password()
    with Fleet(hosts=6, password=password, machine_factory=healthy_machine, profiles=["h"] * 6, tls=True,
               auth="basic", username="LAB\\auditor") as fleet:
        result = scan(fleet, tmp_path, "wrong-" + password, max_auth_failures=1)
        assert sum(_wrong_passwords(fleet)) == 0
    hosts = result.outcome.results.hosts
    assert all(h.error is not None and h.error.category is ErrorCategory.AUTH for h in hosts)
    assert not result.outcome.results.meta.rejected_passwords


def test_the_right_password_scans_every_host(fleet: Fleet, password: str, tmp_path: Path) -> None:
    """With the right password the gate holds nobody back for long: every host is judged, none rejected."""
    before = _wrong_passwords(fleet)
    result = scan(fleet, tmp_path, password, concurrency=32, max_auth_failures=3)
    assert _wrong_passwords(fleet) == before
    assert all(h.verdict is not Verdict.ERROR for h in result.outcome.results.hosts)


def test_a_rejected_password_leaves_the_audit_incomplete_whatever_the_waivers() -> None:
    """A waiver that covers ERROR hosts does not turn a run with a rejected password into a complete audit."""
    every_error = Waiver(host="*", reason="r", owner="o", expires="2099-01-01", verdicts=("ERROR",))
    hosts = tuple(replace(simple(f"h{i}", Verdict.ERROR, "r"), waiver=every_error) for i in range(3))
    clean = RunResults(meta=meta(), hosts=hosts)
    assert exit_status(clean) == 0
    rejected = RunResults(meta=replace(meta(), rejected_passwords=(RejectedPassword("LAB\\auditor", 1, 2),)),
                          hosts=hosts)
    assert exit_status(rejected) == 2


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], password: str | None,
         *argv: str) -> tuple[int, str]:
    """`cmaudit scan ARGV` with the password in $CMAUDIT_PASSWORD (or none); the exit status and stderr."""
    from scanner.cli.main import main

    if password is None:
        monkeypatch.delenv("CMAUDIT_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    status = main(["scan", "--no-history", "--quiet", "--timeout", "20", "--connect-timeout", "2", *argv])
    return status, capsys.readouterr().err


def test_by_default_a_wrong_password_reaches_two_hosts(fleet: Fleet, password: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`cmaudit scan` without --max-auth-failures stays well under the lockout threshold of 5 that many domains
    use (the CIS value): a wrong password reaches at most 2 servers."""
    before = sum(_wrong_passwords(fleet))
    status, _ = _cli(monkeypatch, capsys, "wrong-" + password, str(fleet.write_inventory(tmp_path / "hosts.csv")),
                     "-o", str(tmp_path / "run"), "--username", fleet.username, "--concurrency", "32")
    assert status == 2 and sum(_wrong_passwords(fleet)) - before <= 2


def test_rescan_failed_after_a_password_fix_reuses_the_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The hint's own command after a wrong password: `--rescan-failed RESULTS.json` without --username logs on
    as the earlier run's account, and every host is judged."""
    password = new_password()
    with Fleet(hosts=4, password=password, machine_factory=healthy_machine, profiles=["h"] * 4) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, _ = _cli(monkeypatch, capsys, "wrong-" + password, str(inventory), "-o", str(tmp_path / "first"),
                         "--username", fleet.username, "--max-auth-failures", "1")
        assert status == 2
        status, err = _cli(monkeypatch, capsys, password, "--rescan-failed", str(tmp_path / "first" / "results.json"),
                           "-o", str(tmp_path / "again"))
        logons = sum(h.counters.auth_handshakes for h in fleet.hosts)
    assert status & 2 == 0, err  # every host judged (bit 1 may say what they hold)
    assert logons >= 4
    saved = json.loads((tmp_path / "again" / "results.json").read_text(encoding="utf-8"))
    assert saved["meta"]["options"]["username"] == "LAB\\auditor" and "alerts" not in saved
    assert all(h["verdict"] != "ERROR" for h in saved["hosts"]) and len(saved["hosts"]) == 4


def test_rescan_failed_without_its_password_says_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`--rescan-failed` of a run whose password variable is not set now: one line naming the account and the
    variable, exit 64, no host contacted; with it set, the account it reused is said once."""
    from scanner.cli.main import main

    password = new_password()
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        monkeypatch.setenv("PW_X", "wrong-" + password)
        main(["scan", str(inventory), "--no-history", "--quiet", "-o", str(tmp_path / "first"), "--username",
              fleet.username, "--password-env", "PW_X"])
        capsys.readouterr()
        monkeypatch.delenv("PW_X")
        monkeypatch.delenv("CMAUDIT_PASSWORD", raising=False)
        earlier = str(tmp_path / "first" / "results.json")
        before = sum(h.counters.requests for h in fleet.hosts)
        status = main(["scan", "--rescan-failed", earlier, "--no-history", "-o", str(tmp_path / "again")])
        err = capsys.readouterr().err
        assert status == 64 and sum(h.counters.requests for h in fleet.hosts) == before
        assert err.count("\n") == 1 and "LAB\\auditor" in err and "$PW_X" in err
        monkeypatch.setenv("PW_X", password)
        status = main(["scan", "--rescan-failed", earlier, "--no-history", "-o", str(tmp_path / "fixed")])
        err = capsys.readouterr().err
    assert status & 2 == 0 and err.count("the earlier run's account: LAB\\auditor (ntlm, password from $PW_X)") == 1


@pytest.mark.parametrize("how", [pytest.param("rescan", id="rescan-without-a-recorded-user"),
                                 pytest.param("plain", id="plain-scan")])
def test_no_user_name_at_all_stops_before_any_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], how: str) -> None:
    """No user name for NTLM anywhere (options, inventory, the earlier run): one line, exit 64, no host contacted."""
    password = new_password()
    with Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        argv = [str(inventory)]
        if how == "rescan":
            status, _ = _cli(monkeypatch, capsys, "wrong-" + password, str(inventory), "-o", str(tmp_path / "first"),
                             "--username", fleet.username)
            assert status == 2
            earlier = tmp_path / "first" / "results.json"
            doc = json.loads(earlier.read_text(encoding="utf-8"))
            doc["meta"]["options"]["username"] = None  # as a run recorded without one
            earlier.write_text(json.dumps(doc), encoding="utf-8")
            argv = ["--rescan-failed", str(earlier)]
        before = sum(h.counters.requests for h in fleet.hosts)
        status, err = _cli(monkeypatch, capsys, password, *argv, "-o", str(tmp_path / "again"))
        contacted = sum(h.counters.requests for h in fleet.hosts) - before
    assert status == 64 and contacted == 0
    assert err.count("\n") == 1 and "no user name" in err and "--username" in err
    assert not (tmp_path / "again" / "results.json").exists()


def test_a_tampered_account_in_the_earlier_run_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An account read back from a results file is checked like a typed one: a user name with a line break, or an
    auth method cmaudit does not have, is one line and exit 64."""
    password = new_password()
    with Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["h"]) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, _ = _cli(monkeypatch, capsys, "wrong-" + password, str(inventory), "-o", str(tmp_path / "first"),
                         "--username", fleet.username)
        earlier = tmp_path / "first" / "results.json"
        doc = json.loads(earlier.read_text(encoding="utf-8"))
        for key, bad in (("username", "LAB\\auditor\nX"), ("auth", "telnet"), ("password_env", "A B")):
            changed = json.loads(json.dumps(doc))
            changed["meta"]["options"][key] = bad
            earlier.write_text(json.dumps(changed), encoding="utf-8")
            status, err = _cli(monkeypatch, capsys, password, "--rescan-failed", str(earlier),
                               "-o", str(tmp_path / key))
            assert status == 64 and err.count("\n") == 1 and f"meta.options.{key}" in err and str(earlier) in err
