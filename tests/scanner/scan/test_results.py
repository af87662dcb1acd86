"""Run metadata, per-host results, evidence files and progress lines as an admin sees them."""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.cli.progress import Progress
from scanner.model.errors import HostTimeout
from scanner.model.host import Host
from scanner.model.records import HostFacts, Judgement, Verdict
from scanner.scan.evidence import save_log
from scanner.scan.results import clean_options, host_result, judged_result, recorded_account
from scanner.scan.runner import HostRun

HOST = Host(name="sms01.corp.example", address="10.0.0.5", port=5985, scheme="http", auth="ntlm",
            site_code="P01", tags=("prod",))


def test_options_never_record_secrets() -> None:
    """Recorded options keep the settings and drop anything that could hold a password."""
    cleaned = clean_options({"timeout": 3.0, "password": "x", "key_password": "y", "inventory": Path("a.csv"),
                             "username": "CORP\\svc"})
    assert cleaned == {"timeout": 3.0, "inventory": "a.csv", "username": "CORP\\svc"}


def test_error_host_result_names_category() -> None:
    """A host that timed out is ERROR with the timeout category, its attempts and timings."""
    run: HostRun = HostRun(0, HOST, None, HostTimeout(HOST.name, "per-host deadline reached"), 2, 7,
                           "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:03.000Z", 3.0004)
    result = host_result(run)
    assert result.verdict is Verdict.ERROR and result.error is not None
    assert result.error.category.value == "timeout" and result.attempts == 2 and result.requests == 7
    assert result.site_code == "P01" and result.tags == ("prod",) and result.seconds == 3.0


def test_judged_host_result_carries_facts() -> None:
    """A collected host carries the engine's verdict and the collected facts."""
    outcome = judged_result(HOST, HostFacts(build="4.00.6221.1000", site_code="S02"),
                            Judgement(Verdict.AFFECTED, ("failure signature seen",)))
    result = host_result(HostRun(0, HOST, outcome, None, 1, 6, None, None, 0.2))
    assert result.verdict is Verdict.AFFECTED and result.facts.build == "4.00.6221.1000"
    assert result.site_code == "S02" and result.error is None


def test_evidence_is_gzip_with_matching_hash(tmp_path: Path) -> None:
    """The kept log decompresses to the collected bytes and its SHA-256 is in the record."""
    data = b"\xef\xbb\xbfline one\r\nline two"
    fact = save_log(tmp_path, "127.0.0.1:5985", r"C:\SMS\Logs\wsyncmgr.log", data, truncated=True)
    assert fact.saved_as == "evidence/127.0.0.1_5985/wsyncmgr.log.gz"
    assert gzip.decompress((tmp_path / fact.saved_as).read_bytes()) == data
    assert fact.sha256 == hashlib.sha256(data).hexdigest() and fact.size == len(data) and fact.truncated


def test_rolled_log_keeps_its_name_in_the_evidence(tmp_path: Path) -> None:
    """`wsyncmgr.lo_` is saved as `wsyncmgr.lo_.gz` (not `wsyncmgr.lo.gz`), so it names the file it came from."""
    fact = save_log(tmp_path, "sms01", r"C:\SMS\Logs\wsyncmgr.lo_", b"older half", truncated=False)
    assert fact.saved_as == "evidence/sms01/wsyncmgr.lo_.gz"
    assert gzip.decompress((tmp_path / fact.saved_as).read_bytes()) == b"older half"


def test_evidence_path_cannot_escape_run_folder(tmp_path: Path) -> None:
    """Hostile host or file names stay inside evidence/."""
    fact = save_log(tmp_path, "../../etc", "..\\..\\passwd", b"x", truncated=False)
    assert fact.saved_as is not None and ".." not in fact.saved_as
    assert (tmp_path / fact.saved_as).resolve().is_relative_to(tmp_path.resolve())


