"""Real Windows replies, replayed through cmaudit's own client: the session's transport guards, its fault parser,
its translation into errors with hints, and the command runner that reassembles output.

The responses are pypsrp's and pywinrm's recordings (MIT; tests/data/pypsrp_responses, pywinrm_responses).
requests' HTTPAdapter.send (its public transport seam) answers each request with the next recorded response of
the same WS-Management action, its RelatesTo set to the request's MessageID, so nothing above requests' adapter is
faked: pypsrp's parsing and every hook of scanner.winrm.session run as against a live host, whichever way the
requests session was built (by cmaudit early, or by pypsrp itself when its internals changed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from requests.adapters import HTTPAdapter

from scanner.model.errors import HostProtocolError, HostTimeout, HostUnreachable
from scanner.model.host import Host
from scanner.winrm import pypsrp_compat
from scanner.winrm.collect import CODECS, CommandRunner
from scanner.winrm.faults import FAULT_MAX_OPERATIONS, WSManFault, parse_fault, translate
from scanner.winrm.session import HostSession, SessionOptions
from scanner.winrm.transport import NetworkError
from scanner.winrm.winrs import LiftedReceiveWinRS
from tests.paths import DATA
from tests.support import pypsrp_changes

PYPSRP = DATA / "pypsrp_responses"
PYWINRM = DATA / "pywinrm_responses"
_ACTION = re.compile(r"<(?:\w+:)?Action[^>]*>([^<]+)</")
_MESSAGE_ID = re.compile(r"<(?:\w+:)?MessageID>([^<]+)</")


class Replay:
    """Answers from a recording, by WS-Management action, in the recorded order."""

    def __init__(self, recording: Path) -> None:
        self.messages = yaml.safe_load(recording.read_text(encoding="utf-8"))["messages"]
        self.sent: list[str] = []

    def _next(self, action: str) -> dict[str, Any]:
        for index, message in enumerate(self.messages):
            recorded = _ACTION.search(message["request"])
            if recorded is not None and recorded.group(1) == action:
                return self.messages.pop(index)  # type: ignore[no-any-return]
        raise AssertionError(f"the recording has no (more) {action} reply")

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        action = _ACTION.search(body)
        assert action is not None, body[:200]
        self.sent.append(action.group(1).rsplit("/", 1)[-1])
        message = self._next(action.group(1))
        if message.get("http_error"):
            raise requests.ConnectionError("connection reset by peer (recorded http_error)")
        message_id = _MESSAGE_ID.search(body)
        text = message.get("response") or ""
        if message_id is not None:
            text = re.sub(r"(<(?:\w+:)?RelatesTo>)[^<]+(</)", rf"\g<1>{message_id.group(1)}\g<2>", text)
        response = requests.Response()
        response.status_code = (message.get("transport_error") or {}).get("code", 200)
        response.headers["Content-Type"] = "application/soap+xml;charset=UTF-8"
        response.headers["Content-Length"] = str(len(text.encode()))
        response._content = text.encode()
        response.request = request
        response.url = request.url
        response.encoding = "utf-8"
        return response


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A cmaudit HostSession on pypsrp's requests transport whose every HTTP request the recording the test picks
    answers (cmaudit's own transport has no adapter to replace)."""
    opened: list[HostSession] = []
    replays: list[Replay] = []
    monkeypatch.setattr(HTTPAdapter, "send", lambda adapter, request, *args, **kwargs: replays[-1].send(request))

    def make(recording: Path) -> tuple[HostSession, Replay]:
        host = Host(name="recorded", address="127.0.0.1", port=5986, scheme="https", auth="basic")
        live = HostSession(host, SessionOptions(username="vagrant", password="vagrant", operation_timeout=20,
                                                transport="requests"))
        replays.append(Replay(recording))
        opened.append(live)
        return live, replays[-1]

    yield make
    for live in opened:
        live.close()


def _run(live: HostSession, codepage: int | None = None) -> tuple[bytes, bytes, int | None]:
    shell = LiftedReceiveWinRS(live.wsman, codepage=codepage)  # the shell the scan uses
    shell.open()
    out = bytearray()

    def sink(chunk: bytes) -> bool:
        out.extend(chunk)
        return True

    rc, stderr, _ = CommandRunner(shell, "recorded").run("recorded command", sink)
    shell.close()
    return bytes(out), stderr, rc


