"""LiftedReceiveWinRS.receive sends what pypsrp's WinRS.receive sends and answers what it answers."""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypsrp.shell import WinRS
from pypsrp.wsman import NAMESPACES

from scanner.winrm.winrs import LiftedReceiveWinRS, LiftedReply, b64decode, exit_code, lift_streams
from tests.support.pypsrp_changes import needs_internal
from tests.support.wsman_fakes import pypsrp_parity

lifts_receive = needs_internal("selector_set")  # LiftedReceiveWinRS reads Receive replies itself only then

RSP = NAMESPACES["rsp"]


class FakeWSMan:
    """Records each receive() request (as text) and answers a canned ReceiveResponse."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[tuple[Any, ...]] = []

    def receive(self, resource_uri: str, resource: ET.Element, option_set: Any = None, selector_set: Any = None,
                timeout: Any = None) -> ET.Element:
        self.requests.append((resource_uri, ET.tostring(resource),
                              ET.tostring(option_set.pack()) if option_set else None, selector_set, timeout))
        body = ET.fromstring(self.reply).find("s:Body", namespaces=NAMESPACES)  # what WSMan.receive answers
        assert body is not None
        return body


def _reply(streams: list[tuple[str, str | None]], state: str = "Done", exit_code: int | str | None = 0) -> str:
    parts = "".join(f'<rsp:Stream Name="{name}" CommandId="C">{text}</rsp:Stream>' if text is not None
                    else f'<rsp:Stream Name="{name}" CommandId="C"/>' for name, text in streams)
    code = f"<rsp:ExitCode>{exit_code}</rsp:ExitCode>" if exit_code is not None else ""
    return (f'<s:Envelope xmlns:s="{NAMESPACES["s"]}" xmlns:rsp="{RSP}"><s:Body><rsp:ReceiveResponse>{parts}'
            f'<rsp:CommandState CommandId="C" State="{RSP}/CommandState/{state}">{code}</rsp:CommandState>'
            "</rsp:ReceiveResponse></s:Body></s:Envelope>")


def _both(reply: str, **kwargs: Any) -> tuple[Any, Any, FakeWSMan, FakeWSMan]:
    ours_wsman, theirs_wsman = FakeWSMan(reply), FakeWSMan(reply)
    ours, theirs = LiftedReceiveWinRS(ours_wsman), WinRS(theirs_wsman)  # type: ignore[arg-type]
    return ours.receive(**kwargs), theirs.receive(**kwargs), ours_wsman, theirs_wsman


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pypsrp_parity
@pytest.mark.parametrize("streams,state,exit_code", [
    ([("stdout", b64(b"one ")), ("stdout", b64(b"two")), ("stderr", b64(b"err"))], "Done", 0),
    ([("stdout", b64(bytes(range(256)) * 700))], "Running", None),
    ([("stdout", None), ("stderr", b64(b"x"))], "Done", 5),
    ([("stdout", b64(b"a log line\r\n" * 10)[:20] + "\n  " + b64(b"a log line\r\n" * 10)[20:])], "Done", 0),
    ([], "Running", None),
])
def test_receive_matches_pypsrp(streams: list[tuple[str, str | None]], state: str, exit_code: int | None):
    """Same request on the wire and the same (state, exit code, stream bytes) for the same reply, line breaks
    inside the base64 included."""
    ours, theirs, ours_wsman, theirs_wsman = _both(_reply(streams, state, exit_code), command_id="C")
    assert ours == theirs
    assert ours[0].endswith(state) and ours[1] == exit_code  # the reply was read, not just found empty
    assert b"".join(ours[2].values()) == b"".join(base64.b64decode(t) for _, t in streams if t)
    assert ours_wsman.requests == theirs_wsman.requests


@pypsrp_parity
def test_bad_base64_fails_as_in_pypsrp():
    """A stream whose base64 is cut short raises binascii.Error, as the standard library's decoder does."""
    with pytest.raises(binascii.Error):
        LiftedReceiveWinRS(FakeWSMan(_reply([("stdout", "QUJDR")]))).receive()  # type: ignore[arg-type]
    with pytest.raises(binascii.Error):
        WinRS(FakeWSMan(_reply([("stdout", "QUJDR")]))).receive()  # type: ignore[arg-type]


def test_decoder_agrees_with_the_standard_library():
    """Every byte value, every length modulo 3, with characters outside the alphabet discarded."""
    for n in range(0, 40):
        data = bytes((i * 37) % 256 for i in range(n))
        text = b64(data)
        assert b64decode(text) == base64.b64decode(text.encode()) == data
        assert b64decode(text[:3] + "\r\n*" + text[3:]) == data


