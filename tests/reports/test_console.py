"""The console summary and exit status a scheduler sees."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reports.console import exit_status, summary_text
from scanner.model.records import ErrorCategory, HostFailure, RunResults, Verdict
from tests.support.samples import affected, meta, mixed_run, simple


@pytest.mark.parametrize(("verdicts", "status"), [
    pytest.param((), 0, id="empty"),
    pytest.param((Verdict.NOT_AFFECTED, Verdict.RECOVERED, Verdict.NOT_APPLICABLE), 0, id="clean"),
    pytest.param((Verdict.NOT_AFFECTED, Verdict.AFFECTED), 1, id="affected"),
    pytest.param((Verdict.AT_RISK,), 1, id="at-risk"),
    pytest.param((Verdict.ERROR, Verdict.NOT_AFFECTED), 2, id="error"),
    pytest.param((Verdict.UNKNOWN,), 2, id="unknown"),
    pytest.param((Verdict.AT_RISK, Verdict.ERROR), 3, id="both"),
])
def test_exit_status_bits(verdicts, status):
    """Findings set bit 1, hosts that could not be judged set bit 2."""
    hosts = tuple(simple(f"h{i}", v, "r") for i, v in enumerate(verdicts))
    assert exit_status(RunResults(meta=meta(), hosts=hosts)) == status


def test_summary_counts_then_hosts_needing_action():
    """The summary gives every verdict's count and lists the hosts to act on, most urgent first."""
    text = summary_text(mixed_run())
    lines = text.splitlines()
    assert any(line.split() == ["AFFECTED", "2"] for line in lines)
    assert any(line.split() == ["NOT_AFFECTED", "2"] for line in lines)
    assert any(line.split() == ["total", "9"] for line in lines)
    assert "Hosts to act on (5: 3 needing action, 2 could not be checked):" in text
    assert "4 of 9 hosts compliant (45%); 3 needing action, 0 waived, 2 could not be checked" in text
    body = text.split("Hosts to act on", 1)[1]
    assert body.index("SMS-A01") < body.index("sms-r01") < body.index("sms-c04") < body.index("sms-d05")
    assert "sms-b03" not in body
    assert "timeout: no answer within 60 s" in body


def test_summary_caps_the_host_list():
    """A fleet with hundreds of findings prints a bounded list and says how many more there are."""
    hosts = tuple(affected(f"sms{i:03d}") for i in range(120))
    text = summary_text(RunResults(meta=meta(), hosts=hosts), max_rows=50)
    assert "... and 70 more" in text
    assert "sms049" in text and "sms050" not in text


def test_server_text_cannot_drive_the_terminal():
    """Escape sequences in a server's error message are not passed to the terminal."""
    host = simple("sms01", Verdict.ERROR, "", error=HostFailure(ErrorCategory.PROTOCOL, "bad\x1b]0;pwned\x07\x1b[2J"))
    text = summary_text(RunResults(meta=meta(), hosts=(host,)))
    assert "\x1b" not in text and "\x07" not in text


@pytest.mark.parametrize(("flag", "words"), [
    pytest.param("interrupted", "INTERRUPTED", id="interrupted"),
    pytest.param("insecure", "INSECURE", id="insecure"),
])
def test_summary_warns_about_the_run(flag, words):
    """An interrupted or --insecure run says so in the summary."""
    results = RunResults(meta=meta(**{flag: True}), hosts=(simple("a", Verdict.NOT_AFFECTED, "ok"),))
    assert words in summary_text(results)
    assert words not in summary_text(RunResults(meta=meta(), hosts=results.hosts))


def test_server_text_cannot_reorder_the_summary_line():
    """Bidi overrides and zero-width characters in a server's reason do not reach the terminal."""
    host = simple("sms01", Verdict.AFFECTED, "Sync \u202efixed\u202c ok\u200b")
    text = summary_text(RunResults(meta=meta(), hosts=(host,)))
    assert "\u202e" not in text and "\u202c" not in text and "\u200b" not in text and "Sync ?fixed? ok?" in text


def test_hosts_in_error_get_what_to_do_once_per_hint():
    """Below the table, each error's hint is printed once with the hosts it is for (five named, the rest counted);
    an error without its own hint gets its category's advice."""
    hint = "Add the account to the local Administrators group on the host."
    denied = tuple(simple(f"sms{i:02d}", Verdict.ERROR, "", error=HostFailure(ErrorCategory.ACCESS, "denied", hint))
                   for i in range(7))
    bare = simple("sms99", Verdict.ERROR, "", error=HostFailure(ErrorCategory.TLS, "handshake failed"))
    text = summary_text(RunResults(meta=meta(), hosts=(*denied, bare)))
    block = text.split("What to do (hosts in ERROR):", 1)[1]
    assert block.count(hint) == 1
    assert "sms00, sms01, sms02, sms03, sms04 and 2 more" in block
    assert "--ca-file" in block and "[sms99]" in block


def test_why_leads_with_what_differs_between_hosts():
    """The "why" column skips the advisory's headline every host of a verdict shares and shows the
    host's own reason, cut to the width given, so two affected hosts do not read the same."""
    headline = "The last legacy update sync failed with the error advisory 954474 describes: long shared text."
    hosts = tuple(
        replace(simple(name, Verdict.AFFECTED, ""),
                reasons=(headline, f"The last legacy sync attempt failed at {when} (wsyncmgr.log:{line})."))
        for name, when, line in (("sms01", "2026-11-20T02:13:12Z", 1207), ("sms02", "2026-11-21T05:00:00Z", 88)))
    results = RunResults(meta=meta(verdict_text={"AFFECTED": headline}), hosts=hosts)
    text = summary_text(results, width=62)
    rows = [line for line in text.splitlines() if line.startswith("sms0")]
    assert len(rows) == 2 and "2026-11-20T02:13:12Z" in rows[0] and "2026-11-21T05:00:00Z" in rows[1]
    assert headline[:30] not in text
    assert max(len(line) for line in rows) <= 62 + 90
    wide = summary_text(results, width=200)
    assert "(wsyncmgr.log:1207)." in wide


def test_colour_only_when_asked():
    """Verdict names are coloured for a terminal and plain otherwise; the columns stay aligned either way."""
    plain, coloured = summary_text(mixed_run()), summary_text(mixed_run(), colour=True)
    assert "\x1b[" not in plain and "\x1b[31;1mAFFECTED\x1b[0m" in coloured
    strip = __import__("re").compile(r"\x1b\[[0-9;]*m")
    assert strip.sub("", coloured) == plain


def test_console_stream_outliving_its_console_closes_quietly():
    """A console stream closed or collected after the console it wrapped was closed (a pipe gone, a test's
    capture ended: seen on Windows CPython 3.13) goes away without an 'Exception ignored' message."""
    import io

    from reports.terminal import ConsoleStream

    console = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # as sys.stdout, or pytest's capture
    stream = ConsoleStream(console)
    stream.write("done\n")
    console.close()
    stream.flush()
    stream.close()
    assert stream.closed
