"""The simulator's eras and fidelity switches, driven by pypsrp: what 2003/2008-era WinRM answers, on the wire."""

from __future__ import annotations

import base64
import re
import socket
import ssl
import warnings
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

from simulator import Fleet
from simulator.eras import ERA_NAMES, ERAS
from simulator.faults import FaultSpecError, HostFaults, parse_spec
from simulator.profiles import PROFILE_NAMES, load_profile
from tests.support.fleet import healthy_machine
from tests.support.simfakes import USER, fake_factory, new_password

pytestmark = pytest.mark.network
NS_F = "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}"
NS_S = "{http://www.w3.org/2003/05/soap-envelope}"


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


def connect(fleet, password, index=0, username=USER, **kwargs):
    host = fleet.hosts[index]
    return WSMan("127.0.0.1", port=host.port, username=username, password=password, ssl=False, auth="ntlm",
                 operation_timeout=5, **kwargs)


def run(shell: WinRS, command: str) -> tuple[bytes, bytes, int | None]:
    process = Process(shell, command)
    process.invoke()
    process.signal(SignalCode.TERMINATE)
    return process.stdout, process.stderr, process.rc


def test_every_profile_names_an_era_that_runs_on_its_windows() -> None:
    """Each profile's era is a known one and fits the Windows release the profile names."""
    for name in PROFILE_NAMES:
        profile = load_profile(name)
        era = ERAS[profile.era]
        assert not era.windows or profile.windows in era.windows, name


def test_eras_follow_the_published_defaults() -> None:
    """WinRM 1.1 listens on 80/443 and 2.0 on 5985/5986; legacy eras speak TLS 1.0 and cap shells at 5; WinRM 1.1's
    quota defaults are marked unconfirmed."""
    assert set(ERA_NAMES) == {"2003r2-winrm11", "2008-winrm11", "2003-winrm20", "2008-winrm20", "2008r2-winrm20",
                              "modern"}
    for name in ("2003r2-winrm11", "2008-winrm11"):
        assert ERAS[name].ports == (80, 443) and ERAS[name].winrm == "1.1" and not ERAS[name].quotas_confirmed
    for name in ("2003r2-winrm11", "2008-winrm11", "2003-winrm20", "2008-winrm20", "2008r2-winrm20"):
        assert ERAS[name].legacy_tls and ERAS[name].max_shells_per_user == 5
    assert ERAS["2008r2-winrm20"].ports == (5985, 5986)


@pytest.mark.parametrize("name", ["2003-winrm20", "2008-winrm20"])
def test_wmf20_on_2003_and_2008_is_winrm20_on_its_old_windows(name: str) -> None:
    """WMF 2.0 brings WinRM 2.0 (5985/5986, an optional compatibility listener on 80/443) to 2003 and 2008,
    whose cmd.exe and UAC stay as they were."""
    era = ERAS[name]
    assert (era.winrm, era.ports, era.compat_ports) == ("2.0", (5985, 5986), (80, 443))
    assert era.codepage_65001 != "works" and era.uac_filters_local_admins == (name == "2008-winrm20")
    assert era.windows == ({"2003", "2003 R2"} if name.startswith("2003") else {"2008"})
    assert not ERAS["modern"].legacy_tls and ERAS["modern"].codepage_65001 == "works"


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param("0=shells:5x2", HostFaults(leaked_shells=5, leaked_release_after=2), id="shells"),
    pytest.param("0=users:3", HostFaults(other_users=3), id="users"),
    pytest.param("0=cprefuse+tls10", HostFaults(codepage_65001="refuse", tls10=True), id="codepage-tls"),
    pytest.param("0=chunks:512+nestedfault", HostFaults(stream_chunk=512, nestedfault=True), id="chunks"),
    pytest.param("0=nonadmin+uacfilter+noshell", HostFaults(nonadmin=True, uacfilter=True, noshell=True), id="access"),
    pytest.param("0=uacfilter+denied401", HostFaults(uacfilter=True, denied401=True), id="denied-as-401"),
    pytest.param("0=regdenied+logdenied+iis404+basiclocal",
                 HostFaults(regdenied=True, logdenied=True, iis404=True, basiclocal=True), id="acl"),
    pytest.param("0=http503x2", HostFaults(http_status=503, http_status_count=2), id="http-still-works"),
])
def test_fault_spec_parses_the_era_switches(spec: str, expected: HostFaults) -> None:
    """The --faults SPEC knows every era switch, with their values and xK counts."""
    assert parse_spec(spec, 1) == {0: expected}


