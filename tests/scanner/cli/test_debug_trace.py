"""`--debug FILE`: a trace that explains every host of a run after the fact, and never holds a secret, an
Authorization header, a token or the content of a collected log."""

from __future__ import annotations

import base64
import logging
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from scanner.cli.main import main
from scanner.model.redaction import RedactingFilter, Redactor
from simulator import Fleet
from tests.support.kerberos import kerberos_fleet
from tests.support.ntlm import hash_forms
from tests.support.scans import new_password

# Text that only a collected wsyncmgr.log holds (the simulator's generated logs): it must never be traced.
LOG_CONTENT = re.compile(r"STATMSG|Performing legacy sync|DeploymentAction|wsusscn2\.cab|SMS_WSUS_SYNC_MANAGER>")
TOKEN = re.compile(r"(?i)(Negotiate|NTLM|Kerberos|Basic)\s+[A-Za-z0-9+/=]{8,}")


def host_lines(trace: str, host: str) -> list[str]:
    return [line for line in trace.splitlines() if f" {host}: " in line]


def test_demo_trace_explains_every_host(demo_run) -> None:
    """The demo's trace names, for every host, each WS-Man action with its timing, the HTTP status, the code
    page and the logon method; the faulty hosts' 401, malformed reply, reset and 503 retry are there too."""
    assert demo_run.status == 0, demo_run.stderr
    trace = demo_run.trace.read_text(encoding="utf-8")
    if os.name != "nt":  # Windows has no modes: the trace gets its folder's ACL (README, Debug trace)
        assert stat.S_IMODE(demo_run.trace.stat().st_mode) == 0o600
    hosts = sorted(set(re.findall(r" (CM\d{3}): started", trace)))
    assert len(hosts) >= 20
    healthy = [h for h in hosts if h not in ("CM002", "CM004", "CM006", "CM008")]
    for host in healthy:
        lines = "\n".join(host_lines(trace, host))
        for action in ("WS-Man Create cmd ok", "WS-Man Command cmd ok", "WS-Man Receive cmd ok",
                       "WS-Man Delete cmd ok", "code page 65001", "logged on with ntlm", "HTTP 200", "done in"):
            assert action in lines, f"{host}: {action!r} missing"
        assert re.search(r"\(\d+ ms\)", lines)
    assert "credentials rejected (HTTP 401)" in "\n".join(host_lines(trace, "CM002"))
    assert "malformed XML" in "\n".join(host_lines(trace, "CM004"))
    # the connection dropped mid-reply: a reset, or (wine turns a reset into the end of the stream) a close
    assert re.search(r"reset|closed by the server mid-reply", "\n".join(host_lines(trace, "CM006")))
    assert "HTTP 503" in "\n".join(host_lines(trace, "CM008")) and "retrying in" in trace


def test_demo_trace_holds_no_secret_token_or_log_content(demo_run) -> None:
    """No password (in any form), Authorization header, security token or line of a collected log is traced."""
    trace = demo_run.trace.read_text(encoding="utf-8")
    password = demo_run.password
    forms = (password, base64.b64encode(password.encode()).decode(), password.encode("utf-16-le").decode("latin-1"),
             *hash_forms(password))  # the NTLM hashes are password-equivalent
    assert not [form for form in forms if form in trace]
    assert "Authorization" not in trace
    assert not TOKEN.search(trace)
    assert not LOG_CONTENT.search(trace)


@pytest.mark.network
@pytest.mark.parametrize(("era", "auth", "version"), [
    pytest.param("modern", "basic", r"TLSv1\.[23]", id="modern"),
    pytest.param("2008r2-winrm20", "ntlm", r"TLSv1", id="tls10-legacy"),
])
def test_https_trace_names_the_tls_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, era: str, auth: str,
                                           version: str) -> None:
    """Over HTTPS the trace says which TLS version and cipher each connection used (TLS 1.0 for a 2008 R2
    listener scanned with tls=legacy)."""
    password = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    with Fleet(hosts=1, scenario="sp2", tls=True, password=password, eras=era, auth=auth) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(["scan", str(inventory), "-o", str(tmp_path / "run"), "--no-history", "--quiet",
                       "--username", fleet.username, "--ca-file", str(fleet.ca_file),
                       "--debug", str(tmp_path / "trace.log")])
    trace = (tmp_path / "trace.log").read_text(encoding="utf-8")
    assert status == 0
    assert re.search(rf"CM000: connected to 127\.0\.0\.1:\d+ \({version} ", trace)
    assert password not in trace