def test_unicode_reply_in_several_streams_is_reassembled_as_utf8(session) -> None:
    """test_winrs_unicode.yml: a 65001 shell's reply in three Streams decodes to the Japanese text, whole."""
    live, replay = session(PYPSRP / "test_winrs_unicode.yml")
    out, stderr, rc = _run(live, 65001)
    assert out.decode(CODECS[65001]) == "こんにちは\n" and (stderr, rc) == (b"", 0)
    assert replay.sent == ["Create", "Command", "Receive", "Delete"]


def test_extra_options_reply_gives_the_crlf_output(session) -> None:
    """test_winrs_extra_opts.yml: the shell created with extra options answers `C:\\Windows` with CRLF."""
    live, _ = session(PYPSRP / "test_winrs_extra_opts.yml")
    assert _run(live)[0] == b"C:\\Windows\r\n"


def test_partial_output_then_timed_out_receives_then_done(session) -> None:
    """test_winrs_operation_timeout.yml: Running with partial output, two w:TimedOut faults (polled again, not
    errors), then the rest and Done: the output arrives whole."""
    live, replay = session(PYPSRP / "test_winrs_operation_timeout.yml")
    out, _, rc = _run(live)
    assert out == b"hi\nhi again\n" and rc == 0
    assert replay.sent.count("Receive") == 4


def test_stderr_and_exit_code(session) -> None:
    """test_winrs_stderr_rc.yml: interleaved stdout/stderr Streams and ExitCode 1 come back apart."""
    live, _ = session(PYPSRP / "test_winrs_stderr_rc.yml")
    assert _run(live) == (b"out \r\n", b"err \r\n", 1)


def test_output_split_over_streams(session) -> None:
    """test_client_execute_cmd.yml: `dir` output split over several Streams far below the envelope is joined."""
    live, _ = session(PYPSRP / "test_client_execute_cmd.yml")
    out = _run(live)[0]
    assert out.startswith(b" Volume in drive C is Windows 2016\r\n") and b"Directory of C:\\Users" in out


@pytest.mark.parametrize(("recording", "action", "text"), [
    pytest.param("test_winrs_bad_cmd_id.yml", "Receive", "command identifier that does not exist",
                 id="invalid-selectors"),
    pytest.param("test_psrp_is_alive_invalid_selectors.yml", "Create", "invalid selectors for the resource",
                 id="nested-provider-fault"),
    pytest.param("test_psrp_is_alive_other_wsman_error.yml", "Create", "invalid timeout field in the SOAP header",
                 id="invalid-header"),
    pytest.param("test_winrs_no_cmd_shell.yml", "Command", "The system cannot find the file specified",
                 id="provider-fault-0x80070002"),
    pytest.param("test_winrs_fail_poll_process.yml", "Receive", "The parameter is incorrect", id="provider-fault-87"),
])
def test_recorded_faults_become_errors_with_their_reason(session, recording: str, action: str, text: str) -> None:
    """Each recorded fault, answering the step of a scan it was recorded for, reaches the report as a protocol
    error with Windows' own reason (nested provider faults included), never "no reason given", not retried."""
    from pypsrp.shell import WinRS

    live, replay = session(PYPSRP / recording)
    fault = next(m for m in replay.messages if (m.get("transport_error") or {}).get("code") == 500)
    standard = yaml.safe_load((PYPSRP / "test_winrs_standard.yml").read_text(encoding="utf-8"))["messages"]
    steps = ["Create", "Command", "Receive"]
    replay.messages = [m for m in standard if _action_of(m) in steps[: steps.index(action)]]
    replay.messages.append(dict(fault, request=f"<a:Action>{ACTIONS[action]}</a:Action>"))
    with pytest.raises(WSManFault) as raised:  # cmaudit's parse, with the nested reason and the subcode
        shell = WinRS(live.wsman)
        shell.open()
        CommandRunner(shell, "recorded").run("recorded command", lambda chunk: True)
    error = translate(raised.value, "recorded", target=live.target)
    assert isinstance(error, HostProtocolError) and text in error.message, error.message
    assert "no reason given" not in error.message and not error.retryable


