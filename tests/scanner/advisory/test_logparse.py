"""Reading ConfigMgr logs: formats, time zones, encodings and damaged files."""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.advisory.logs import LogBuffer, parse_log

SERVER = ("Wakeup for a polling cycle  $$<SMS_WSUS_SYNC_MANAGER><02-08-2020 02:13:11.522+480>"
          "<thread=5976 (0x1758)>")
STATMSG = ('STATMSG: ID=6709 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_WSUS_SYNC_MANAGER" SYS=SITE1 SITE=S01 '
           'PID=1836 TID=5976 GMTDATE=Wed Jun 11 09:14:15.120 2008 ISTR0="" ISTR1="" NUMATTRS=0'
           '  $$<SMS_WSUS_SYNC_MANAGER><06-11-2008 11:14:15.120-120><thread=5976 (0x1758)>')
CMTRACE = ('<![LOG[Synchronizing update 7f1e2a3b]LOG]!><time="02:13:11.522+480" date="2-8-2020" '
           'component="SMS_WSUS_SYNC_MANAGER" context="" type="1" thread="5976" file="wsyncmgr.cpp:1843">')


def _entries(text: str, encoding: str = "utf-8"):
    return parse_log("wsyncmgr.log", text.encode(encoding))


def test_server_line_fields():
    """A server-format line yields its message, component, thread and UTC time."""
    (e,) = _entries(SERVER + "\r\n")
    assert (e.kind, e.text, e.component, e.thread, e.line) == ("server", "Wakeup for a polling cycle",
                                                                 "SMS_WSUS_SYNC_MANAGER", 5976, 1)
    assert e.iso_time == "2020-02-08T10:13:11.522Z"


def test_bias_sign_matches_statmsg_gmtdate():
    """UTC = local + bias: the line's time equals the GMTDATE the status message itself records."""
    (e,) = _entries(STATMSG)
    gmt = re.search(r"GMTDATE=\w{3} (\w{3} \d+ [\d:.]+ \d{4})", e.text)
    assert gmt is not None
    expected = datetime.strptime(gmt.group(1), "%b %d %H:%M:%S.%f %Y").replace(tzinfo=UTC)
    assert e.time == expected


@pytest.mark.parametrize(("stamp", "iso"), [
    pytest.param("Fri Mar 26 10:43:41.547 1999 Eastern Standard Time", "1999-03-26T15:43:41.547Z", id="est"),
    pytest.param("Mon Jun 09 10:00:00.000 2008 W. Europe Daylight Time", "2008-06-09T08:00:00.000Z", id="cest"),
    pytest.param("Mon Jun 09 10:00:00.000 2008 Atlantis Standard Time", None, id="unknown-zone"),
    pytest.param("06-09-2008 10:00:00.000", None, id="no-bias"),
    pytest.param("13-45-2008 10:00:00.000+000", None, id="impossible-date"),
])
def test_server_timestamp_forms(stamp, iso):
    """Long-form stamps map known zone names; an unknown zone or missing bias leaves the time unknown."""
    (e,) = _entries(f"hello  $$<COMP><{stamp}><thread=281 (0x119)>\n")
    assert e.kind == "server"
    assert e.iso_time == iso


@pytest.mark.parametrize(("time_attr", "iso"), [
    pytest.param("02:13:11.522+480", "2020-02-08T10:13:11.522Z", id="3-digits"),
    pytest.param("02:13:11.5229999+480", "2020-02-08T10:13:11.522Z", id="7-digits"),
    pytest.param("02:13:11.5229-060", "2020-02-08T01:13:11.522Z", id="negative-bias"),
])
def test_cmtrace_fractions_and_bias(time_attr, iso):
    """CMTrace times with 3 to 7 fractional digits and either bias sign come out in UTC."""
    (e,) = _entries(CMTRACE.replace("02:13:11.522+480", time_attr))
    assert (e.kind, e.iso_time) == ("cmtrace", iso)


def test_cmtrace_reordered_and_missing_attributes():
    """Attribute order does not matter; a missing date leaves the time unknown but keeps the text."""
    line = ('<![LOG[hello]LOG]!><thread="0x1758" component="C" date="2-8-2020" type="2" '
            'time="02:13:11.522+480">\n<![LOG[no date]LOG]!><time="02:13:11.522+480" component="C">\n')
    a, b = _entries(line)
    assert (a.thread, a.severity, a.component, a.iso_time) == (0x1758, 2, "C", "2020-02-08T10:13:11.522Z")
    assert (b.text, b.time, b.line) == ("no date", None, 2)