@pytest.mark.parametrize("spec", ["0=noshell:3", "0=tls10x2", "0=chunks:0", "0=shells:1.5"])
def test_fault_spec_rejects_bad_switch_values(spec: str) -> None:
    """Values where none belong, counts on plain flags and impossible sizes are refused with the item named."""
    with pytest.raises(FaultSpecError):
        parse_spec(spec, 1)


def test_legacy_tls_listener_speaks_only_tls10_with_a_sha1_rsa1024_certificate(password) -> None:
    """A 2003 R2 HTTPS listener refuses a default client and talks TLS 1.0 to one allowing it, with a SHA-1 /
    RSA-1024 certificate from the fleet's CA file; the inventory marks the host `tls=legacy`."""
    with Fleet(profiles=["fake"], tls=True, password=password, machine_factory=fake_factory,
               eras="2003r2-winrm11") as fleet:
        port = fleet.hosts[0].port
        with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLError) as refused:
            ssl.create_default_context(cafile=fleet.ca_file).wrap_socket(raw, server_hostname="localhost")
        legacy = ssl.create_default_context(cafile=fleet.ca_file)
        legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
        legacy.verify_flags &= ~ssl.VERIFY_X509_STRICT  # an era certificate has no Authority Key Identifier
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            legacy.minimum_version = ssl.TLSVersion.TLSv1
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                legacy.wrap_socket(raw, server_hostname="localhost") as tls:
            version, der = tls.version(), tls.getpeercert(binary_form=True)
        rows = fleet.inventory_rows()
        header = fleet.hosts[0].era.server_header
    # Schannel would answer with a TLS 1.0 ServerHello the client refuses; OpenSSL under asyncio ends the
    # handshake instead: either way a default client cannot connect.
    assert isinstance(refused.value, ssl.SSLError)
    assert version == "TLSv1"
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha1"
    assert cert.public_key().key_size == 1024  # type: ignore[union-attr]
    assert rows[0]["tls"] == "legacy" and header == "Microsoft-HTTPAPI/1.0"


def test_modern_fleet_inventory_has_no_tls_column(password) -> None:
    """Without legacy listeners the inventory keeps its five columns."""
    with Fleet(profiles=["fake"], tls=True, password=password, machine_factory=fake_factory) as fleet:
        assert "tls" not in fleet.inventory_rows()[0] and not fleet.hosts[0].legacy_tls


def test_code_page_65001_refused_then_437_works(password) -> None:
    """A host that refuses WINRS_CODEPAGE=65001 answers Create with fault 2150859072; a 437 shell runs normally."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, faults="0=cprefuse") as fleet:
        with connect(fleet, password) as conn:
            with pytest.raises(WSManFaultError) as refused:
                WinRS(conn, codepage=65001).open()
            with WinRS(conn, codepage=437) as shell:
                out = run(shell, "echo hi")
        assert fleet.hosts[0].open_shells == 0
    assert refused.value.code == 2150859072 and "Code Page" in (refused.value.reason or "")
    assert out == (b"hi\r\n", b"", 0)


def test_code_page_65001_silent_shell_prints_nothing(password) -> None:
    """The 2008 era creates a 65001 shell whose commands print nothing and exit 0; under 437 they run."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2008-winrm11") as fleet:
        with connect(fleet, password) as conn:
            with WinRS(conn, codepage=65001) as shell:
                silent = run(shell, "echo hi")
            with WinRS(conn, codepage=437) as shell:
                loud = run(shell, "echo hi")
    assert silent == (b"", b"", 0) and loud == (b"hi\r\n", b"", 0)


@pytest.mark.parametrize(("era", "wording"), [
    pytest.param("2008r2-winrm20", "This user is allowed a maximum number of 5 concurrent shells", id="winrm20"),
    pytest.param("2003r2-winrm11", "maximum number of concurrent shells a user can remotely open", id="winrm11"),
])
def test_max_shells_per_user_is_five_with_the_real_fault(password, era: str, wording: str) -> None:
    """The sixth shell of one user is refused with 2150859173 in the era's words; deleting one frees a slot."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras=era) as fleet:
        with connect(fleet, password) as conn:
            shells = [WinRS(conn) for _ in range(5)]
            for shell in shells:
                shell.open()
            with pytest.raises(WSManFaultError) as refused:
                WinRS(conn).open()
            shells[0].close()
            again = WinRS(conn)
            again.open()
            for shell in (*shells[1:], again):
                shell.close()
        left = fleet.hosts[0].open_shells
    assert refused.value.code == 2150859173 and wording in (refused.value.reason or "")
    assert left == 0


def test_leaked_shells_time_out_after_k_refusals(password) -> None:
    """`shells:5x2`: five shells an earlier run left hold the quota for two refused Creates, then time out."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, faults="0=shells:5x2") as fleet:
        with connect(fleet, password) as conn:
            codes = []
            for _ in range(2):
                with pytest.raises(WSManFaultError) as refused:
                    WinRS(conn).open()
                codes.append(refused.value.code)
            with WinRS(conn) as shell:
                out = run(shell, "echo back")
    assert codes == [2150859173, 2150859173] and out[0] == b"back\r\n"


