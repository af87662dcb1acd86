"""The simulator's replies have the element structure of replies recorded from real Windows hosts.

The recordings (tests/data/pypsrp_responses, from pypsrp's test data) are replayed request by request
against a simulated host; each reply must have the recorded reply's element paths and attribute names,
and relate to the replayed request's MessageID.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import yaml
from pypsrp.exceptions import WinRMTransportError
from pypsrp.wsman import WSMan

from simulator import Fleet
from simulator.machine import CommandResult
from tests.paths import DATA as TEST_DATA
from tests.support.simfakes import USER, new_password

pytestmark = pytest.mark.network
DATA = TEST_DATA / "pypsrp_responses"
NS_A = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
OPTIONAL = {"{http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd}ActivityId"}  # newer Windows only
GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


class RecordedMachine:
    """Answers the command lines of the recordings the way the recorded hosts did."""

    hostname = "RECORDED"
    ANSWERS = {
        "cmd.exe /c echo hi": CommandResult(b"hi\r\n", b"", 0),
        "cmd.exe /c echo out && echo err>&2 && exit 1": CommandResult(b"out \r\n", b"err \r\n", 1),
        "powershell.exe Write-Host hi; Start-Sleep 30; Write-Host hi again": CommandResult(b"hi\n", b"", 0),
    }

    def run(self, command_line: str, codepage: int = 437) -> CommandResult:
        return self.ANSWERS[command_line]


def shape(xml_text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Element paths in document order with their attribute names: the structure, not the values."""
    found: list[tuple[str, tuple[str, ...]]] = []

    def walk(element: ET.Element, path: str) -> None:
        if element.tag in OPTIONAL:
            return
        here = f"{path}/{element.tag}"
        found.append((here, tuple(sorted(element.attrib))))
        for child in element:
            walk(child, here)

    walk(ET.fromstring(xml_text), "")
    return found


def send(conn: WSMan, request: str) -> str:
    try:
        return conn.transport.send(request.encode()).decode()
    except WinRMTransportError as error:  # faults come back as HTTP 500
        assert error.code == 500
        return error.response_text


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def fleet(password):
    with Fleet(profiles=["recorded", "recorded"], password=password, faults="1=cmddelay:30",
               machine_factory=lambda profile, name: RecordedMachine()) as fleet:
        yield fleet


@pytest.mark.parametrize(("recording", "replay", "host"), [
    pytest.param("test_winrs_standard.yml", None, 0, id="create-command-receive-signal-delete"),
    pytest.param("test_winrs_stderr_rc.yml", None, 0, id="stderr-and-exit-code"),
    pytest.param("test_winrs_bad_cmd_id.yml", None, 0, id="invalid-selectors-fault"),
    # Messages 2 and 5 need a command that prints, sleeps and prints again; replay the Receives that
    # timed out against a host whose output is not ready yet, then Signal and Delete.
    pytest.param("test_winrs_operation_timeout.yml", [0, 1, 3, 4, 6, 7], 1, id="timed-out-fault"),
])
def test_replayed_requests_get_replies_shaped_like_windows(fleet, password, recording, replay, host):
    """Each replayed request gets a reply with the recorded reply's element paths and attributes."""
    messages = yaml.safe_load((DATA / recording).read_text(encoding="utf-8"))["messages"]
    ids: dict[str, str] = {}  # recorded ShellId/CommandId -> the simulator's
    with WSMan("127.0.0.1", port=fleet.hosts[host].port, username=USER, password=password, ssl=False,
               auth="ntlm") as conn:
        for index in replay if replay is not None else range(len(messages)):
            request, recorded = messages[index]["request"], messages[index]["response"]
            for theirs, ours in ids.items():
                request = request.replace(theirs, ours)
            request = re.sub(r"<wsman:OperationTimeout>PT\d+S<", "<wsman:OperationTimeout>PT0.2S<", request)
            reply = send(conn, request)
            assert shape(reply) == shape(recorded), f"message {index}"
            message_id = ET.fromstring(request).find(f".//{NS_A}MessageID").text
            assert ET.fromstring(reply).find(f".//{NS_A}RelatesTo").text == message_id
            ids.update(zip(GUID.findall(recorded.split("<s:Body>", 1)[-1]),
                           GUID.findall(reply.split("<s:Body>", 1)[-1]), strict=False))