@pytest.mark.network
@pytest.mark.kerberos
def test_kerberos_trace_shows_the_negotiated_protocol(kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Kerberos run's trace says the TGT was fetched once and each host logged on with Kerberos; the password
    is nowhere in it."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", kdc.password)
    with kerberos_fleet(kdc, hosts=2, auth="negotiate") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(["scan", str(inventory), "-o", str(tmp_path / "run"), "--no-history", "--quiet",
                       "--username", kdc.user, "--debug", str(tmp_path / "trace.log")])
    trace = (tmp_path / "trace.log").read_text(encoding="utf-8")
    assert status == 1
    assert trace.count(f"one TGT for {kdc.user}") == 1
    assert len(re.findall(r"CM00[01]\.lab\.test: logged on with kerberos", trace)) == 2
    assert kdc.password not in trace and not TOKEN.search(trace)


def test_unwritable_trace_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --debug file that cannot be written is one line and exit 64, before anything runs."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    status = main(["scan", str(tmp_path / "missing.csv"), "--debug", str(blocker / "trace.log")])
    err = capsys.readouterr().err
    assert status == 64 and "--debug" in err and len(err.strip().splitlines()) == 1


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("scanner.test", logging.DEBUG, __file__, 1, message, args or None, exc_info)


@pytest.mark.parametrize(("message", "args", "hidden"), [
    pytest.param("password is %s", ("Pw-s3cret-value",), "Pw-s3cret-value", id="known-secret"),
    pytest.param("%s", (base64.b64encode(b"Pw-s3cret-value").decode(),), "UHctczNjcmV0LXZhbHVl", id="base64-secret"),
    pytest.param("headers %s", ({"Authorization": "Negotiate YIIGxgYGKwYBBQUCoIIGujCCBrag"},), "YIIGxgYG",
                 id="authorization-header"),
    pytest.param("sent %s", ("Basic TEFCXGF1ZGl0b3I6aHVudGVyMg==",), "TEFCXGF1ZGl0b3I6", id="basic-token"),
    pytest.param("url %s", ("https://h/?password=hunter2&x=1",), "hunter2", id="assignment"),
    pytest.param("stream %s", ("UGVyZm9ybWluZyBsZWdhY3kgc3luYyAgJCQ8U01TX1dTVVNfU1lOQ19NQU5BR0VSPg==",),
                 "UGVyZm9ybWluZyBsZWdhY3k", id="winrs-stream"),
])
def test_redacting_filter_scrubs_every_form(message: str, args: tuple[object, ...], hidden: str) -> None:
    """Whatever a library puts in a record, the filter removes secrets, credentials, tokens and streams."""
    redactor = Redactor()
    redactor.remember(["Pw-s3cret-value"])
    record = _record(message, *args)
    assert RedactingFilter(redactor).filter(record)
    assert hidden not in record.getMessage()


def test_redacting_filter_scrubs_tracebacks() -> None:
    """A traceback attached to a record is rendered and scrubbed too, and the record stays one entry."""
    redactor = Redactor()
    redactor.remember(["Pw-in-traceback"])
    try:
        raise ValueError("login with Pw-in-traceback failed\x1b[2J")
    except ValueError as exc:
        record = _record("failed", exc=exc)
    RedactingFilter(redactor).filter(record)
    text = record.getMessage()
    assert "Pw-in-traceback" not in text and "ValueError" in text and "\x1b" not in text
    assert record.exc_info is None and record.exc_text is None
    assert sys.exc_info() == (None, None, None)
