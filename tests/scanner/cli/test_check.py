"""`cmaudit check` end to end on the corpus under tests/data/logs/ (see make_corpus.py there)."""

from __future__ import annotations

import codecs
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.advisory.logs import parse_log
from scanner.cli.commands import check
from scanner.cli.main import main
from tests.paths import DATA

CORPUS = DATA / "logs"
RTM, SP1, SP2 = "4.00.5931.0000", "4.00.6221.1000", "4.00.6487.2000"
EXIT = {"NOT_AFFECTED": 0, "NOT_APPLICABLE": 0, "RECOVERED": 0, "AFFECTED": 1, "AT_RISK": 1, "UNKNOWN": 2}


def _files(case: str, *names: str) -> list[str]:
    folder = CORPUS / case
    return [str(folder / n) for n in names] if names else [str(p) for p in sorted(folder.iterdir())]


CASES = [
    pytest.param("server-affected", None, "AFFECTED", id="server-affected-no-build"),
    pytest.param("server-affected", SP1, "AFFECTED", id="server-affected-sp1"),
    pytest.param("server-affected", SP2, "AFFECTED", id="server-affected-log-beats-fixed-build"),
    pytest.param("server-affected", "2.50.4160.2000", "NOT_APPLICABLE", id="sms2003-build"),
    pytest.param("server-affected", "5.00.7804.1000", "NOT_APPLICABLE", id="cm2012-build"),
    pytest.param("server-recovered-utf8bom", None, "RECOVERED", id="recovered-utf8-bom"),
    pytest.param("cmtrace-ok-utf16le", None, "NOT_AFFECTED", id="cmtrace-utf16le-ok"),
    pytest.param("cmtrace-ok-utf16be", RTM, "NOT_AFFECTED", id="cmtrace-utf16be-ok-rtm"),
    pytest.param("cmtrace-multiline-affected-utf16le", None, "AFFECTED", id="cmtrace-multiline-failure"),
    pytest.param("server-other-failure-cp1252", SP1, "AT_RISK", id="other-failure-sp1"),
    pytest.param("server-other-failure-cp1252", SP2, "NOT_AFFECTED", id="other-failure-sp2"),
    pytest.param("server-other-failure-cp1252", None, "AT_RISK", id="other-failure-no-build"),
    pytest.param("server-no-legacy", RTM, "NOT_AFFECTED", id="no-legacy-rtm"),
    pytest.param("server-no-legacy", SP2, "NOT_AFFECTED", id="no-legacy-sp2"),
    pytest.param("server-no-legacy", None, "NOT_AFFECTED", id="no-legacy-no-build"),
    pytest.param("localised-nb-cp1252-affected", None, "AFFECTED", id="norwegian-cp1252"),
    pytest.param("localised-de-utf8bom-recovered", None, "RECOVERED", id="german-cmtrace-utf8-bom"),
    pytest.param("long-form-timestamps-ok", None, "NOT_AFFECTED", id="long-form-timestamps"),
    pytest.param("in-progress-only", None, "UNKNOWN", id="in-progress-no-build"),
    pytest.param("in-progress-only", SP1, "AT_RISK", id="in-progress-sp1"),
    pytest.param("in-progress-only", SP2, "NOT_AFFECTED", id="in-progress-sp2"),
    pytest.param("rolled-recovered", None, "RECOVERED", id="rolled-pair-recovered"),
    pytest.param("rolled-split-affected", SP1, "AFFECTED", id="rolled-mid-attempt"),
    pytest.param("nul-padding-affected", None, "AFFECTED", id="nul-padding"),
    pytest.param("truncated-tail-affected", SP1, "AFFECTED", id="truncated-last-line"),
    pytest.param("garbage-and-huge-line-affected", None, "AFFECTED", id="garbage-and-1mb-line"),
    pytest.param("mixed-newlines-recovered", None, "RECOVERED", id="mixed-crlf-lf"),
    pytest.param("utf16le-tail-no-bom-affected", None, "AFFECTED", id="utf16le-tail-no-bom"),
    pytest.param("garbage-only", None, "UNKNOWN", id="garbage-only-no-build"),
    pytest.param("garbage-only", SP1, "AT_RISK", id="garbage-only-sp1"),
    pytest.param("garbage-only", SP2, "NOT_AFFECTED", id="garbage-only-sp2"),
    pytest.param("empty", None, "UNKNOWN", id="empty-log"),
]


