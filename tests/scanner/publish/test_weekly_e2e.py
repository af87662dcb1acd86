"""Three weekly scans of the simulator with changes between them, end to end through `cmaudit scan`."""

from __future__ import annotations

import csv
import io
import json
import secrets
import socket

import pytest

from scanner.cli.main import main
from scanner.cli.scan_console import run_scan
from scanner.scan.settings import ScanSettings

simulator = pytest.importorskip("simulator")
pytestmark = pytest.mark.network

# host 0 gets fixed, host 1 starts failing, host 3 leaves the inventory, host 4 goes down.
PROFILES = ["sp1-affected", "sp1-healthy", "sp1-affected", "sp1-healthy", "sp1-healthy"]


def _write_inventory(path, fleet, skip=()):
    rows = [r for i, r in enumerate(fleet.inventory_rows()) if i not in skip]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["host", "port", "transport", "auth", "address"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _scan(fleet, tmp_path, week, password):
    out, err = io.StringIO(), io.StringIO()
    settings = ScanSettings(inventory=tmp_path / "fleet.csv", output=tmp_path / f"week{week}",
                            username=fleet.username, timeout=4.0, retries=0, concurrency=8, backoff_base=0.05,
                            grace=0.5, connect_timeout=2.0, operation_timeout=2, history=tmp_path / "h.sqlite3")
    outcome = run_scan(settings, environ={"CMAUDIT_PASSWORD": password}, out=out, err=err,
                       install_signal_handlers=False)
    return outcome, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory):
    """Week 1 baseline; week 2 after the changes; week 3 with nothing new. Returns outcomes and names."""
    tmp_path = tmp_path_factory.mktemp("weekly")
    password = "Pw-" + secrets.token_urlsafe(18)
    with simulator.Fleet(profiles=PROFILES, password=password) as fleet:
        name = {i: h.name for i, h in enumerate(fleet.hosts)}  # lists name hosts as the tables do: no port
        _write_inventory(tmp_path / "fleet.csv", fleet)
        weeks = [_scan(fleet, tmp_path, 1, password)]
        fleet.set_profile(0, "sp1-recovered")
        fleet.set_profile(1, "sp1-affected")
        fleet.stop_host(4)
        _write_inventory(tmp_path / "fleet.csv", fleet, skip={3})
        weeks.append(_scan(fleet, tmp_path, 2, password))
        weeks.append(_scan(fleet, tmp_path, 3, password))
    return tmp_path, weeks, name


def _section(text, title):
    """The host lines under one heading of the console's "Since last run" block."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(title + " ("))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def test_console_prints_the_changes(three_weeks):
    """The week-2 summary lists the fixed, newly failing, removed and unreachable hosts."""
    _tmp, weeks, name = three_weeks
    first_out, second_out = weeks[0][1], weeks[1][1]
    assert "Since last run: no earlier complete run" in first_out
    assert _section(second_out, "Fixed") == [f"{name[0]}  AFFECTED -> RECOVERED"]
    assert _section(second_out, "Regressed") == [f"{name[1]}  NOT_AFFECTED -> AFFECTED  "
                                                 + _section(second_out, "Regressed")[0].split("  ", 2)[2]]
    assert _section(second_out, "Hosts removed") == [f"{name[3]}  (was NOT_AFFECTED)"]
    (down,) = _section(second_out, "Newly unreachable")
    assert down.startswith(f"{name[4]}  NOT_AFFECTED -> ERROR  (unreachable")
    assert _section(second_out, "Still open")[0].startswith(f"{name[2]}  AFFECTED since ")
    third_out = weeks[2][1]
    assert "no change." in third_out
    assert _section(third_out, "Not checked for 2+ runs in a row")[0].startswith(f"{name[4]}  2 runs")
    assert [w[0].exit_status for w in weeks] == [1, 3, 3]


def test_csv_has_change_columns(three_weeks):
    """Week 2's report.csv says per host what changed and since when a finding is open."""
    tmp_path, _weeks, name = three_weeks
    raw = (tmp_path / "week2" / "report.csv").read_bytes()
    rows = {r["host"]: r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}
    assert {k: r["change"] for k, r in rows.items()} == {
        name[0]: "fixed", name[1]: "regressed", name[2]: "still-open", name[4]: "newly-unreachable"}
    assert len(rows[name[2]]["first_seen"]) == 10 and rows[name[2]]["first_seen"] <= rows[name[1]]["first_seen"]


def test_html_has_since_last_run_after_the_summary(three_weeks):
    """Week 2's report.html has the "Since last run" section after the summary, with a two-run trend chart."""
    tmp_path, _weeks, name = three_weeks
    html = (tmp_path / "week2" / "report.html").read_text(encoding="utf-8")
    section = html.split('id="since-last-run"')[1].split("</section>")[0]
    assert html.index('id="summary"') < html.index('id="since-last-run"') < html.index('id="hosts"')
    assert 'data-change="fixed"' in section and name[0] in section
    assert section.count('class="trend-run"') == 2