# -- stream text lifted out of the reply before the XML parser sees it ------------------------------------
class LiftingWSMan(FakeWSMan):
    """Does what scanner.winrm.session does for a Receive LiftedReceiveWinRS asks it to lift: the parser gets the reply
    without its stream text, the text is left in `lifted`."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.lift_next = False
        self.lifted: LiftedReply | None = None
        self.parsed: bytes = b""

    def receive(self, resource_uri: str, resource: ET.Element, option_set: Any = None, selector_set: Any = None,
                timeout: Any = None) -> ET.Element:
        raw = self.reply.encode()
        if self.lift_next:
            self.lifted = lift_streams(raw)
            raw = self.lifted.stripped if self.lifted is not None else raw
        self.parsed = raw
        return ET.fromstring(raw).find("s:Body", namespaces=NAMESPACES)  # type: ignore[return-value]


@lifts_receive
@pypsrp_parity
@pytest.mark.parametrize("streams,state,exit_code", [
    ([("stdout", b64(b"one ")), ("stdout", b64(b"two")), ("stderr", b64(b"err"))], "Done", 0),
    ([("stdout", b64(bytes(range(256)) * 700))], "Running", None),
    ([("stdout", None), ("stderr", b64(b"x"))], "Done", 5),
    ([("stdout", b64(b"a log line\r\n" * 10)[:20] + "\r\n  " + b64(b"a log line\r\n" * 10)[20:])], "Done", 0),
])
def test_lifted_reply_answers_as_pypsrp(streams: list[tuple[str, str | None]], state: str, exit_code: int | None):
    """With the stream text lifted out, the answer is pypsrp's answer, and the parser never saw the base64."""
    reply = _reply(streams, state, exit_code)
    wsman = LiftingWSMan(reply)
    ours = LiftedReceiveWinRS(wsman).receive(command_id="C")  # type: ignore[arg-type]
    theirs = WinRS(FakeWSMan(reply)).receive(command_id="C")  # type: ignore[arg-type]
    assert ours == theirs
    assert wsman.lifted is not None and not wsman.lift_next
    assert all(text.encode()[:8] not in wsman.parsed for _, text in streams if text)


@pypsrp_parity
@pytest.mark.parametrize("reply", [
    _reply([("stdout", b64(b"abc"))]).replace("<s:Body>", "<s:Body><!-- a comment -->"),
    _reply([("stdout", b64(b"abc"))]).replace("<s:Body>", "<s:Body><![CDATA[<rsp:Stream>]]>"),
    '<?xml version="1.0"?>' + _reply([("stdout", b64(b"abc"))]).replace("<s:Body>", "<s:Body><?pi x?>"),
    _reply([("stdout", b64(b"abc")[:2] + "&#65;" + b64(b"abc")[2:])]),
    _reply([("stdout", b64(b"abc"))]).replace('Name="stdout"', 'Name="stdout" Note="a>b"'),
    _reply([("stdout", b64(b"abc") + "\u00e9")]),
    _reply([]),
])
def test_nothing_is_lifted_where_the_parser_could_read_it_differently(reply: str):
    """Comments, CDATA, a second processing instruction, entities, a ">" inside an attribute, non-ASCII text,
    or no stream at all: the reply is parsed as it came, and the answer is still pypsrp's."""
    assert lift_streams(reply.encode()) is None
    wsman = LiftingWSMan(reply)
    try:
        theirs = WinRS(FakeWSMan(reply)).receive(command_id="C")  # type: ignore[arg-type]
    except (binascii.Error, ValueError) as exc:
        with pytest.raises(type(exc)):
            LiftedReceiveWinRS(wsman).receive(command_id="C")  # type: ignore[arg-type]
        return
    assert LiftedReceiveWinRS(wsman).receive(command_id="C") == theirs  # type: ignore[arg-type]


def test_lifting_keeps_the_markup_and_empty_streams():
    """Only the text between a Stream start tag and the next tag goes; an empty `<rsp:Stream/>` keeps its place
    in the order, so each element gets its own text."""
    reply = _reply([("stdout", b64(b"first")), ("stderr", None), ("stdout", b64(b"second"))]).encode()
    lifted = lift_streams(reply)
    assert lifted is not None
    assert lifted.payloads == (b64(b"first").encode(), b"", b64(b"second").encode())
    assert lifted.stripped == reply.replace(b64(b"first").encode(), b"").replace(b64(b"second").encode(), b"")
    state, code, out = LiftedReceiveWinRS(LiftingWSMan(reply.decode())).receive(command_id="C")  # type: ignore[arg-type]
    assert out == {"stdout": b"firstsecond", "stderr": b""} and code == 0