def test_hosts_whose_names_differ_in_replaced_characters_keep_separate_evidence(tmp_path: Path) -> None:
    """Two hosts whose names only differ where unsafe characters are replaced never overwrite each other."""
    a = save_log(tmp_path, "sms 01", "C:\\Logs\\wsyncmgr.log", b"first", truncated=False)
    b = save_log(tmp_path, "sms*01", "C:\\Logs\\wsyncmgr.log", b"second", truncated=False)
    assert a.saved_as != b.saved_as
    assert gzip.decompress((tmp_path / str(a.saved_as)).read_bytes()) == b"first"
    assert gzip.decompress((tmp_path / str(b.saved_as)).read_bytes()) == b"second"


def test_progress_plain_lines_and_bar() -> None:
    """Without a terminal each host is one log line; on a terminal one bar shows done, failures and ETA."""
    plain = io.StringIO()
    p = Progress(2, plain, tty=False)
    p.host_done("a\x1b[31m", Verdict.ERROR, "timeout")
    assert plain.getvalue() == "cmaudit: [1/2] a?[31m: ERROR (timeout)\n"
    now = [0.0]
    bar = io.StringIO()
    t = Progress(4, bar, tty=True, colour=False, clock=lambda: now[0])
    now[0] = 10.0
    t.host_done("a", Verdict.NOT_AFFECTED)
    assert "1/4 hosts, 0 failed, 6.0 hosts/min, ETA 0:00:30" in bar.getvalue()
    now[0] = 11.0
    t.host_done("b", Verdict.NOT_AFFECTED)
    t.host_done("c", Verdict.NOT_AFFECTED)
    assert "3/4 hosts, 0 failed, 16.4 hosts/min, ETA 0:00:04" in bar.getvalue()
    assert "\x1b" not in bar.getvalue()


def test_progress_bar_colour_only_when_asked() -> None:
    """The bar is coloured on a colour terminal (failures stand out), and its padding ignores the codes."""
    now = [0.0]
    bar = io.StringIO()
    t = Progress(2, bar, tty=True, colour=True, clock=lambda: now[0])
    now[0] = 1.0
    t.host_done("a", Verdict.ERROR, "timeout")
    assert "\x1b[35;1m1 failed\x1b[0m" in bar.getvalue() and "1.0 hosts/s" in bar.getvalue()
    assert Progress(2, io.StringIO(), tty=True).colour is False  # a StringIO is no terminal


def test_quiet_progress_writes_nothing() -> None:
    """--quiet: no bar and no per-host lines."""
    stream = io.StringIO()
    quiet = Progress(2, stream, quiet=True, tty=True)
    quiet.host_done("a", Verdict.ERROR, "timeout")
    quiet.message("cmaudit: stopping")
    quiet.close()
    assert stream.getvalue() == "cmaudit: stopping\n"


@pytest.mark.parametrize(("options", "said"), [
    pytest.param({"username": "LAB\\auditor\n\u202e", "auth": "ntlm"}, "username", id="username-with-controls"),
    pytest.param({"username": "u" * 5000}, "username", id="username-too-long"),
    pytest.param({"username": 7}, "username", id="username-not-text"),
    pytest.param({"auth": "plaintext"}, "auth", id="unknown-auth"),
    pytest.param({"password_env": "Hunter2-Secret!"}, "password_env", id="password-env-not-a-name"),
])
def test_an_account_read_back_from_a_results_file_is_checked(options, said) -> None:
    """The account a rescan would reuse from a results file is refused (one line, the field named) where the
    command line would refuse it, and a refused password variable is not echoed."""
    from scanner.model.errors import UsageError
    from tests.support.weekly_runs import run

    earlier = run(1)
    earlier = replace(earlier, meta=replace(earlier.meta, options=options))
    with pytest.raises(UsageError, match=said) as refused:
        recorded_account(earlier, Path("first/results.json"))
    assert str(Path("first/results.json")) in str(refused.value) and "Hunter2" not in str(refused.value)


def test_a_recorded_account_reads_back() -> None:
    """A results file cmaudit wrote gives back its user name, auth method and password variable."""
    from tests.support.weekly_runs import run

    earlier = run(1)
    earlier = replace(earlier, meta=replace(earlier.meta, options={"username": "LAB\\auditor", "auth": "negotiate",
                                                                    "password_env": "AUDIT_PW"}))
    account = recorded_account(earlier, Path("r.json"))
    assert (account.username, account.auth, account.password_env) == ("LAB\\auditor", "negotiate", "AUDIT_PW")
