"""The WS-Man/WinRS layer on its own (no sockets): request parsing, limits and shell bookkeeping."""

from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET

import pytest

from simulator import wsman
from simulator.machine import CommandResult

CTX = wsman.CallContext(owner="auditor", client_ip="127.0.0.1")
NS = {"rsp": wsman.NS_RSP, "w": wsman.NS_W, "f": wsman.NS_F}


def request(action: str, body: str = "", shell_id: str | None = None, extra_header: str = "") -> bytes:
    selector = (f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{shell_id}</wsman:Selector>'
                "</wsman:SelectorSet>") if shell_id else ""
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        f'xmlns:rsp="{wsman.NS_RSP}"><s:Header><wsa:Action>{action}</wsa:Action>'
        "<wsa:MessageID>uuid:0</wsa:MessageID>"
        f"<wsman:ResourceURI>{wsman.RESOURCE_CMD}</wsman:ResourceURI>{extra_header}{selector}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def call(service: wsman.WinRS, data: bytes) -> tuple[int, ET.Element]:
    status, text = asyncio.run(service.handle(data, CTX))
    return status, ET.fromstring(text)


def new_service(stdout: bytes = b"out\r\n") -> wsman.WinRS:
    return wsman.WinRS(lambda: "HOST", lambda line, cp: CommandResult(stdout, b"", 0))


def create(service: wsman.WinRS) -> str:
    status, reply = call(service, request(wsman.ACTION_CREATE))
    assert status == 200
    shell_id = reply.find(".//rsp:ShellId", NS).text
    assert shell_id
    return shell_id


@pytest.mark.parametrize(("text", "seconds"), [
    pytest.param("PT20S", 20.0, id="seconds"),
    pytest.param("PT20.500S", 20.5, id="fraction"),
    pytest.param("PT1M5S", 65.0, id="minutes"),
    pytest.param("P0DT0H0M3S", 3.0, id="full-form"),
    pytest.param("20", None, id="not-a-duration"),
    pytest.param("P", None, id="empty-duration"),
])
def test_operation_timeout_durations(text, seconds):
    """OperationTimeout is read as an xs:duration; anything else falls back to the server default."""
    assert wsman._duration(text) == seconds


def test_operation_timeout_is_capped_at_max_timeout():
    """A client asking for more than MaxTimeoutms (60 s) gets 60 s, as winrm/config says."""
    parsed = wsman.parse_request(request(wsman.ACTION_CREATE,
                                         extra_header="<wsman:OperationTimeout>PT3600S</wsman:OperationTimeout>"))
    assert parsed.timeout_s == wsman.MAX_TIMEOUT_S


def test_max_envelope_below_the_minimum_is_a_fault():
    """MaxEnvelopeSize under 8192 octets gets the EncodingLimit fault, as MS-WSMAN requires."""
    status, reply = call(new_service(), request(
        wsman.ACTION_CREATE, extra_header="<wsman:MaxEnvelopeSize>1000</wsman:MaxEnvelopeSize>"))
    assert status == 500
    assert reply.find(".//f:WSManFault", NS).get("Code") == str(wsman.CODE_MAX_ENVELOPE)


def test_receive_replies_fit_a_small_envelope():
    """With MaxEnvelopeSize 8192, a 100 kB output comes in several replies, each within 8192 bytes."""
    service = new_service(b"x" * 100_000)
    shell = create(service)
    _, reply = call(service, request(wsman.ACTION_COMMAND, "<rsp:CommandLine><rsp:Command>big</rsp:Command>"
                                     "</rsp:CommandLine>", shell))
    command = reply.find(".//rsp:CommandId", NS).text
    receive = request(wsman.ACTION_RECEIVE, f'<rsp:Receive><rsp:DesiredStream CommandId="{command}">stdout stderr'
                      "</rsp:DesiredStream></rsp:Receive>", shell,
                      "<wsman:MaxEnvelopeSize>8192</wsman:MaxEnvelopeSize>")
    received, replies = b"", 0
    while True:
        status, text = asyncio.run(service.handle(receive, CTX))
        assert status == 200 and len(text.encode()) <= 8192
        replies += 1
        root = ET.fromstring(text)
        received += b"".join(base64.b64decode(s.text or "") for s in root.iterfind(".//rsp:Stream", NS))
        if root.find(".//rsp:CommandState", NS).get("State") == wsman.STATE_DONE:
            break
    assert received == b"x" * 100_000 and replies > 10


def test_send_to_a_command_is_accepted():
    """stdin sent to a running command is accepted (and ignored: the auditor's commands read none)."""
    service = new_service()
    shell = create(service)
    _, reply = call(service, request(wsman.ACTION_COMMAND, "<rsp:CommandLine><rsp:Command>x</rsp:Command>"
                                     "</rsp:CommandLine>", shell))
    command = reply.find(".//rsp:CommandId", NS).text
    status, reply = call(service, request(wsman.ACTION_SEND, f'<rsp:Send><rsp:Stream Name="stdin" '
                                          f'CommandId="{command}">aGk=</rsp:Stream></rsp:Send>', shell))
    assert status == 200 and reply.find(".//rsp:SendResponse", NS) is not None


def test_abandoned_shells_are_bounded():
    """Clients that never delete their shells cannot grow a host's memory without bound."""
    service = new_service()
    first = create(service)

    async def create_many() -> None:
        for _ in range(wsman.MAX_SHELLS):
            await service.handle(request(wsman.ACTION_CREATE), CTX)

    asyncio.run(create_many())
    assert service.open_shells == wsman.MAX_SHELLS
    status, reply = call(service, request(wsman.ACTION_DELETE, shell_id=first))
    assert status == 500
    assert reply.find(".//f:WSManFault", NS).get("Code") == str(wsman.CODE_INVALID_SELECTORS)


def test_wrong_resource_uri_is_a_fault():
    """Only the cmd shell resource exists (no PowerShell remoting on these servers)."""
    data = request(wsman.ACTION_CREATE).replace(wsman.RESOURCE_CMD.encode(),
                                                b"http://schemas.microsoft.com/powershell/Microsoft.PowerShell")
    status, reply = call(new_service(), data)
    assert status == 500 and reply.find(".//f:WSManFault", NS).get("Code") == str(wsman.CODE_RESOURCE)
