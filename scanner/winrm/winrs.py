"""pypsrp's WinRS with a cheaper reading of Receive replies: the same request, the same answer.

A log read is a few Receives of ~150 KB of base64 each. pypsrp's `WinRS.receive` re-encodes each stream's
text to bytes, decodes it with the standard library's base64 (a byte-at-a-time loop, the largest single CPU
cost of a host after the network; figures in bench/RESULTS.md) and concatenates the streams one copy at a time.
Here the request is built exactly as pypsrp builds it (and sent through pypsrp's `WSMan.receive`); the reply's
streams are decoded with pybase64 (SIMD; the same alphabet, the same discarding of characters outside it, the
same `binascii.Error` on bad padding) where it is installed, and joined once.

The base64 never goes through the XML parser either: expat and ElementTree spend more CPU on the stream text of
a host (position tracking, tokenising, one str per stream, then bytes again) than on all the rest of the reply.
`lift_streams` takes each stream's text out of the reply bytes before the parser sees it,
but only where that cannot change what the parser reads: no comment, CDATA section, DTD or second processing
instruction anywhere (so every `<...:Stream` is a real start tag), markup in ASCII (so the tag pattern sees
every Stream tag), and a text without markup, entity or quote (a quote means the `>` that seemed to end the
tag was inside an attribute). The lifted texts are then decoded strictly (plain base64, as Windows sends it);
if one is not, or the Stream elements do not line up with the lifted texts, the whole reply is parsed as it
came and read exactly as pypsrp reads it. The session (scanner.winrm.session) lifts the reply of a Receive
this class asks it to. The shell's selectors are pypsrp's `WinRS._selector_set`: where a pypsrp release no
longer has it, `receive` is pypsrp's own (scanner.winrm.pypsrp_compat).
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from pypsrp.shell import CommandState, WinRS
from pypsrp.wsman import NAMESPACES, OptionSet

from scanner.winrm.pypsrp_compat import usable

try:
    import pybase64

    def strict_b64decode(data: bytes) -> bytes:
        """Plain base64 (the alphabet, padding only at the end, no white space) -> bytes; binascii.Error for
        anything else. What Windows sends; SIMD-fast."""
        return pybase64.b64decode(data, validate=True)
except ImportError:  # pragma: no cover - pybase64 is a dependency; a platform without its wheel falls back

    def strict_b64decode(data: bytes) -> bytes:
        return base64.b64decode(data, validate=True)


def b64decode(text: str | bytes) -> bytes:
    """A stream's text -> bytes, exactly as pypsrp reads it (`base64.b64decode(text.encode("utf-8"))`: characters
    outside the alphabet discarded, `=` inside the text read the standard library's way): plain base64 through
    the fast decoder, anything else through the standard library itself."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        return strict_b64decode(data)
    except (binascii.Error, ValueError):
        return base64.b64decode(data)


_RSP = NAMESPACES["rsp"]
_EXIT_CODE = re.compile(r"\s*-?[0-9]{1,10}\s*")  # a 32-bit exit code, signed or not


def exit_code(text: str | None) -> int:
    """rsp:ExitCode as a number, read with its own bound before Python's (ValueError for anything else)."""
    if not text:
        return 0
    if not _EXIT_CODE.fullmatch(text):
        raise ValueError(f"the exit code is not a 32-bit number ({len(text)} characters)")
    return int(text)
_STREAM_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Stream[\s/>]")  # the start tag of any element named Stream
_UNSAFE_IN_TEXT = (b"&", b'"', b"'")  # an entity, or a quote: the ">" that ended the "tag" was in an attribute


@dataclass(frozen=True, slots=True)
class LiftedReply:
    """A reply with the text of its Stream elements taken out: `payloads` in document order, one per Stream
    start tag (b"" for one that kept its text or had none)."""

    original: bytes
    stripped: bytes
    payloads: tuple[bytes, ...]


