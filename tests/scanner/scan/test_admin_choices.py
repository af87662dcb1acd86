"""What an admin chooses for a scan, end to end against the simulator: waivers, --hosts/--tag/--site, and
--rescan-failed (only the failed hosts are contacted, and the new run holds the earlier hosts too)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from scanner.cli.main import main
from scanner.model.records import Verdict
from tests.support.scans import new_password, scan

simulator = pytest.importorskip("simulator")
pytestmark = pytest.mark.network

PROFILES = ["sp1-affected", "sp1-healthy", "sp1-affected", "sp2", "sp1-healthy"]
TAGS = ["dc1 prod", "dc1", "dc2 prod", "dc2", "dc1"]
SITES = ["P01", "P01", "P02", "P02", "P03"]


@pytest.fixture(scope="module")
def fleet_env(tmp_path_factory):
    """A five-host fleet with tags and site codes in its CSV inventory; host 4 is off the network."""
    password = new_password()
    root = tmp_path_factory.mktemp("choices")
    with simulator.Fleet(profiles=PROFILES, password=password) as fleet:
        rows = [dict(row, tags=TAGS[i], site_code=SITES[i]) for i, row in enumerate(fleet.inventory_rows())]
        inventory = root / "fleet.csv"
        with inventory.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        fleet.stop_host(4)
        yield fleet, inventory, {"CMAUDIT_PASSWORD": password}, root


def _requests(fleet) -> list[int]:
    return [h.counters.requests for h in fleet.hosts]


def _waivers(path, *blocks: str):
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def _waiver(host: str, expires: str = "2999-12-31", verdicts: str = "") -> str:
    return (f'[[waiver]]\nhost = "{host}"\n{verdicts}reason = "site retired"\nowner = "j.doe"\n'
            f"expires = {expires}\n")


def test_waived_findings_keep_their_verdict_and_leave_the_exit_status(fleet_env, tmp_path):
    """Both affected hosts waived (one by pattern): verdicts stay AFFECTED, exit status drops bit 1."""
    fleet, inventory, env, _ = fleet_env
    names = [h.name for h in fleet.hosts]
    waivers = _waivers(tmp_path / "w.toml", _waiver(names[0]), _waiver(names[2][:-1] + "?"),
                       _waiver(names[1], expires="2020-01-01"))
    result = scan(inventory, tmp_path / "run", env, waivers=waivers, history=None)
    hosts = {h.host: h for h in result.outcome.results.hosts}
    assert hosts[names[0]].verdict is Verdict.AFFECTED and hosts[names[0]].waived
    assert hosts[names[2]].waived and not hosts[names[1]].waived
    assert result.outcome.exit_status == 2  # only the offline host is left: incomplete, no finding
    doc = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    waived = next(h for h in doc["hosts"] if h["host"] == names[0])
    assert waived["needs_action"] is False and waived["waiver"]["owner"] == "j.doe"
    assert [w["expired"] for w in doc["meta"]["waivers"]["entries"]] == [False, False, True]
    assert "Expired waivers (1)" in result.stdout and "Waived (2)" in result.stdout


def test_a_bad_waivers_file_stops_the_scan_before_any_host_is_contacted(fleet_env, tmp_path, capsys, monkeypatch):
    """A waiver without `expires`: exit 64 with file:line on one line, and not one request to any host."""
    fleet, inventory, env, _ = fleet_env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bad = _waivers(tmp_path / "w.toml", _waiver("x"), '[[waiver]]\nhost = "y"\nreason = "r"\nowner = "o"\n')
    before = _requests(fleet)
    status = main(["scan", str(inventory), "-o", str(tmp_path / "run"), "--waivers", str(bad), "--no-history",
                   "--username", "LAB\\auditor", "--quiet"])
    err = capsys.readouterr().err
    assert status == 64 and err.count("\n") == 1 and f"{bad}:7: waiver 2: `expires` is required" in err
    assert _requests(fleet) == before and not (tmp_path / "run").exists()


@pytest.mark.parametrize(("options", "chosen"), [
    pytest.param({"host_patterns": ("*-0001:*", "NOPE")}, [1], id="hosts-pattern"),
    pytest.param({"tags": ("PROD",)}, [0, 2], id="tag"),
    pytest.param({"sites": ("p02",), "tags": ("dc2",)}, [2, 3], id="site-and-tag"),
    pytest.param({"host_patterns": ("127.0.0.1",), "sites": ("P01",)}, [0, 1], id="address-and-site"),
])
def test_only_chosen_hosts_are_contacted(fleet_env, tmp_path, options, chosen):
    """--hosts/--tag/--site scan exactly the matching hosts; the others get no request and no result."""
    fleet, inventory, env, _ = fleet_env
    if "host_patterns" in options and options["host_patterns"][0].startswith("*-"):
        options = dict(options, host_patterns=(f"*{fleet.hosts[1].name[-3:]}",))
    before = _requests(fleet)
    result = scan(inventory, tmp_path / "run", env, history=None, **options)
    after = _requests(fleet)
    contacted = [i for i in range(len(fleet.hosts)) if after[i] > before[i]]
    assert contacted == chosen
    assert sorted(h.host for h in result.outcome.results.hosts) == sorted(fleet.hosts[i].name for i in chosen)
    meta = result.outcome.results.meta
    assert meta.partial and meta.selection


def test_no_matching_host_is_a_usage_error(fleet_env, tmp_path, capsys):
    """A selection that matches nothing exits 64 before contacting anything."""
    fleet, inventory, env, _ = fleet_env
    before = _requests(fleet)
    assert main(["inventory", str(inventory), "--tag", "nowhere"]) == 64
    assert "no host matches --tag nowhere" in capsys.readouterr().err
    with pytest.raises(Exception, match="no host matches --site X9"):
        scan(inventory, tmp_path / "run", env, sites=("X9",), history=None)
    assert _requests(fleet) == before


def test_rescan_failed_contacts_only_failed_hosts_and_merges(fleet_env, tmp_path):
    """The offline host comes back: --rescan-failed scans it alone; the new run holds every host, its new
    verdict included, records the earlier run it merged, and is a complete run for the history."""
    fleet, inventory, env, _ = fleet_env
    history = tmp_path / "h.sqlite3"
    first = scan(inventory, tmp_path / "first", env, history=history)
    offline = fleet.hosts[4].name
    assert {h.host: h.verdict for h in first.outcome.results.hosts}[offline] is Verdict.ERROR
    fleet.start_host(4)
    try:
        before = _requests(fleet)
        again = scan(inventory, tmp_path / "again", env, history=history,
                     rescan_failed=tmp_path / "first" / "results.json")
        after = _requests(fleet)
    finally:
        fleet.stop_host(4)
    assert [i for i in range(5) if after[i] > before[i]] == [4]
    results = again.outcome.results
    verdicts = {h.host: h.verdict for h in results.hosts}
    assert verdicts[offline] is Verdict.NOT_AFFECTED and len(verdicts) == 5
    assert [h.host for h in results.hosts] == [h.host for h in first.outcome.results.hosts]
    first_hosts = {h.host: h for h in first.outcome.results.hosts}
    assert {h.host: h for h in results.hosts}[fleet.hosts[0].name] == first_hosts[fleet.hosts[0].name]
    assert results.meta.merged_from[0].endswith("4 of 5 hosts kept") and not results.meta.partial
    assert again.outcome.exit_status == 1  # the two affected hosts of the first run are still affected
    assert "Since last run (run #1" in again.stdout and "no change" in again.stdout
    from scanner.history.database import list_runs

    assert [(r.id, r.complete) for r in list_runs(history)] == [(2, True), (1, True)]


def test_rescan_failed_keeps_apart_two_hosts_of_one_name(fleet_env, tmp_path):
    """One name at two addresses, one answering and one not: --rescan-failed contacts only the failed one,
    and the new run keeps the other's result beside it (neither lost nor replaced by its twin's)."""
    fleet, _inventory, env, _ = fleet_env
    port = fleet.hosts[0].port  # the simulator listens on 127.0.0.1 only: 127.0.0.2 refuses (loopback still)
    inventory = tmp_path / "twins.csv"
    inventory.write_text(f"host,port,address\ntwin,{port},127.0.0.1\ntwin,{port},127.0.0.2\n", encoding="utf-8")
    first = scan(inventory, tmp_path / "first", env, history=tmp_path / "h.sqlite3", retries=0)
    before = {h.address: h for h in first.outcome.results.hosts}
    assert before["127.0.0.1"].verdict is Verdict.AFFECTED and before["127.0.0.2"].verdict is Verdict.ERROR
    contacted = _requests(fleet)
    again = scan(inventory, tmp_path / "again", env, history=tmp_path / "h.sqlite3", retries=0,
                 rescan_failed=tmp_path / "first" / "results.json")
    assert _requests(fleet) == contacted  # the twin that answered is not asked again
    after = {h.address: h for h in again.outcome.results.hosts}
    assert len(again.outcome.results.hosts) == 2 and after["127.0.0.1"] == before["127.0.0.1"]
    assert after["127.0.0.2"].verdict is Verdict.ERROR and after["127.0.0.2"].started != before["127.0.0.2"].started
    assert "no change" in again.stdout and "removed" not in again.stdout


def test_rescan_failed_keeps_the_earlier_runs_waivers(fleet_env, tmp_path):
    """--rescan-failed without --waivers judges every host by the waivers the earlier run read: a waived
    finding stays waived (no exit bit for it), as its INVENTORY defaults to the earlier run's."""
    fleet, inventory, env, _ = fleet_env
    accepted = fleet.hosts[0].name  # AFFECTED; host 4 is off the network, so there is something to scan again
    waivers = _waivers(tmp_path / "w.toml", _waiver(accepted))
    first = scan(inventory, tmp_path / "first", env, history=None, retries=0, waivers=waivers)
    again = scan(inventory, tmp_path / "again", env, history=None, retries=0,
                 rescan_failed=tmp_path / "first" / "results.json")
    for run in (first, again):
        host = {h.host: h for h in run.outcome.results.hosts}[accepted]
        assert host.verdict is Verdict.AFFECTED and host.waived and not host.needs_action
    assert again.outcome.results.meta.waivers == first.outcome.results.meta.waivers
    assert again.outcome.results.meta.waiver_file == str(waivers)