@lifts_receive
@pypsrp_parity
def test_a_stream_element_outside_the_body_falls_back_to_the_whole_reply():
    """A Stream-named element elsewhere (say in the header) would shift the order: the reply is read whole."""
    reply = _reply([("stdout", b64(b"data"))]).replace(
        "<s:Body>", f'<s:Header><rsp:Stream Name="x">{b64(b"header")}</rsp:Stream></s:Header><s:Body>')
    wsman = LiftingWSMan(reply)
    ours = LiftedReceiveWinRS(wsman).receive(command_id="C")  # type: ignore[arg-type]
    assert wsman.lifted is not None  # lifted, then found not to line up with the body's streams
    assert ours == WinRS(FakeWSMan(reply)).receive(command_id="C")  # type: ignore[arg-type]
    assert ours[2]["stdout"] == b"data"


@pypsrp_parity
def test_a_stream_in_the_header_never_lends_its_text_to_a_body_stream():
    """A Stream-named element outside the body, with another whose prefix is not ASCII in the body, keeps the
    counts equal: the header's text must still not become stdout (pypsrp reads stdout as empty)."""
    envelope = _reply([("stdout", "")]).replace(
        "<s:Body>", f'<s:Header><a:Stream xmlns:a="urn:x">{b64(b"from the header")}</a:Stream></s:Header><s:Body>'
    ).replace("<rsp:CommandState", '<\u00e9:Stream xmlns:\u00e9="urn:y"/><rsp:CommandState')
    theirs = WinRS(FakeWSMan(envelope)).receive(command_id="C")  # type: ignore[arg-type]
    assert theirs[2]["stdout"] == b""
    assert LiftedReceiveWinRS(LiftingWSMan(envelope)).receive(command_id="C") == theirs  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["QQ==QkI=", "QQQ=Q", "QUJD\r\nREVG", "QU JD", "QUJD\u00e9REVG", "=QUJD", "QUJDRA"])
def test_odd_base64_is_read_the_standard_library_way(text: str):
    """Padding inside the text, white space, non-ASCII or a cut-short text: the same bytes as pypsrp's
    `base64.b64decode(text.encode("utf-8"))`, or the same error."""
    try:
        expected = base64.b64decode(text.encode("utf-8"))
    except binascii.Error:
        with pytest.raises(binascii.Error):
            b64decode(text)
        return
    assert b64decode(text) == expected


@given(st.text(alphabet="ABCDQRSTabcz0189+/= \r\n\u00e9", max_size=40))
def test_decoder_reads_any_text_as_the_standard_library(text: str):
    """Whatever a stream's text holds, the decoder answers what the standard library answers (or fails alike)."""
    try:
        expected: bytes | type[Exception] = base64.b64decode(text.encode("utf-8"))
    except binascii.Error:
        expected = binascii.Error
    if expected is binascii.Error:
        with pytest.raises(binascii.Error):
            b64decode(text)
    else:
        assert b64decode(text) == expected


@pypsrp_parity
@pytest.mark.parametrize("bad", ["QUJD\x01REVG", "QUJD]]>", "QUJD\x0bREVG"])
def test_stream_text_the_parser_refuses_is_refused_after_lifting_too(bad: str):
    """Stream text an XML parser refuses (a control character, "]]>") fails the read exactly as in pypsrp,
    although lifting took it out of the markup: it is not plain base64, so the whole reply is parsed."""
    reply = _reply([("stdout", bad)])
    assert lift_streams(reply.encode()) is not None
    with pytest.raises(ET.ParseError):
        WinRS(FakeWSMan(reply)).receive(command_id="C")  # type: ignore[arg-type]
    with pytest.raises(ET.ParseError):
        LiftedReceiveWinRS(LiftingWSMan(reply)).receive(command_id="C")  # type: ignore[arg-type]


@lifts_receive
@pytest.mark.parametrize("code", ["9" * 5000, "12x", "0x1"])
def test_an_exit_code_that_is_no_32_bit_number_is_refused_clearly(code: str) -> None:
    """rsp:ExitCode with thousands of digits (or not a number) is refused with a short reason, never Python's
    "Exceeds the limit (4300 digits)"."""
    with pytest.raises(ValueError, match="not a 32-bit number") as refused:
        LiftedReceiveWinRS(FakeWSMan(_reply([("stdout", b64(b"x"))], exit_code=code))).receive()  # type: ignore[arg-type]
    assert "4300" not in str(refused.value)


def test_exit_codes_are_read_signed_or_not() -> None:
    """Windows writes exit codes as unsigned or signed 32-bit numbers: both are read as written."""
    assert exit_code("-1073741510") == -1073741510 and exit_code("3221225786") == 3221225786 and exit_code("") == 0