def run_check(capsys, files: list[str], build: str | None = None, *extra: str) -> tuple[int, dict]:
    argv = ["check", "--json", *extra, *(["--full-version", build] if build else []), *files]
    code = main(argv)
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1, "exactly one JSON object on stdout"
    doc = json.loads(captured.out)
    doc["_stderr"] = captured.err
    return code, doc


def _independent_lines(path: Path) -> list[str]:
    """The file's lines decoded without cmaudit's code, to check evidence against."""
    data = path.read_bytes()
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
    for bom, enc in boms:
        if data.startswith(bom):
            return data[len(bom):].decode(enc, errors="replace").split("\n")
    if data[:400].count(0) > 150:  # the BOM-less UTF-16LE tail, cut at an odd offset
        return data[1:].decode("utf-16-le", errors="replace").split("\n")
    lines = []
    for raw in data.split(b"\n"):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("cp1252", errors="replace"))
    return lines


@pytest.mark.parametrize(("case", "build", "expected"), CASES)
def test_corpus_verdicts(capsys, case, build, expected):
    """Each corpus case gets its expected verdict and exit status, and every evidence line is where it says."""
    code, doc = run_check(capsys, _files(case), build)
    assert doc["verdict"] == expected, doc["reasons"]
    assert code == EXIT[expected]
    assert doc["build"] == build and doc["reasons"]
    assert {"verdict", "reasons", "evidence", "build", "window"} <= set(doc)
    for ev in doc["evidence"]:
        assert {"file", "line", "time", "text"} <= set(ev)
        if ev["line"] > 0:
            line = _independent_lines(Path(ev["file"]))[ev["line"] - 1]
            assert ev["text"].split("\n")[0][:200] in line.replace("\x00", ""), (ev, line)


def test_failure_evidence_in_localised_log(capsys):
    """A Norwegian log is judged from its language-neutral tokens and cites the Norwegian line."""
    _, doc = run_check(capsys, _files("localised-nb-cp1252-affected"))
    (failure,) = [e for e in doc["evidence"] if e["role"] == "failure"]
    assert failure["text"].startswith("Feil 0x80004005, uventet DeploymentAction")
    assert failure["time"] is not None


def test_rolled_files_in_any_order(capsys):
    """`.lo_` is read as the older file whichever order the files are given in."""
    lo_, log = _files("rolled-recovered", "wsyncmgr.lo_", "wsyncmgr.log")
    _, a = run_check(capsys, [log, lo_])
    _, b = run_check(capsys, [lo_, log])
    assert a["evidence"] == b["evidence"] and a["verdict"] == b["verdict"] == "RECOVERED"
    assert a["files"] == [lo_, log]
    _, only_old = run_check(capsys, [lo_])
    assert only_old["verdict"] == "AFFECTED"


def test_statmsg_times_match_their_gmtdate():
    """Across the corpus, every status message's parsed UTC time equals its own GMTDATE (but in the case written
    with a wrong bias or a wrong GMTDATE on purpose)."""
    checked = 0
    for path in CORPUS.glob("*/wsyncmgr.l*"):
        if path.parent.name.startswith("gmtdate-"):
            continue
        for e in parse_log(path.name, path.read_bytes()):
            m = re.search(r"GMTDATE=\w{3} (\w{3} \d+ [\d:.]+ \d{4})", e.text)
            if m and e.time is not None:
                assert e.time == datetime.strptime(m.group(1), "%b %d %H:%M:%S.%f %Y").replace(tzinfo=UTC)
                checked += 1
    assert checked > 100