def test_max_concurrent_users_refuses_a_new_user(password) -> None:
    """`users:5` on a WinRM 2.0 host: a sixth user's Create gets 2150859179 (MaxConcurrentUsers)."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2008r2-winrm20",
               faults="0=users:5") as fleet:
        with connect(fleet, password) as conn, pytest.raises(WSManFaultError) as refused:
            WinRS(conn).open()
    assert refused.value.code == 2150859179
    assert "maximum number of users executing shell operations" in (refused.value.reason or "")


def test_remote_shell_access_disabled(password) -> None:
    """AllowRemoteShellAccess=false: Create is refused with 2150859180 after a successful logon."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, faults="0=noshell") as fleet:
        with connect(fleet, password) as conn, pytest.raises(WSManFaultError) as refused:
            WinRS(conn).open()
        counters = fleet.hosts[0].counters
    assert refused.value.code == 2150859180
    assert counters.auth_handshakes == 1 and counters.auth_failures == 0


@pytest.mark.parametrize(("era", "code"), [pytest.param("2003r2-winrm11", 5, id="winrm11"),
                                           pytest.param("modern", 0x80070005, id="modern")])
def test_non_admin_logs_on_but_is_denied(password, era: str, code: int) -> None:
    """An account that is no administrator logs on (no logon failure) and gets Access is denied (5 or
    0x80070005) for its first WS-Management request."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras=era,
               faults="0=nonadmin") as fleet:
        with connect(fleet, password) as conn, pytest.raises(WSManFaultError) as denied:
            WinRS(conn).open()
        counters = fleet.hosts[0].counters
    assert denied.value.code == code and "Access is denied" in (denied.value.reason or "")
    assert counters.auth_handshakes == 1 and counters.auth_failures == 0


def test_denied401_answers_a_non_admin_with_401_after_the_logon(password) -> None:
    """With `denied401` a non-administrator's first request after a complete logon gets a bare 401 (the other
    reported reply), counted as no logon failure; an administrator on the same switch is served."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory,
               faults="0=nonadmin+denied401") as fleet:
        with connect(fleet, password) as conn, pytest.raises(AuthenticationError):
            WinRS(conn).open()
        counters = fleet.hosts[0].counters
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, faults="0=denied401") as fleet:
        with connect(fleet, password) as conn, WinRS(conn) as shell:
            out = run(shell, "echo ok")
    assert counters.auth_handshakes >= 1 and counters.auth_failures == 0 and out[0] == b"ok\r\n"


