"""A WSMan whose transport answers WinRS requests from memory, for tests of what is sent and how replies are read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any
from unittest import mock

import pytest
from pypsrp.wsman import NAMESPACES, WSMan

S, WSA, RSP = NAMESPACES["s"], NAMESPACES["wsa"], NAMESPACES["rsp"]
# cmaudit's own reading of Receive replies was checked against pypsrp's WinRS.receive of these releases; another
# pypsrp may read replies its own way, which changes nothing of cmaudit's (it never calls that code)
PARITY_CHECKED = ("0.9.0", "0.9.1")
pypsrp_parity = pytest.mark.skipif(version("pypsrp") not in PARITY_CHECKED,
                                   reason=f"compares with pypsrp {', '.join(PARITY_CHECKED)}; installed: "
                                          f"{version('pypsrp')}")
ENDPOINT = "https://site01.lab.example:5986/wsman"

_BODIES = {
    "Create": f'<rsp:Shell xmlns:rsp="{RSP}"><rsp:ShellId>2D6534D0-6B12-40E3-B773-CBA26459CFA8</rsp:ShellId>'
              "</rsp:Shell>",
    "Command": f'<rsp:CommandResponse xmlns:rsp="{RSP}"><rsp:CommandId>C0FFEE00-0000-4000-8000-000000000001'
               "</rsp:CommandId></rsp:CommandResponse>",
    "Receive": f'<rsp:ReceiveResponse xmlns:rsp="{RSP}"><rsp:Stream Name="stdout" CommandId="C">aGVsbG8=</rsp:Stream>'
               f'<rsp:CommandState CommandId="C" State="{RSP}/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode>'
               "</rsp:CommandState></rsp:ReceiveResponse>",
    "Signal": f'<rsp:SignalResponse xmlns:rsp="{RSP}"/>',
    "Delete": "",
}


def reply(request: bytes, body: str | None = None, relates_to: str | None = None) -> bytes:
    """The reply Windows would give to `request`: RelatesTo its MessageID, the canned body of its action."""
    header = ET.fromstring(request).find("s:Header", NAMESPACES)
    assert header is not None
    action = header.findtext("wsa:Action", "", NAMESPACES).rsplit("/", 1)[-1]
    message_id = header.findtext("wsa:MessageID", "", NAMESPACES) if relates_to is None else relates_to
    return (f'<s:Envelope xmlns:s="{S}" xmlns:wsa="{WSA}"><s:Header><wsa:RelatesTo>{message_id}</wsa:RelatesTo>'
            f"</s:Header><s:Body>{_BODIES[action] if body is None else body}</s:Body></s:Envelope>").encode()


class FakeTransport:
    """Records what each send() got; answers with `answer(request)` (default: `reply`) or raises what it returns."""

    def __init__(self, answer: Callable[[bytes], bytes | Exception] = reply) -> None:
        self.endpoint = ENDPOINT
        self.answer = answer
        self.sent: list[tuple[bytes, int, int | None]] = []

    def send(self, message: bytes, retries_on_read_timeout: int = 0, timeout: int | None = None) -> bytes:
        self.sent.append((message, retries_on_read_timeout, timeout))
        answer = self.answer(message)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


def fake_wsman(cls: type[WSMan] = WSMan, answer: Callable[[bytes], bytes | Exception] = reply) -> Any:
    """A `cls` (a WSMan) talking to a FakeTransport, with pypsrp's default settings otherwise."""
    wsman: Any = cls("site01.lab.example", auth="basic", username="auditor", password="unused", ssl=True)
    wsman.transport = FakeTransport(answer)
    return wsman


@contextmanager
def fixed_ids() -> Iterator[None]:
    """MessageIDs from a counter, so two runs of the same requests send the same bytes."""
    counter = iter(range(1, 1_000_000))
    with mock.patch("pypsrp.wsman.uuid.uuid4", lambda: f"00000000-0000-4000-8000-{next(counter):012d}"):
        yield