def test_rescan_failed_with_nothing_failed_scans_nothing(fleet_env, tmp_path):
    """A run without ERROR/UNKNOWN hosts: --rescan-failed says so, contacts nobody, writes no new run."""
    fleet, inventory, env, _ = fleet_env
    first = scan(inventory, tmp_path / "first", env, history=None, host_patterns=(fleet.hosts[1].name,))
    before = _requests(fleet)
    again = scan(inventory, tmp_path / "again", env, history=None, rescan_failed=tmp_path / "first" / "results.json")
    assert _requests(fleet) == before and "nothing to scan again" in again.stderr
    assert again.outcome.exit_status == 0 and not (tmp_path / "again").exists()
    assert replace(first.outcome.results) == again.outcome.results


def _quiet_scan(inventory, out, env, **overrides):
    import io

    from scanner.cli.scan_console import run_scan
    from scanner.scan.settings import ScanSettings

    settings = dict(inventory=inventory, output=out, username="LAB\\auditor", timeout=4.0, retries=0,
                    concurrency=8, backoff_base=0.05, grace=0.5, connect_timeout=2.0, operation_timeout=2,
                    quiet=True)
    mail = overrides.pop("mail", None)
    settings.update(overrides)
    stdout, stderr = io.StringIO(), io.StringIO()
    outcome = run_scan(ScanSettings(**settings), environ=dict(env), out=stdout, err=stderr, mail=mail,
                       install_signal_handlers=False)
    return outcome, stdout.getvalue(), stderr.getvalue()