ACTIONS = {"Create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
           "Command": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
           "Receive": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"}


def _action_of(message: dict[str, Any]) -> str:
    found = _ACTION.search(message["request"])
    return found.group(1).rsplit("/", 1)[-1] if found else ""


def test_connection_lost_mid_exchange_is_unreachable_and_retried(session) -> None:
    """test_psrp_is_alive_http_error.yml: the transport fails mid-exchange; it is ERROR/unreachable, retried."""
    live, replay = session(PYPSRP / "test_psrp_is_alive_http_error.yml")
    replay.messages = [dict(m, request=f"<a:Action>{ACTIONS['Create']}</a:Action>")
                       for m in replay.messages if m.get("http_error")]
    from pypsrp.shell import WinRS

    with pytest.raises(NetworkError) as raised:
        WinRS(live.wsman).open()
    error = translate(raised.value, "recorded", target=live.target)
    assert isinstance(error, HostUnreachable) and error.retryable


@pytest.mark.parametrize(("recording", "kb"), [pytest.param("test_wsman_update_envelope_size_150.yml", 150, id="150"),
                                               pytest.param("test_wsman_update_envelope_size_500.yml", 500, id="500"),
                                               pytest.param("test_wsman_update_envelope_size_4096.yml", 4096,
                                                            id="4096")])
def test_winrm_config_reply_passes_the_session_guards(session, recording: str, kb: int) -> None:
    """The recorded winrm/config replies (MaxEnvelopeSizekb 150, 500, 4096) pass cmaudit's reply bound and DTD
    guard, and pypsrp reads the envelope size from them (update_max_payload_size)."""
    live, _ = session(PYPSRP / recording)
    live.wsman.update_max_payload_size()
    assert live.wsman.max_envelope_size == kb * 1024
    assert live.requests == 1


def test_server2008_schema_fault_is_a_protocol_error_with_its_detail() -> None:
    """pywinrm's fault from SERVER2008.domain.local (w:SchemaValidationError, 2150858817) parses to its detail
    message and becomes ERROR/protocol, not retried."""
    fault = parse_fault((PYWINRM / "schema_validation_server2008.xml").read_text(encoding="utf-8"))
    assert fault is not None and fault.code == 2150858817 and fault.subcode == "w:SchemaValidationError"
    assert fault.machine == "SERVER2008.domain.local" and fault.reason == "Detail message."
    error = translate(fault, "sms01")
    assert isinstance(error, HostProtocolError) and "0x80338041" in error.message and not error.retryable


def test_wmi_error_detail_form_is_read_for_its_code() -> None:
    """The WinRM 3.0+ p:MSFT_WmiError detail (no f:WSManFault) still yields its code, 0x803381A6
    (MaxConcurrentOperationsPerUser): a quota, retried, with the setting in the hint."""
    fault = parse_fault((PYWINRM / "wmi_error_detail.xml").read_text(encoding="utf-8"))
    assert fault is not None and fault.code == FAULT_MAX_OPERATIONS and fault.reason == "WMI Message."
    error = translate(fault, "sms01")
    assert isinstance(error, HostProtocolError) and error.retryable
    assert "MaxConcurrentOperationsPerUser" in error.hint


def test_operation_timeout_fault_alone_is_a_timeout() -> None:
    """The recorded w:TimedOut fault outside a Receive loop is a (retried) timeout."""
    messages = yaml.safe_load((PYPSRP / "test_winrs_operation_timeout.yml").read_text(encoding="utf-8"))["messages"]
    fault = parse_fault(next(m["response"] for m in messages if m.get("transport_error")))
    assert fault is not None
    error = translate(fault, "sms01")
    assert isinstance(error, HostTimeout) and error.retryable


@pytest.mark.parametrize("change", [pytest.param(None, id="as-installed"),
                                    pytest.param("selector_set", id="winrs-selectors-moved")])
def test_an_exit_code_of_thousands_of_digits_is_refused_on_every_path(session, monkeypatch: pytest.MonkeyPatch,
                                                                       change: str | None) -> None:
    """test_winrs_stderr_rc.yml with a 5,000-digit ExitCode: ERROR/protocol naming the bound, never Python's
    "Exceeds the limit (4300 digits)", also when a changed pypsrp makes cmaudit read Receive replies through
    pypsrp's own WinRS.receive."""
    if change is not None:
        pypsrp_changes.CHANGES[change](monkeypatch.setattr)
    monkeypatch.setattr(pypsrp_compat, "_checked", {})  # the internals checked afresh, and forgotten after
    live, replay = session(PYPSRP / "test_winrs_stderr_rc.yml")
    replay.messages = [dict(m, response=re.sub(r"<rsp:ExitCode>\d+</", f"<rsp:ExitCode>{'9' * 5000}</",
                                               m.get("response") or "")) for m in replay.messages]
    with pytest.raises(HostProtocolError) as refused:
        _run(live)
    assert "not a 32-bit number" in refused.value.message and "4300" not in refused.value.message