def test_cmtrace_multiline_message_keeps_starting_line():
    """A message spanning lines is one entry numbered by its first line; the next entry keeps its number."""
    text = "first\n" + CMTRACE.replace("update 7f1e2a3b", "line one\r\nline two\r\nline three") + "\r\n" + CMTRACE
    entries = _entries(text)
    assert [(e.line, e.lines, e.kind) for e in entries] == [(1, 1, "raw"), (2, 3, "cmtrace"), (5, 1, "cmtrace")]
    assert entries[1].text == "Synchronizing line one\nline two\nline three"


def test_unclosed_cmtrace_entry_does_not_swallow_neighbours():
    """An entry cut before its closing tag stays raw and the following entries still parse."""
    entries = _entries("<![LOG[cut by a crash\n" + CMTRACE + "\n" + CMTRACE + "\n")
    assert [(e.line, e.kind) for e in entries] == [(1, "raw"), (2, "cmtrace"), (3, "cmtrace")]


@pytest.mark.parametrize("encoding", [
    pytest.param("utf-8-sig", id="utf8-bom"),
    pytest.param("utf-16", id="utf16le-bom"),
    pytest.param("utf-16-be-bom", id="utf16be-bom"),
    pytest.param("utf-8", id="utf8"),
    pytest.param("cp1252", id="cp1252"),
])
def test_encodings(encoding):
    """Localised text survives every encoding ConfigMgr writes, with the same line numbers."""
    text = "Behandler sikkerhetskatalogen på Ærøskøbing  $$<C><06-11-2008 11:14:15.120-120><thread=1 (0x1)>\r\n" * 3
    data = codecs.BOM_UTF16_BE + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    entries = parse_log("x.log", data)
    assert [e.line for e in entries] == [1, 2, 3]
    assert all(e.text == "Behandler sikkerhetskatalogen på Ærøskøbing" for e in entries)


def test_mixed_utf8_and_cp1252_lines_decode_per_line():
    """A file mixing UTF-8 and Windows-1252 lines shows both correctly."""
    data = "Ærlig  $$<C><06-11-2008 11:14:15.120-120><thread=1 (0x1)>\n".encode() + "Ærlig\n".encode("cp1252")
    assert [e.text for e in parse_log("x", data)] == ["Ærlig", "Ærlig"]


