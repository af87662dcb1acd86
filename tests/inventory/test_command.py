"""`cmaudit inventory`: the admin's dry run of an inventory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scanner.cli.main import main
from tests.inventory.conftest import DATA


def test_dry_run_prints_the_table_and_warnings(capsys):
    """Every host appears with its address, port, scheme, auth, site, tags, user and source line."""
    assert main(["inventory", str(DATA / "windows.ini")]) == 0
    out, err = capsys.readouterr()
    header = out.splitlines()[0].split()
    assert header[:5] == ["host", "address", "port", "scheme", "auth"] and header[-2:] == ["user", "source"]
    row = next(line for line in out.splitlines() if line.startswith("sms-cen01.corp.example"))
    assert row.split() == ["sms-cen01.corp.example", "10.20.0.10", "5985", "http", "kerberos", "CEN",
                           "configmgr_central", "configmgr", "windows", "svc-cmaudit@CORP.EXAMPLE",
                           f"{DATA / 'windows.ini'}:4"]
    assert "8 host(s)" in out and "ansible-ini" in out
    assert "warning: " in err and "repo01.corp.example skipped" in err
    assert "never-read-this" not in out + err


def test_defaults_from_the_command_line(capsys):
    """--port/--scheme/--auth fill in what a plain host list does not say."""
    assert main(["inventory", str(DATA / "fleet.txt"), "--port", "443", "--scheme", "https", "--auth", "basic"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sms-cen01"))
    assert row.split()[2:5] == ["443", "https", "basic"]


@pytest.mark.parametrize("port, scheme", [
    pytest.param("443", "https", id="winrm-1.1-https"),
    pytest.param("5986", "https", id="winrm-2.0-https"),
    pytest.param("80", "http", id="winrm-1.1-http"),
    pytest.param("8080", "http", id="custom"),
])
def test_port_option_alone_implies_its_scheme(capsys, port, scheme):
    """`--port 443` means the https listener without also having to say --scheme https."""
    assert main(["inventory", str(DATA / "fleet.txt"), "--port", port]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sms-cen01"))
    assert row.split()[2:4] == [port, scheme]


def test_unsafe_transport_is_flagged_in_the_dry_run(capsys, write):
    """The admin learns before the scan that Basic over http will be refused."""
    path = write("f.csv", "host,transport,auth\nsms01,http,basic\n")
    assert main(["inventory", str(path)]) == 0
    assert "Basic auth over http" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    pytest.param(["inventory", "{missing}"], "cannot read it", id="missing-file"),
    pytest.param(["inventory", "{bad}"], "bad.csv:3: port 'abc' is not a number", id="bad-line"),
    pytest.param(["inventory", "{bad}", "--port", "99999"], "--port", id="bad-port-option"),
])
def test_bad_inventory_is_one_line_and_exit_64(write, tmp_path, argv, words):
    """A scheduler sees exit status 64 and one error line, never a traceback."""
    bad = write("bad.csv", "host,port\nsms01,5985\nsms02,abc\n")
    argv = [a.format(missing=tmp_path / "missing.txt", bad=bad) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "scanner", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 64
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_tls_column_and_default_in_the_dry_run(capsys, tmp_path):
    """The dry run shows each HTTPS host's TLS mode: the inventory's `tls`, else --tls (modern by default)."""
    path = tmp_path / "fleet.csv"
    path.write_text("host,port,transport,tls\nsms03,443,https,legacy\nsms08,5986,https,\n", encoding="utf-8")
    assert main(["inventory", str(path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:4]}
    assert rows["sms03"][5] == "legacy" and rows["sms08"][5] == "modern"
    assert main(["inventory", str(path), "--tls", "legacy"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:4]}
    assert rows["sms08"][5] == "legacy"
