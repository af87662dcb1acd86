"""The simulator's WinRM front end driven by the real clients: pypsrp and pywinrm."""

from __future__ import annotations

import base64
import os
import socket
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import winrm
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan
from winrm.exceptions import InvalidCredentialsError

from simulator import Fleet
from tests.support.simfakes import USER, fake_factory, new_password

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def http_fleet(password):
    with Fleet(profiles=["fake", "fake"], password=password, machine_factory=fake_factory) as fleet:
        yield fleet


def wsman(fleet, password, index=0, auth="ntlm", **kwargs):
    host = fleet.hosts[index]
    return WSMan("127.0.0.1", port=host.port, username=USER, password=password, ssl=False, auth=auth,
                 **kwargs)


@pytest.mark.parametrize("auth", [pytest.param("ntlm", id="ntlm"), pytest.param("negotiate", id="negotiate")])
def test_pypsrp_execute_cmd_over_encrypted_http(http_fleet, password, auth):
    """pypsrp's Client.execute_cmd runs a command over HTTP with NTLM/Negotiate message encryption."""
    host = http_fleet.hosts[0]
    before = host.counters.auth_handshakes
    with Client("127.0.0.1", port=host.port, username=USER, password=password, ssl=False, auth=auth) as client:
        stdout, stderr, rc = client.execute_cmd("echo hello world")
    assert (stdout, stderr, rc) == ("hello world\r\n", "", 0)
    assert host.counters.auth_handshakes == before + 1
    assert host.commands[-1] == "echo hello world"


def test_pypsrp_winrs_process_streams_exit_code_and_codepage(http_fleet, password):
    """WinRS/Process see stdout, stderr and the exit code, and the shell's WINRS_CODEPAGE reaches the machine."""
    with wsman(http_fleet, password) as conn, WinRS(conn, codepage=65001) as shell:
        failing = Process(shell, "fail")
        failing.invoke()
        failing.signal(SignalCode.TERMINATE)
        codepage = Process(shell, "codepage")
        codepage.invoke()
        codepage.signal(SignalCode.TERMINATE)
    assert (failing.stdout, failing.stderr, failing.rc) == (b"partial\r\n", b"boom\r\n", 3)
    assert codepage.stdout == b"65001\r\n"


def test_pypsrp_arguments_arrive_as_one_command_line(http_fleet, password):
    """Command and Arguments elements reach the machine joined with spaces, exactly as sent."""
    with wsman(http_fleet, password, index=1) as conn, WinRS(conn) as shell:
        process = Process(shell, "echo", ["a", "b  c"])
        process.invoke()
        process.signal(SignalCode.TERMINATE)
    assert process.stdout == b"a b  c\r\n"
    assert http_fleet.hosts[1].commands[-1] == "echo a b  c"


def test_pywinrm_runs_a_command_over_encrypted_http(http_fleet, password):
    """pywinrm (requests_ntlm + its own encryption code) runs a command over HTTP."""
    host = http_fleet.hosts[1]
    session = winrm.Session(host.url, auth=(USER, password), transport="ntlm", ca_trust_path=None)
    result = session.run_cmd("echo", ["from", "pywinrm"])
    assert (result.std_out, result.status_code) == (b"from pywinrm\r\n", 0)
    unknown = session.run_cmd("frobnicate")
    assert unknown.status_code == 1 and b"is not recognized" in unknown.std_err


def test_wrong_password_is_an_auth_error_for_both_clients(http_fleet, password):
    """A wrong password gets 401 (pypsrp AuthenticationError, pywinrm InvalidCredentialsError), and the host
    keeps serving the right one."""
    host = http_fleet.hosts[0]
    failures = host.counters.auth_failures
    with pytest.raises(AuthenticationError), \
            Client("127.0.0.1", port=host.port, username=USER, password="wrong", ssl=False, auth="ntlm") as c:
        c.execute_cmd("echo x")
    session = winrm.Session(host.url, auth=(USER, "wrong"), transport="ntlm", ca_trust_path=None)
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("echo x")
    other_user = winrm.Session(host.url, auth=("LAB\\mallory", password), transport="ntlm", ca_trust_path=None)
    with pytest.raises(InvalidCredentialsError):
        other_user.run_cmd("echo x")
    assert host.counters.auth_failures >= failures + 3
    with Client("127.0.0.1", port=host.port, username=USER, password=password, ssl=False, auth="ntlm") as c:
        assert c.execute_cmd("echo ok")[0] == "ok\r\n"


def test_wrong_passwords_are_counted_as_a_domain_controller_would(http_fleet, password):
    """Each NTLM logon as the host's account with a wrong password counts once; the right password, another
    account and a logon never completed do not (what a lockout test reads on the servers' side)."""
    host = http_fleet.hosts[1]
    before = host.counters.wrong_passwords
    for _ in range(2):
        with pytest.raises(AuthenticationError), \
                Client("127.0.0.1", port=host.port, username=USER, password="wrong", ssl=False, auth="ntlm") as c:
            c.execute_cmd("echo x")
    assert host.counters.wrong_passwords == before + 2
    other_user = winrm.Session(host.url, auth=("LAB\\mallory", "wrong"), transport="ntlm", ca_trust_path=None)
    with pytest.raises(InvalidCredentialsError):
        other_user.run_cmd("echo x")
    with Client("127.0.0.1", port=host.port, username=USER, password=password, ssl=False, auth="negotiate") as c:
        assert c.execute_cmd("echo ok")[0] == "ok\r\n"
    assert host.counters.wrong_passwords == before + 2