def test_utf16_tail_without_bom_is_recognised():
    """A tail-capped UTF-16LE file (no BOM, possibly an odd offset) still parses."""
    full = (SERVER + "\r\n").encode("utf-16-le") * 40
    for cut in (len(full) // 2 + 1, len(full) // 2 + 2):
        entries = parse_log("x", full[-cut:])
        assert sum(e.kind == "server" for e in entries) >= 19


def test_damaged_file_keeps_neighbouring_lines():
    """NUL runs, garbage, a 1 MB line, mixed CRLF/LF and a truncated tail leave the good lines intact."""
    garbage = bytes(b for b in range(256) if b != 10) * 4
    lines = [SERVER.encode(), b"\x00" * 5000, garbage, SERVER.encode(), b"A" * (1 << 20),
             CMTRACE.encode(), SERVER.encode() + b"\r", SERVER.encode()[:40]]
    entries = parse_log("x", b"\n".join(lines))
    parsed = {e.line: e.kind for e in entries}
    assert len(entries) == 8
    assert [parsed[i] for i in (1, 4, 6, 7)] == ["server", "server", "cmtrace", "server"]
    assert parsed[8] == "raw" and entries[-1].text == SERVER[:40]


def test_entry_at_agrees_with_full_parse():
    """The engine's random access gives the same entry as reading the file through."""
    text = "\n".join([SERVER, CMTRACE.replace("7f1e2a3b", "a\nb\nc"), "junk", CMTRACE, SERVER])
    buf = LogBuffer("x", text.encode())
    for e in buf.entries():
        for pos in range(e.start, e.end + 1):
            assert buf.entry_at(pos) == e


def _check_invariants(data: bytes) -> None:
    buf = LogBuffer("x", data)
    entries = list(buf.entries())
    assert sum(e.lines for e in entries) == buf.line_count()
    expected = 1
    for e in entries:
        assert e.line == expected
        expected += e.lines
        assert buf.entry_at(e.start) == e
    if buf.buf is data:  # 8-bit input is not transcoded: numbers match the file's own newlines
        assert buf.line_count() == data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash_and_number_every_line(data):
    """Any bytes at all parse without error and every physical line is numbered exactly once."""
    _check_invariants(data)


_REAL = [SERVER, STATMSG, CMTRACE, "Error 0x80004005, unexpected DeploymentAction for update 1293995. "
         "Returned from CreateUpdateNode  $$<SMS_WSUS_SYNC_MANAGER><06-11-2008 11:14:15.120-120><thread=5976 (0x1758)>",
         "hello  $$<COMP><Fri Mar 26 10:43:41.547 1999 Eastern Standard Time><thread=281 (0x119)>"]


@st.composite
def _mutated_log(draw):
    lines, intact = [], []
    for _ in range(draw(st.integers(1, 25))):
        line = draw(st.sampled_from(_REAL)).encode()
        how = draw(st.sampled_from(["keep", "keep", "truncate", "insert", "nul", "crlf"]))
        if how == "truncate":
            line = line[: draw(st.integers(0, len(line) - 1))]
        elif how == "insert":
            at = draw(st.integers(0, len(line)))
            junk = draw(st.binary(min_size=1, max_size=40)).replace(b"\n", b"")
            line = line[:at] + junk + line[at:]
        elif how == "nul":
            line = b"\x00" * draw(st.integers(1, 300)) + line
        elif how == "crlf":
            line += b"\r"
        lines.append(line)
        intact.append(how in ("keep", "crlf", "nul"))
    return lines, intact


@settings(max_examples=200, deadline=None)
@given(_mutated_log())
def test_mutated_real_lines_keep_their_numbers(case):
    """Damaging some lines never shifts or loses the undamaged ones."""
    lines, intact = case
    data = b"\n".join(lines)
    _check_invariants(data)
    by_line = {e.line: e for e in parse_log("x", data)}
    for number, (line, ok) in enumerate(zip(lines, intact, strict=True), start=1):
        if ok and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            assert by_line[number].kind in ("server", "cmtrace"), (number, line)


@pytest.mark.parametrize("junk", [pytest.param(b"\x00", id="nul"), pytest.param(b"\x01", id="control")])
def test_unclosed_opener_does_not_swallow_server_lines(junk):
    """An opener cut short, then server lines, then a closer whose opener is damaged: the server lines stay."""
    cmtrace = CMTRACE.encode()
    damaged = cmtrace[:1] + junk + cmtrace[1:]
    data = b"\n".join([b"<![LOG[", SERVER.encode(), SERVER.encode(), damaged])
    _check_invariants(data)
    kinds = [(e.line, e.kind) for e in parse_log("x", data)]
    assert kinds[:3] == [(1, "raw"), (2, "server"), (3, "server")]


def test_entry_at_finds_an_opening_line_far_above():
    """A CMTrace message whose first line is longer than the search window is still found from its last line."""
    long_first = "<![LOG[" + "x" * 200_000
    text = "\n".join([SERVER, long_first, "middle", 'end]LOG]!><time="02:13:11.522+480" date="2-8-2020" component="C">',
                      SERVER])
    buf = LogBuffer("x", text.encode())
    e = buf.entry_at(len(text) - len(SERVER) - 5)
    assert (e.line, e.lines, e.kind) == (2, 3, "cmtrace")
    assert e.iso_time == "2020-02-08T10:13:11.522Z"


def test_timeline_reads_rolled_file_first_with_its_own_line_numbers():
    """The timeline lists wsyncmgr.lo_ before wsyncmgr.log, each entry numbered within its own file."""
    from scanner.advisory.timeline import Timeline, older_first
    from scanner.model.snapshot import LogBlob

    names = older_first(["C:\\SMS\\Logs\\wsyncmgr.log", "C:\\SMS\\Logs\\wsyncmgr.LO_"])
    assert names == ["C:\\SMS\\Logs\\wsyncmgr.LO_", "C:\\SMS\\Logs\\wsyncmgr.log"]
    blobs = [LogBlob(n, (SERVER + "\r\n" + STATMSG + "\r\n").encode()) for n in names]
    entries = list(Timeline(blobs).entries())
    assert [(e.file, e.line) for e in entries] == [(names[0], 1), (names[0], 2), (names[1], 1), (names[1], 2)]
    assert all(e.component == "SMS_WSUS_SYNC_MANAGER" and e.thread == 5976 for e in entries)
