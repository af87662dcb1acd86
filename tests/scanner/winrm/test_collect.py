"""The pieces of collection that decide what is read from a host and how its output is split."""

from __future__ import annotations

import pytest

from scanner.winrm.collect import MarkerSplitter, log_command, registry_command, rolled_name, safe_path


def _feed_in(splitter: MarkerSplitter, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        splitter.feed(data[i:i + size])
    splitter.close()


@pytest.mark.parametrize("size", [pytest.param(1, id="byte-by-byte"), pytest.param(7, id="odd-chunks"),
                                  pytest.param(10_000, id="one-chunk")])
def test_sections_survive_any_chunking(size: int) -> None:
    """Log bytes arrive exactly as sent, however the Receive replies cut the stream."""
    lo = b"old\r\nline ==cmaudit:other:log== fake\r\n"
    log = b"\xef\xbb\xbfnew line without newline"
    data = (b"==cmaudit:n1:lo_== \r\n" + lo + b"==cmaudit:n1:log== \r\n" + log + b"==cmaudit:n1:end== \r\n")
    splitter = MarkerSplitter("n1", ("lo_", "log", "end"), cap=1 << 20)
    _feed_in(splitter, data, size)
    assert bytes(splitter.sections["lo_"].data) == lo
    assert bytes(splitter.sections["log"].data) == log
    assert splitter.sections["end"].seen == 0


def test_cap_keeps_the_tail() -> None:
    """Past the byte cap the newest bytes are kept and the file is marked truncated."""
    splitter = MarkerSplitter("n", ("log", "end"), cap=10)
    _feed_in(splitter, b"==cmaudit:n:log==\r\n" + b"0123456789ABCDEF", 3)
    buf = splitter.sections["log"]
    assert bytes(buf.data) == b"6789ABCDEF" and buf.truncated and buf.seen == 16


def test_commands_are_read_only() -> None:
    """Every command cmaudit sends is echo, reg query, type or dir, each at most with its errors merged into the
    output (`2>&1`) and a failure marker echoed (`|| echo`); nothing that writes."""
    from scanner.winrm import sitefiles
    from tests.support.scans import is_read_only

    plan = sitefiles.Plan((r"C:\ITMU\PkgSource",), True, r"C:\CM\bin\i386\updatewuscatalog.exe", "951376")
    follow = sitefiles.FollowUp(r"D:\ITMU\PkgSource", plan.program).parts("abc")
    for line in (registry_command("abc"), " & ".join(follow),
                 log_command("abc", r"C:\L\wsyncmgr.lo_", r"C:\L\wsyncmgr.log", sitefiles.command_parts("abc", plan))):
        assert is_read_only(line), line
        for part in line.split(" & "):
            assert part.split(" ")[0] in ("echo", "reg", "type", "dir", "2>&1"), part
            assert ">" not in part.replace("2>&1", "") and "|" not in part.replace("|| echo", "")
    # eight SMS keys (SQL Server too), the not-found probe, five folder values for REG_EXPAND_SZ, the share list
    # (ITMU's PackageSrc) and the account's date format
    assert registry_command("abc").count("reg query") == 16


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        pytest.param(r"D:\SMS\Logs\wsyncmgr.log", True, id="plain"),
        pytest.param(r"C:\Program Files (x86)\SMS\Logs\wsyncmgr.log", True, id="spaces-parens"),
        pytest.param('C:\\x" & del C:\\boot.ini & "', False, id="injection"),
        pytest.param(r"C:\%TEMP%\x.log", False, id="env-expansion"),
        pytest.param("", False, id="empty"),
    ],
)
def test_only_harmless_paths_reach_cmd(path: str, ok: bool) -> None:
    """A registry value crafted to inject a command is refused instead of being run."""
    assert safe_path(path) is ok


def test_rolled_log_name() -> None:
    """The rolled copy of wsyncmgr.log is wsyncmgr.lo_ next to it."""
    assert rolled_name(r"C:\SMS\Logs\wsyncmgr.log") == r"C:\SMS\Logs\wsyncmgr.lo_"
    assert rolled_name(r"C:\SMS.dir\Logs\wsyncmgr") == r"C:\SMS.dir\Logs\wsyncmgr.lo_"