def test_cmaudit_diff_and_history(three_weeks, capsys):
    """`cmaudit diff 1 2` and `cmaudit history --host` agree with what the scans printed."""
    tmp_path, _weeks, name = three_weeks
    db = str(tmp_path / "h.sqlite3")
    assert main(["diff", "1", "2", "--history", db]) == 0
    out = capsys.readouterr().out
    assert f"Fixed (1):\n    {name[0]}  AFFECTED -> RECOVERED" in out
    assert f"Hosts removed (1):\n    {name[3]}  (was NOT_AFFECTED)" in out
    assert main(["diff", str(tmp_path / "week1"), str(tmp_path / "week2" / "results.json")]) == 0
    assert f"Fixed (1):\n    {name[0]}  AFFECTED -> RECOVERED" in capsys.readouterr().out
    assert main(["history", "--history", db, "--host", name[4]]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].split().index("verdict")
    verdicts = [line.split()[column] for line in lines if line.startswith("#")]
    assert verdicts == ["ERROR", "ERROR", "NOT_AFFECTED"]


def test_scheduled_run_from_config_with_mail_down(tmp_path, monkeypatch, capsys):
    """`cmaudit scan --config` alone runs the audit, records it, prunes, and reports a dead mail relay."""
    password = "Pw-" + secrets.token_urlsafe(18)
    monkeypatch.setenv("E2E_WINRM_PASSWORD", password)
    monkeypatch.delenv("CMAUDIT_PASSWORD", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    with simulator.Fleet(profiles=["sp1-affected", "sp1-healthy"], password=password) as fleet:
        _write_inventory(tmp_path / "fleet.csv", fleet)
        config = tmp_path / "cmaudit.toml"
        config.write_text(
            'inventory = "fleet.csv"\noutput = "runs"\nhistory = "state/history.sqlite3"\n'
            f'username = {json.dumps(fleet.username)}\npassword_env = "E2E_WINRM_PASSWORD"\n'
            "timeout = 5\nretries = 0\nkeep_runs = 1\nquiet = true\n"
            f'[mail]\nto = ["admins@example.test"]\nfrom = "cmaudit@example.test"\nhost = "127.0.0.1"\n'
            f'port = {dead_port}\nwhen = "always"\ntimeout = 5\n', encoding="utf-8")
        statuses = [main(["scan", "--config", str(config)]) for _ in range(2)]
    out, err = capsys.readouterr()
    assert statuses == [1, 1]
    assert err.count("cmaudit: mail not sent to admins@example.test: cannot reach 127.0.0.1:") == 2
    assert "retention" not in err  # quiet = true: stderr has only what failed; the pruning shows below
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "results.json").is_file() and (runs[0] / "report.html").is_file()
    assert "Since last run (run #1" in out and password not in out + err


def test_exit_status_each_week(three_weeks):
    """Week 1 has findings (1); weeks 2 and 3 also have a host down (3), as a scheduler sees it."""
    _tmp, weeks, _name = three_weeks
    assert [w[0].exit_status for w in weeks] == [1, 3, 3]


def test_demo_runs_two_scans_with_a_change(demo_run):
    """`cmaudit demo` (what `make demo` runs) scans twice, so its report opens with what changed."""
    out_dir = demo_run.root
    assert demo_run.status == 0, demo_run.stderr
    out = demo_run.stdout
    assert "Since last run: no earlier complete run" in out  # the baseline scan
    for heading in ("Regressed (1):", "Fixed (1):", "Newly unreachable (1):", "Newly waived (1):"):
        assert heading in out
    assert (out_dir / "baseline" / "results.json").is_file()
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="since-previous"' in html and html.count('class="trend-run"') == 2


def test_demo_judges_2003_era_hosts_right(demo_run):
    """`make demo` mixes the eras of a 2008 estate and shows its 2003 R2 hosts (WinRM 1.1: code page 437, one
    HTTPS-only listener speaking TLS 1.0) judged as their profiles expect."""
    import json
    import re

    out = demo_run.stdout
    assert "2003r2-winrm11" in out and "2008-winrm11" in out and "2008r2-winrm20" in out
    line = next(x for x in out.splitlines() if x.startswith("cmaudit demo: 2003r2-winrm11:"))
    judged, total = map(int, re.search(r"(\d+) of (\d+) hosts judged", line).groups())  # type: ignore[union-attr]
    assert judged == total > 0 and "in code page 437" in line and "over TLS 1.0" in line
    doc = json.loads((demo_run.root / "results.json").read_text(encoding="utf-8"))
    legacy = [h for h in doc["hosts"] if h["scheme"] == "https"]
    assert legacy and all(h["verdict"] == "NOT_AFFECTED" and h["facts"]["codepage"] == 437 for h in legacy)