def test_unencrypted_http_is_refused_like_allow_unencrypted_false(http_fleet, password):
    """An authenticated caller that sends plain SOAP over HTTP gets HTTP 500 with an empty body, as Windows with
    AllowUnencrypted=false answers; nothing runs and no logon failure is counted."""
    host = http_fleet.hosts[0]
    failures = host.counters.auth_failures
    session = winrm.Session(host.url, auth=(USER, password), transport="ntlm", message_encryption="never",
                            ca_trust_path=None)
    with pytest.raises(winrm.exceptions.WinRMTransportError) as refused:
        session.run_cmd("echo x")
    assert refused.value.code == 500 and refused.value.response_text == ""
    assert "echo x" not in host.commands
    assert host.counters.auth_failures == failures


def test_basic_auth_over_http_is_refused(http_fleet, password):
    """Basic authentication over HTTP is refused even with the right password."""
    with pytest.raises(ValueError, match="encryption"):
        WSMan("127.0.0.1", port=http_fleet.hosts[0].port, username=USER, password=password, ssl=False,
              auth="basic")
    with WSMan("127.0.0.1", port=http_fleet.hosts[0].port, username=USER, password=password, ssl=False,
               auth="basic", encryption="never") as conn, pytest.raises(AuthenticationError):
        WinRS(conn).open()


def test_credential_file_is_private_and_forgotten():
    """The NTLM account file is 0600 in a private directory, holds no password, is not announced to the
    process through NTLM_USER_FILE, and is gone once the fleet stops."""
    secret = new_password()
    with Fleet(profiles=["fake"], username="LAB\\shortlived", password=secret, machine_factory=fake_factory) as fleet:
        path = fleet.account_file
        assert path is not None and "NTLM_USER_FILE" not in os.environ
        if os.name != "nt":  # Windows has no modes: the temp folder is the user's own (its ACL)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        store = Path(path).read_text(encoding="utf-8")
        assert "LAB\\shortlived:" in store and secret not in store  # hashes only, never the password
    assert not os.path.exists(path)