def test_quiet_prints_nothing_on_stderr_unless_something_failed(fleet_env, tmp_path):
    """--quiet with a history and "no mail: nothing changed" keeps stderr empty (cron sends no mail);
    a mail that could not be sent is still reported. (A history that cannot be written stops the run
    before any host: tests/scanner/scan/test_run_folder.py.)"""
    from dataclasses import replace

    from scanner.config.mail_settings import MailSettings

    _fleet, inventory, env, _ = fleet_env
    db = tmp_path / "h.sqlite3"
    mail = MailSettings(to=("admins@example.test",), sender="cmaudit@example.test", host="127.0.0.1", port=1)
    _quiet_scan(inventory, tmp_path / "w1", env, history=db)
    outcome, stdout, stderr = _quiet_scan(inventory, tmp_path / "w2", env, history=db, mail=mail)
    assert outcome.exit_status == 3 and "Since last run" in stdout
    assert stderr == ""
    _outcome, _stdout, stderr = _quiet_scan(inventory, tmp_path / "w3", env, history=db,
                                            mail=replace(mail, when="always"))
    assert stderr.startswith("cmaudit: mail not sent to admins@example.test:") and stderr.count("\n") == 1


def test_a_mistyped_waiver_is_a_warning_even_under_quiet(fleet_env, tmp_path):
    """A waiver whose pattern names no inventory host is said on stderr (file:line), also with --quiet."""
    fleet, inventory, env, _ = fleet_env
    names = [h.name for h in fleet.hosts]
    waivers = _waivers(tmp_path / "w.toml", _waiver(names[0]), _waiver("CN0*"))
    result = scan(inventory, tmp_path / "run", env, waivers=waivers, history=None, host_patterns=(names[0],))
    assert f"{waivers}:7: the waiver for 'CN0*' matches no host" in result.stderr
    assert result.stderr.count("matches no host") == 1  # the waiver that names a host is not reported