def test_human_output_lists_verdict_reasons_and_evidence(capsys):
    """Without --json the admin reads the verdict, the reasons, the evidence lines and the fix."""
    code = main(["check", "--full-version", SP1, *_files("server-affected")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("AFFECTED")
    assert "ConfigMgr 2007 SP1" in out and "reasons:" in out and "evidence:" in out
    assert re.search(r"wsyncmgr\.log:\d+ +2008-06-\d\dT[\d:.]+Z +\[failure\] +Error 0x80004005", out)
    assert "951376" in out


@pytest.mark.parametrize(("argv", "named"), [
    pytest.param(["check", str(CORPUS / "no-such-case" / "wsyncmgr.log")], "no-such-case", id="missing-file"),
    pytest.param(["check", str(CORPUS / "empty")], "empty", id="directory"),
    pytest.param(["check", "--advisory", str(CORPUS / "make_corpus.py"), str(CORPUS / "empty" / "wsyncmgr.log")],
                 "make_corpus.py", id="bad-advisory"),
])
def test_unreadable_input_exits_64_naming_the_file(argv, named):
    """Unreadable input exits 64 with a one-line error naming the file, never a traceback."""
    proc = subprocess.run([sys.executable, "-m", "scanner", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 64
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and named in proc.stderr


def test_no_files_is_bad_usage():
    """`cmaudit check` without a file is bad usage (64), not an audit result."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "check"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 64 and "Traceback" not in proc.stderr


def test_console_script_exit_status_for_findings():
    """The installed CLI exits 1 on a finding and prints one JSON object."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "check", "--json", *_files("server-affected")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["verdict"] == "AFFECTED"


def test_oversized_file_is_tail_capped(capsys, monkeypatch):
    """A file beyond the size cap is judged from its tail, and both stderr and the reasons say so."""
    path = _files("server-affected")[0]
    monkeypatch.setattr(check, "MAX_LOG_BYTES", 20000)
    code, doc = run_check(capsys, [path])
    assert any("was cut to its last 20,000 of" in r for r in doc["reasons"])
    assert "judging only its last 20000 bytes" in doc["_stderr"]
    assert code == EXIT[doc["verdict"]]


def test_check_never_prints_a_logs_escape_sequences(tmp_path, capsys):
    """A log line carrying `ESC ] 0 ; TITLE BEL` and `ESC [ 2 J` reaches the terminal as harmless text."""
    stamp = "$$<SMS_WSUS_SYNC_MANAGER><06-11-2008 11:14:15.120-120><thread=5976 (0x1758)>"
    log = tmp_path / "wsyncmgr.log"
    log.write_bytes((f"Performing legacy sync \x1b]0;TITLE\x07  {stamp}\r\n"
                     f"Error 0x80004005, unexpected DeploymentAction for update 1293995. Returned from "
                     f"CreateUpdateNode \x1b[2J\x1b[31m\u202e  {stamp}\r\n").encode())
    status = main(["check", "--full-version", SP1, str(log)])
    out, err = capsys.readouterr()
    assert status == EXIT["AFFECTED"]
    assert "TITLE" in out and "\x1b" not in out + err and "\x07" not in out and "\u202e" not in out
    assert main(["check", str(tmp_path / "no-such-\x1b]0;x\x07.log")]) == 64
    assert "\x1b" not in capsys.readouterr().err


@pytest.mark.network
def test_check_judges_the_gz_evidence_a_scan_kept(tmp_path, capsys):
    """`cmaudit check` on a scan's evidence/<host>/*.gz (rolled .lo_ and current .log) gives the scan's verdict."""
    from simulator.fleet import Fleet
    from tests.support.fleet import new_password, scan

    password = new_password()
    with Fleet(profiles=["rolled-log"], password=password) as fleet:
        result = scan(fleet, tmp_path, password, timeout=30.0)
    (host,) = result.outcome.results.hosts
    saved = [lf.saved_as or "" for lf in host.facts.logs]
    assert sorted(Path(s).name for s in saved) == ["wsyncmgr.lo_.gz", "wsyncmgr.log.gz"]
    files = [str(tmp_path / "run" / s) for s in reversed(saved)]  # given newest first: .lo_ is still read first
    code, doc = run_check(capsys, files, host.facts.build)
    assert doc["verdict"] == host.verdict.value != "UNKNOWN"
    assert code == EXIT[host.verdict.value]