def test_uac_filters_a_local_administrator_on_2008_not_a_domain_one(password) -> None:
    """On a 2008 host a local administrator's network token is filtered (access denied); a domain account works."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2008-winrm11",
               username="localadmin") as fleet:
        with connect(fleet, password, username="localadmin") as conn, pytest.raises(WSManFaultError) as denied:
            WinRS(conn).open()
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2008-winrm11") as fleet:
        with connect(fleet, password) as conn, WinRS(conn, codepage=437) as shell:
            out = run(shell, "echo ok")
    assert denied.value.code == 5 and out[0] == b"ok\r\n"


@pytest.mark.parametrize(("windows", "era", "message"), [
    pytest.param("2008", "modern", b"ERROR: Access is denied.\r\n", id="reg-2008"),
    pytest.param("2003", "2003r2-winrm11", b"Error:  Access is denied.\r\n", id="reg-3.0"),
])
def test_denied_registry_key_says_access_is_denied(password, windows: str, era: str, message: bytes) -> None:
    """`regdenied`: reg query of the Setup key prints reg.exe's access-denied line on stderr and exits 1, while
    the parent key still lists Setup among its subkeys."""
    def machine(profile: str, name: str):  # type: ignore[no-untyped-def]
        vm = healthy_machine(profile, name)
        from simulator.windows import WINDOWS_VERSIONS

        vm.windows = WINDOWS_VERSIONS[windows]
        return vm

    with Fleet(profiles=["h"], password=password, machine_factory=machine, eras=era,
               faults="0=regdenied") as fleet:
        with connect(fleet, password) as conn, WinRS(conn, codepage=437) as shell:
            denied = run(shell, r'reg query "HKLM\SOFTWARE\Microsoft\SMS\Setup"')
            parent = run(shell, r'reg query "HKLM\SOFTWARE\Microsoft\SMS"')
    assert denied == (b"", message, 1)
    assert b"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Setup\r\n" in parent[0] and parent[2] == 0


def test_denied_log_file_says_access_is_denied(password) -> None:
    """`logdenied`: type of wsyncmgr.log prints "Access is denied." on stderr and exits 1."""
    log = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=logdenied") as fleet:
        with connect(fleet, password) as conn, WinRS(conn) as shell:
            out = run(shell, f'type "{log}"')
    assert out == (b"", b"Access is denied.\r\n", 1)


def test_nested_provider_fault_carries_the_message_inside(password) -> None:
    """`nestedfault`: the fault's f:Message holds f:ProviderFault > f:WSManFault > f:Message with the reason."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory,
               faults="0=nestedfault+noshell") as fleet:
        with connect(fleet, password) as conn:
            request_id = "uuid:11111111-2222-3333-4444-555555555555"
            body = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
                    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
                    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
                    '<wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</wsa:Action>'
                    f'<wsa:MessageID>{request_id}</wsa:MessageID><wsman:ResourceURI>'
                    'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</wsman:ResourceURI>'
                    '</s:Header><s:Body/></s:Envelope>')
            with pytest.raises(WinRMTransportError) as refused:
                conn.transport.send(body.encode())
    fault = ET.fromstring(refused.value.response_text)
    outer = fault.find(f".//{NS_F}WSManFault")
    assert outer is not None and outer.get("Code") == "2150859180"
    inner = outer.find(f"{NS_F}Message/{NS_F}ProviderFault/{NS_F}WSManFault/{NS_F}Message")
    assert inner is not None and "not accept any remote shell requests" in (inner.text or "")


def test_iis_answers_the_port_with_a_404_page(password) -> None:
    """`iis404`: a POST to /wsman gets IIS 6's 404 HTML page with `Server: Microsoft-IIS/6.0`."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, faults="0=iis404") as fleet:
        with socket.create_connection(("127.0.0.1", fleet.hosts[0].port)) as sock:
            sock.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404") and b"Server: Microsoft-IIS/6.0" in head
    assert b"text/html" in head and b"The page cannot be found" in body


def test_receive_replies_hold_several_small_streams(password) -> None:
    """`chunks:64`: the first Receive carries one Stream, later ones several, none over 64 bytes, the command
    still Running until its output is drained; the output arrives whole."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, faults="0=chunks:64") as fleet:
        with connect(fleet, password) as conn, WinRS(conn) as shell:
            command_id = shell.command("big", ["1000"]).find(".//{*}CommandId").text or ""  # type: ignore[union-attr]
            replies = []
            while True:
                xml = conn.receive(shell.resource_uri, _receive_body(command_id), selector_set=shell._selector_set)
                replies.append(xml)
                state = xml.find(".//{*}CommandState")
                if state is not None and state.get("State", "").endswith("Done"):
                    break
    streams = [[base64.b64decode(s.text or "") for s in reply.iter() if s.tag.endswith("Stream")]
               for reply in replies]
    data = b"".join(b"".join(chunks) for chunks in streams)
    assert data == (bytes(range(256)) * 4)[:1000]
    assert len([s for s in streams[0] if s]) == 1 and max(len([s for s in r if s]) for r in streams) > 1
    assert all(len(s) <= 64 for r in streams for s in r)
    assert len(replies) > 2


def _receive_body(command_id: str) -> ET.Element:
    rsp = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
    receive = ET.Element(f"{{{rsp}}}Receive")
    ET.SubElement(receive, f"{{{rsp}}}DesiredStream", CommandId=command_id).text = "stdout stderr"
    return receive