def lift_streams(reply: bytes) -> LiftedReply | None:
    """`reply` with each Stream element's base64 text lifted out (see the module docstring); None when that
    could change what an XML parser reads, or when there is nothing to lift.

    It visits each "<" of the reply with bytes.find (memchr speed), so the stream text itself is skipped over
    rather than scanned; a reply of Windows' shape has a few dozen tags."""
    parts: list[bytes] = []
    payloads: list[bytes] = []
    pos = 0
    declarations = 0
    at = reply.find(b"<")
    while at >= 0:
        kind = reply[at + 1:at + 2]
        if kind == b"!":  # comment, CDATA or DTD: a "<...:Stream" after it might not be a tag
            return None
        if kind == b"?":
            declarations += 1
            if declarations > 1:  # only the XML declaration: another processing instruction could hide tags
                return None
        elif _STREAM_TAG.match(reply, at):
            tag_end = reply.find(b">", at)
            if tag_end < 0:
                return None
            if reply[tag_end - 1] == 0x2F:  # "/>": no text (or a "/>" inside an attribute: its text stays put)
                payloads.append(b"")
            else:
                close = reply.find(b"<", tag_end)
                if close < 0:
                    return None
                payload = reply[tag_end + 1:close]
                if not payload.isascii() or any(unsafe in payload for unsafe in _UNSAFE_IN_TEXT):
                    return None
                parts.append(reply[pos:tag_end + 1])
                payloads.append(payload)
                pos = at = close
                continue
        at = reply.find(b"<", at + 1)
    if not parts:
        return None
    parts.append(reply[pos:])
    stripped = b"".join(parts)
    if not stripped.isascii():  # a tag name _STREAM_TAG cannot see (a non-ASCII prefix) could shift the order
        return None
    return LiftedReply(reply, stripped, tuple(payloads))


def _stream_data(body: ET.Element, lifted: LiftedReply | None) -> list[tuple[ET.Element, bytes]]:
    """Each rsp:Stream of a ReceiveResponse with its decoded data: from the lifted payload where there is one
    and it is plain base64, else from the element's own text as pypsrp reads it."""
    streams = body.findall("rsp:ReceiveResponse/rsp:Stream", namespaces=NAMESPACES)
    if lifted is None:
        return [(element, b64decode(element.text) if element.text else b"") for element in streams]
    named = [element for element in body.iter() if element.tag.rpartition("}")[2] == "Stream"]
    try:
        if len(named) != len(lifted.payloads) or any(element.text and payload for element, payload
                                                      in zip(named, lifted.payloads, strict=True)):
            raise ValueError("the lifted text does not line up with the Stream elements")
        data = {id(element): strict_b64decode(payload) for element, payload in zip(named, lifted.payloads,
                                                                                    strict=True) if payload}
    except (binascii.Error, ValueError):
        # a Stream element outside the body, text that is not plain base64 (white space, control characters,
        # "]]>"...), or any other surprise: read the reply as it came, so the parser has its say on all of it
        whole = ET.fromstring(lifted.original).find("s:Body", namespaces=NAMESPACES)
        return _stream_data(whole, None) if whole is not None else []
    return [(element, data[id(element)] if id(element) in data else
             b64decode(element.text) if element.text else b"") for element in streams]


class LiftedReceiveWinRS(WinRS):
    """WinRS whose `receive` reads the stream text the session lifted out of the reply (module docstring)."""

    def receive(self, stream: str = "stdout stderr", command_id: str | None = None,
                timeout: int | None = None) -> tuple[str, int | None, dict[str, bytes]]:
        if not usable("selector_set"):
            return super().receive(stream, command_id, timeout)  # type: ignore[no-any-return]
        receive = ET.Element(f"{{{_RSP}}}Receive")
        stream_xml = ET.SubElement(receive, f"{{{_RSP}}}DesiredStream")
        stream_xml.text = stream
        if command_id is not None:
            stream_xml.attrib["CommandId"] = command_id
        options = OptionSet()
        options.add_option("WSMAN_CMDSHELL_OPTION_KEEPALIVE", str(True))
        wsman: Any = self.wsman
        lifting = hasattr(wsman, "lift_next")  # scanner.winrm.session's WSMan lifts the reply's stream text
        if lifting:
            wsman.lift_next, wsman.lifted = True, None
        try:
            response = wsman.receive(self.resource_uri, receive, option_set=options,
                                     selector_set=self._selector_set, timeout=timeout)
        finally:
            if lifting:
                wsman.lift_next = False
        lifted: LiftedReply | None = wsman.lifted if lifting else None
        state_et = response.find("rsp:ReceiveResponse/rsp:CommandState", namespaces=NAMESPACES)
        state: str = CommandState.PENDING
        if state_et is not None:
            state = state_et.attrib["State"]
        rc_et = response.find("rsp:ReceiveResponse/rsp:CommandState/rsp:ExitCode", namespaces=NAMESPACES)
        rc = exit_code(rc_et.text) if rc_et is not None else None
        parts: dict[str, list[bytes]] = {name: [] for name in stream.split()}
        for element, data in _stream_data(response, lifted):
            if not data:
                continue
            name = element.attrib["Name"]
            if name not in parts:
                raise KeyError(name)  # what pypsrp's `buffer[name] += ...` raises for a stream not asked for
            parts[name].append(data)
        buffers = {name: chunks[0] if len(chunks) == 1 else b"".join(chunks) for name, chunks in parts.items()}
        return state, rc, buffers

