"""The WS-Management requests cmaudit writes are the bytes pypsrp 0.9 sent, whatever pypsrp is installed."""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ET

import pytest
from pypsrp.wsman import NAMESPACES, WSMan

from scanner.winrm import wsman
from scanner.winrm.pypsrp_compat import WSMAN_CONSTRUCTION
from tests.paths import DATA

RSP, WSMAN_NS, S = NAMESPACES["rsp"], NAMESPACES["wsman"], NAMESPACES["s"]
RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
GOLDEN = DATA / "wsman_requests"  # written by pypsrp 0.9.1's WSMan.invoke with the same ids


class Packed:
    """An option or selector set as pypsrp's OptionSet/SelectorSet packs it (built here, so the golden bytes
    depend on cmaudit's writing alone)."""

    def __init__(self, tag: str, child: str, entries: list[tuple[str, str, dict[str, str]]],
                 attrib: dict[str, str] | None = None) -> None:
        self.tag, self.child, self.entries, self.attrib = tag, child, entries, attrib or {}

    def pack(self) -> ET.Element:
        element = ET.Element(f"{{{WSMAN_NS}}}{self.tag}", self.attrib)
        for name, value, extra in self.entries:
            ET.SubElement(element, f"{{{WSMAN_NS}}}{self.child}", {**extra, "Name": name}).text = value
        return element


def _kinds() -> dict[str, tuple[str, ET.Element | None, dict[str, object]]]:
    options = Packed("OptionSet", "Option", [("WINRS_CODEPAGE", "65001", {}),
                                             ("WINRS_NOPROFILE", "TRUE", {"MustComply": "true"})],
                     {f"{{{S}}}mustUnderstand": "true"})
    selectors = Packed("SelectorSet", "Selector", [("ShellId", "2D6534D0-6B12-40E3-B773-CBA26459CFA8", {})])
    shell = ET.Element(f"{{{RSP}}}Shell")
    ET.SubElement(shell, f"{{{RSP}}}InputStreams").text = "stdin"
    command = ET.Element(f"{{{RSP}}}CommandLine")
    ET.SubElement(command, f"{{{RSP}}}Command").text = 'type "C:\\a&b\\<wsyncmgr>.log" é'
    receive = ET.Element(f"{{{RSP}}}Receive")
    ET.SubElement(receive, f"{{{RSP}}}DesiredStream", CommandId="C").text = "stdout stderr"
    signal = ET.Element(f"{{{RSP}}}Signal", CommandId="C")
    ET.SubElement(signal, f"{{{RSP}}}Code").text = f"{RSP}/signal/terminate"
    return {
        "create": ("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", shell, {"option_set": options}),
        "command": (ACTION + "Command", command, {"selector_set": selectors}),
        "receive": (ACTION + "Receive", receive, {"option_set": options, "selector_set": selectors, "timeout": 20}),
        "signal": (ACTION + "Signal", signal, {"selector_set": selectors}),
        "delete": ("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", None,
                   {"selector_set": selectors, "timeout": 5}),
    }


@pytest.mark.parametrize("kind", ["create", "command", "receive", "signal", "delete"])
def test_request_bytes_are_what_pypsrp_sent(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each kind of request (header order, attributes, operation timeout, option and selector sets, escaping)
    is byte for byte what pypsrp 0.9.1 put on the wire, so servers see the requests they always saw."""
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID("00000000-0000-4000-8000-000000000001"))
    action, resource, kwargs = _kinds()[kind]
    addressing = wsman.Addressing("https://site01.lab.example:5986/wsman", 153600, 20,
                                  session_id="6B0AC2A2-49BB-4B5C-9C72-9A4ED3E2C2A5")
    message_id, written = wsman.request(addressing, action, RESOURCE, resource, **kwargs)  # type: ignore[arg-type]
    assert message_id == "uuid:00000000-0000-4000-8000-000000000001"
    assert written == (GOLDEN / f"{kind}.xml").read_bytes()


def test_relates_to_is_read_from_the_reply_header() -> None:
    """The check that a reply answers its request reads wsa:RelatesTo, and finds nothing in a reply without it."""
    reply = ET.fromstring(f'<s:Envelope xmlns:s="{S}" xmlns:wsa="{NAMESPACES["wsa"]}"><s:Header><wsa:RelatesTo>'
                          "uuid:ABC</wsa:RelatesTo></s:Header><s:Body/></s:Envelope>")
    assert wsman.relates_to(reply) == "uuid:ABC"
    assert wsman.relates_to(ET.fromstring(f'<s:Envelope xmlns:s="{S}"><s:Body/></s:Envelope>')) == ""


def test_envelopes_are_never_written_while_a_wsman_registers_its_prefixes() -> None:
    """Hosts' threads writing requests while other hosts' WSMan objects are built always send the same bytes.

    (pypsrp re-registers its prefixes in every WSMan; ElementTree invents ns0... in between, xml: included.)"""
    addressing = wsman.Addressing("https://site01.lab.example:5986/wsman", 153600, 20, session_id="S")
    receive = ET.Element(f"{{{RSP}}}Receive")
    expected = wsman.request(addressing, ACTION + "Receive", RESOURCE, receive)[1].split(b"MessageID>")[0]
    wrong: list[bytes] = []
    stop = threading.Event()

    def build() -> None:
        while not stop.is_set():
            with WSMAN_CONSTRUCTION:  # as scanner.winrm.session builds every WSMan
                WSMan("site01.lab.example", auth="basic", username="auditor", password="unused", ssl=True)

    def write() -> None:
        for _ in range(2000):
            written = wsman.request(addressing, ACTION + "Receive", RESOURCE, receive)[1]
            if written.split(b"MessageID>")[0] != expected:
                wrong.append(written)

    builder = threading.Thread(target=build)
    writers = [threading.Thread(target=write) for _ in range(2)]
    builder.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    builder.join()
    assert wrong == []