def test_winrm11_create_reply_has_no_shell_element_and_still_works(password) -> None:
    """A WinRM 1.1 CreateResponse carries ResourceCreated only; pypsrp still finds the ShellId and runs commands."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2003r2-winrm11",
               faults="0=cpworks") as fleet:
        with connect(fleet, password) as conn:
            shell = WinRS(conn)
            response = shell.open()
            out = run(shell, "echo eleven")
            shell.close()
    assert response is not None and response.find(".//{*}Shell") is None
    assert out == (b"eleven\r\n", b"", 0)


def test_basic_refuses_domain_accounts_but_takes_local_ones(password) -> None:
    """`basiclocal`: Basic with DOMAIN\\user is a 401 (no password is even checked); a local account logs on."""
    from pypsrp.client import Client

    with Fleet(profiles=["fake"], tls=True, password=password, machine_factory=fake_factory,
               faults="0=basiclocal") as fleet:
        host = fleet.hosts[0]
        with pytest.raises(AuthenticationError), \
                Client("127.0.0.1", port=host.port, username=USER, password=password, ssl=True, auth="basic",
                       cert_validation=fleet.ca_file) as client:
            client.execute_cmd("echo x")
    with Fleet(profiles=["fake"], tls=True, password=password, machine_factory=fake_factory, username="auditor",
               faults="0=basiclocal") as fleet:
        host = fleet.hosts[0]
        with Client("127.0.0.1", port=host.port, username="auditor", password=password, ssl=True, auth="basic",
                    cert_validation=fleet.ca_file) as client:
            out = client.execute_cmd("echo local")
    assert out == ("local\r\n", "", 0)


def test_server_header_follows_the_era(password) -> None:
    """WinRM 1.1 on 2003 answers as HTTP.sys 1.0, later eras as Microsoft-HTTPAPI/2.0."""
    with Fleet(profiles=["fake", "fake"], password=password, machine_factory=fake_factory,
               eras={0: "2003r2-winrm11", 1: "2008r2-winrm20"}) as fleet:
        headers = []
        for host in fleet.hosts:
            with socket.create_connection(("127.0.0.1", host.port)) as sock:
                sock.sendall(b"GET /wsman HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            headers.append(re.search(rb"Server: ([^\r]+)", answer).group(1))  # type: ignore[union-attr]
    assert headers == [b"Microsoft-HTTPAPI/1.0", b"Microsoft-HTTPAPI/2.0"]


def test_legacy_era_replies_hold_4k_streams_as_many_as_fit(password) -> None:
    """A 2003 R2 host's first Receive carries what the process wrote first (one 4 KiB Stream); the next carries as
    many 4 KiB Streams as fit the envelope."""
    with Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2003r2-winrm11") as fleet:
        with connect(fleet, password) as conn, WinRS(conn, codepage=437) as shell:
            command_id = shell.command("big", ["60000"]).find(".//{*}CommandId").text or ""  # type: ignore[union-attr]
            replies = [conn.receive(shell.resource_uri, _receive_body(command_id), selector_set=shell._selector_set)
                       for _ in range(2)]
    sizes = [[len(base64.b64decode(s.text or "")) for s in reply.iter() if s.tag.endswith("Stream") and s.text]
             for reply in replies]
    assert sizes[0] == [4096]
    assert len(sizes[1]) > 8 and max(sizes[1]) == 4096


def test_profile_acls_deny_keys_and_files() -> None:
    """A profile's `deny` entries (VirtualMachine.deny) make reg.exe and type say "Access is denied." while the
    parent key and the folder still list them."""
    machine = healthy_machine("h", "SMS01")
    machine.deny(r"HKLM\SOFTWARE\Microsoft\SMS\Identification")
    machine.deny(r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log")
    key = machine.run(r'reg query "HKLM\SOFTWARE\Microsoft\SMS\Identification"')
    parent = machine.run(r'reg query "HKLM\SOFTWARE\Microsoft\SMS"')
    log = machine.run(r'type "C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"')
    listing = machine.run(r'dir "C:\Program Files\Microsoft Configuration Manager\Logs"')
    assert (key.stderr, key.exit_code) == (b"ERROR: Access is denied.\r\n", 1)
    assert b"SMS\\Identification\r\n" in parent.stdout
    assert (log.stdout, log.stderr, log.exit_code) == (b"", b"Access is denied.\r\n", 1)
    assert b"wsyncmgr.log" in listing.stdout


def test_unknown_era_is_refused(password) -> None:
    """An era the simulator does not know, or one for a host index outside the fleet, is a clear ValueError."""
    with pytest.raises(ValueError, match="unknown era"):
        Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras="2012-winrm30")
    with pytest.raises(ValueError, match="out of range"):
        Fleet(profiles=["fake"], password=password, machine_factory=fake_factory, eras={3: "modern"})