def test_timed_out_receive_is_retried_by_pypsrp(password):
    """A Receive with nothing to say yet gets w:TimedOut after OperationTimeout; pypsrp keeps polling."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory,
               faults="0=cmddelay:1.6") as fleet:
        with wsman(fleet, password, operation_timeout=1) as conn, WinRS(conn) as shell:
            process = Process(shell, "echo", ["late"])
            process.begin_invoke()
            with pytest.raises(WSManFaultError) as fault:
                shell.receive("stdout stderr", process.id)
            assert fault.value.code == 2150858793
            process.end_invoke()
            process.signal(SignalCode.TERMINATE)
        assert process.stdout == b"late\r\n" and process.rc == 0
        session = winrm.Session(fleet.hosts[0].url, auth=(USER, password), transport="ntlm", ca_trust_path=None,
                                operation_timeout_sec=1, read_timeout_sec=5)
        result = session.run_cmd("echo", ["pywinrm", "late"])
        assert result.std_out == b"pywinrm late\r\n"


@pytest.mark.parametrize("envelope", [pytest.param(153600, id="default-150k"), pytest.param(32768, id="32k")])
def test_large_output_is_split_within_max_envelope_size(password, envelope):
    """A multi-MB stdout arrives intact over several Receives, none bigger than MaxEnvelopeSize."""
    size = 3 * 1024 * 1024
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory) as fleet:
        with wsman(fleet, password, max_envelope_size=envelope) as conn, WinRS(conn) as shell:
            process = Process(shell, "big", [str(size)])
            process.invoke()
            process.signal(SignalCode.TERMINATE)
        counters = fleet.hosts[0].counters
    pattern = bytes(range(256))
    assert process.stdout == (pattern * (size // 256 + 1))[:size]
    assert 0 < counters.max_reply_envelope <= envelope
    assert counters.requests > size // envelope


def test_request_over_max_envelope_size_gets_the_windows_fault(http_fleet, password):
    """A request bigger than MaxEnvelopeSize is answered with WSManFault 2150858824 (0x80338048) and the host goes
    on."""
    with wsman(http_fleet, password) as conn, WinRS(conn) as shell:
        with pytest.raises(WSManFaultError) as fault:
            shell.command("echo", ["x" * 200_000])
        assert fault.value.code == 2150858824
        process = Process(shell, "echo", ["after"])
        process.invoke()
        process.signal(SignalCode.TERMINATE)
    assert process.stdout == b"after\r\n"


def test_unknown_shell_and_command_get_invalid_selectors(http_fleet, password):
    """Operations on a shell or command the host does not know get the InvalidSelectors fault 2150858843."""
    with wsman(http_fleet, password) as conn:
        with WinRS(conn) as shell:
            with pytest.raises(WSManFaultError) as bad_command:
                shell.receive("stdout stderr", "00000000-0000-0000-0000-000000000000")
        stale = WinRS(conn, id="0BADBAD0-0000-0000-0000-000000000000")
        stale.opened = True
        with pytest.raises(WSManFaultError) as bad_shell:
            stale.close()
    assert bad_command.value.code == bad_shell.value.code == 2150858843
    assert "shell was not found" in bad_shell.value.message


@pytest.mark.parametrize("payload", [
    pytest.param(b"<s:Envelope", id="truncated"),
    pytest.param(b"\xff\xfe not xml at all", id="binary"),
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
                 id="entity-expansion"),
    pytest.param(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/>'
                 b"</s:Envelope>", id="no-action"),
])
def test_bad_requests_get_a_soap_fault_and_the_host_keeps_serving(http_fleet, password, payload):
    """Malformed XML, DTD/entity tricks and unknown actions get a 500 SOAP fault, never a crash."""
    with wsman(http_fleet, password) as conn:
        with pytest.raises(WinRMTransportError) as error:
            conn.transport.send(payload)
        assert error.value.code == 500
        fault = ET.fromstring(error.value.response_text)
        code = fault.find(".//{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault").get("Code")
        assert code.isdigit()
        with WinRS(conn) as shell:
            process = Process(shell, "echo", ["still", "up"])
            process.invoke()
            process.signal(SignalCode.TERMINATE)
    assert process.stdout == b"still up\r\n"


def test_unknown_action_is_a_wsman_fault(http_fleet, password):
    """An action the shell provider does not implement is a WSManFault, not a dropped connection."""
    with wsman(http_fleet, password) as conn, pytest.raises(WSManFaultError) as fault:
        conn.invoke("http://schemas.xmlsoap.org/ws/2004/09/transfer/Put",
                    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd", None)
    assert fault.value.code == 2150858771


def test_responses_relate_to_the_request_message_id(http_fleet, password):
    """Every reply's RelatesTo is the request's MessageID (clients match replies on it)."""
    with wsman(http_fleet, password) as conn:
        request = (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            b'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
            b"<wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</wsa:Action>"
            b"<wsa:MessageID>uuid:11111111-2222-3333-4444-555555555555</wsa:MessageID>"
            b"<wsman:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</wsman:ResourceURI>"
            b"</s:Header><s:Body/></s:Envelope>"
        )
        reply = ET.fromstring(conn.transport.send(request))
    relates = reply.find(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}RelatesTo").text
    assert relates == "uuid:11111111-2222-3333-4444-555555555555"
    shell_id = reply.find(".//{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}ShellId").text
    assert len(base64.b16decode(shell_id.replace("-", ""))) == 16


def _raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(("request_head", "status"), [
    pytest.param(b"POST /wsman HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n", b"500", id="huge-content-length"),
    pytest.param(b"POST /wsman HTTP/1.1\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n", b"431", id="huge-header"),
    pytest.param(b"POST /wsman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"411", id="chunked"),
    pytest.param(b"garbage\r\n\r\n", b"400", id="no-request-line"),
])
def test_oversized_or_malformed_http_is_answered_and_closed(http_fleet, password, request_head, status):
    """Oversized bodies/headers and broken HTTP get an error answer and a closed connection; the host goes on."""
    answer = _raw_exchange(http_fleet.hosts[1].port, request_head)
    assert answer.startswith(b"HTTP/1.1 " + status)
    if status == b"500":
        assert b'Code="2150858824"' in answer
    with Client("127.0.0.1", port=http_fleet.hosts[1].port, username=USER, password=password, ssl=False,
                auth="ntlm") as c:
        assert c.execute_cmd("echo alive")[0] == "alive\r\n"


class BrokenMachine:
    hostname = "BROKEN"

    def run(self, command_line, codepage=437):
        raise RuntimeError("bug in a profile")


def test_a_failing_machine_is_an_internal_error_fault_not_a_crash(password):
    """If the virtual machine raises, the client gets a w:InternalError fault and the host keeps listening."""
    with Fleet(profiles=["broken"], password=password, machine_factory=lambda p, n: BrokenMachine()) as fleet:
        with wsman(fleet, password) as conn, WinRS(conn) as shell, pytest.raises(WSManFaultError) as fault:
            Process(shell, "echo", ["x"]).invoke()
        assert fault.value.code == 2150858752
        assert fleet.hosts[0].counters.internal_errors == 1
        fleet.set_machine(0, fake_factory("fake", "CM000"))
        with wsman(fleet, password) as conn, WinRS(conn) as shell:
            process = Process(shell, "echo", ["fixed"])
            process.invoke()
        assert process.stdout == b"fixed\r\n"
