"""Scanning what 2003/2008-era WinRM really does: each simulator era behaviour or switch, scanned end to end.

Every test asserts the verdict (the same as the host's modern twin) or the error category, the hint an admin
gets, and what the lockout breaker counted: only credentials the server rejected.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import ErrorCategory, HostResult, Verdict
from simulator.filesystem import FileSystem
from simulator.fleet import Fleet
from simulator.profiles import set_program_folders
from simulator.registry import Registry, RegType
from simulator.vm import VirtualMachine
from simulator.windows import WINDOWS_VERSIONS
from tests.support.fleet import HEALTHY_LOG, healthy_machine, new_password, scan
from tests.support.pypsrp_changes import needs_internal

pytestmark = pytest.mark.network
LOG = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"


def only(result: Any) -> HostResult:
    hosts = result.outcome.results.hosts
    assert len(hosts) == 1
    return hosts[0]


def counted(result: Any) -> list[str]:
    """The hosts whose logon failures the lockout breaker counted."""
    return list(result.outcome.runner.breaker_counted)


def site_server(windows: str = "2008", *, x64: bool = False, expand: bool = False):  # type: ignore[no-untyped-def]
    """A factory for a healthy SP1 site server on `windows`; with `x64` ConfigMgr sits under Wow6432Node, with
    `expand` its TraceFilename is the REG_EXPAND_SZ `%ProgramFiles%\\...` ConfigMgr 2007 writes."""
    def make(profile: str, hostname: str) -> VirtualMachine:
        reg = Registry()
        set_program_folders(reg, x64)
        root = r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS" if x64 else r"HKLM\SOFTWARE\Microsoft\SMS"
        folder = r"C:\Program Files (x86)" if x64 else r"C:\Program Files"
        reg.set_value(root + r"\Setup", "Full Version", RegType.REG_SZ, "4.00.6221.1000")
        reg.set_value(root + r"\Setup", "Installation Directory", RegType.REG_SZ,
                      folder + r"\Microsoft Configuration Manager")
        reg.set_value(root + r"\Setup", "Type", RegType.REG_DWORD, 1)
        reg.set_value(root + r"\Identification", "Site Code", RegType.REG_SZ, "P01")
        if expand:
            reg.set_value(root + r"\Tracing\SMS_WSUS_SYNC_MANAGER", "TraceFilename", RegType.REG_EXPAND_SZ,
                          r"%ProgramFiles%\Microsoft Configuration Manager\Logs\wsyncmgr.log")
        fs = FileSystem(datetime(2008, 6, 10, tzinfo=UTC))
        fs.add_file(folder + r"\Microsoft Configuration Manager\Logs\wsyncmgr.log", HEALTHY_LOG.encode())
        return VirtualMachine(hostname, WINDOWS_VERSIONS[windows], x64, reg, fs)

    return make


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> HostResult:
    """The healthy site server on a modern WinRM service: what every era's twin must be judged as."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine) as fleet:
        host = only(scan(fleet, tmp_path_factory.mktemp("baseline"), password))
    assert host.verdict is not Verdict.ERROR, host.error
    return host


def assert_judged_like(host: HostResult, baseline: HostResult) -> None:
    assert host.verdict is baseline.verdict, host.error
    assert host.facts.build == baseline.facts.build == "4.00.6221.1000"
    assert host.facts.log_path == baseline.facts.log_path


# -- TLS 1.0 listeners -------------------------------------------------------------------------------------

def test_tls10_listener_scanned_with_tls_legacy_in_the_inventory(tmp_path: Path, baseline: HostResult) -> None:
    """A 2003 R2 HTTPS listener (TLS 1.0, SHA-1/RSA-1024 certificate) is scanned when its inventory row says
    tls=legacy: certificate validated against the CA file, verdict as on a modern host, nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], tls=True, auth="ntlm", password=password, machine_factory=healthy_machine,
               eras="2003r2-winrm11", faults="0=cpworks") as fleet:
        result = scan(fleet, tmp_path, password, scheme="https")
        rows = list(csv.DictReader((tmp_path / "hosts.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0]["tls"] == "legacy"
    assert_judged_like(only(result), baseline)
    assert counted(result) == []


def test_tls10_listener_with_a_modern_context_names_the_option(tmp_path: Path) -> None:
    """Without tls=legacy the handshake fails once, as ERROR/tls: the message says the host may be a 2003/2008
    server and the hint names the inventory option and --tls legacy; no silent downgrade, nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], tls=True, auth="ntlm", password=password, machine_factory=healthy_machine,
               eras="2003r2-winrm11") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        text = inventory.read_text(encoding="utf-8").replace(",legacy", ",modern")
        inventory.write_text(text, encoding="utf-8")
        from tests.support.scans import scan as scan_inventory

        result = scan_inventory(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, scheme="https",
                                ca_file=fleet.ca_file)
        handshakes = fleet.hosts[0].counters.auth_handshakes
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.TLS, host.error
    assert "2003/2008" in host.error.message and host.attempts == 1
    assert "legacy" in host.error.hint and "--tls legacy" in host.error.hint
    assert handshakes == 0 and counted(result) == []


@pytest.mark.parametrize(("fault", "words"), [pytest.param("untrustedcert", "local issuer", id="untrusted"),
                                              pytest.param("expiredcert", "expired", id="expired")])
def test_tls_legacy_still_validates_the_certificate(tmp_path: Path, fault: str, words: str) -> None:
    """tls=legacy lowers the protocol and key strength only: a 2003 R2 listener whose certificate another CA issued,
    or that expired, is ERROR/tls with the --ca-file hint, before any logon."""
    password = new_password()
    with Fleet(profiles=["h"], tls=True, auth="ntlm", password=password, machine_factory=healthy_machine,
               eras="2003r2-winrm11", faults=f"0={fault}") as fleet:
        result = scan(fleet, tmp_path, password, scheme="https")
        handshakes = fleet.hosts[0].counters.auth_handshakes
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.TLS, host.error
    assert words in host.error.message and "--ca-file" in host.error.hint
    assert handshakes == 0 and counted(result) == []


def test_tls_legacy_option_makes_it_the_default(tmp_path: Path, baseline: HostResult) -> None:
    """`--tls legacy` (ScanSettings.tls) applies to every host whose inventory does not say otherwise."""
    password = new_password()
    with Fleet(profiles=["h"], tls=True, auth="ntlm", password=password, machine_factory=healthy_machine,
               eras="2008r2-winrm20") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        rows = list(csv.DictReader(inventory.read_text(encoding="utf-8").splitlines()))
        for row in rows:
            del row["tls"]
        with inventory.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        from tests.support.scans import scan as scan_inventory

        result = scan_inventory(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, scheme="https",
                                ca_file=fleet.ca_file, tls="legacy")
    assert_judged_like(only(result), baseline)


# -- code page ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("era", "switch"), [pytest.param("2003r2-winrm11", "", id="refused-2150859072"),
                                             pytest.param("2008-winrm11", "", id="silent-no-end-marker"),
                                             pytest.param("modern", "0=cprefuse", id="switch")])
def test_code_page_437_fallback(tmp_path: Path, baseline: HostResult, era: str, switch: str) -> None:
    """A host that refuses WINRS_CODEPAGE=65001, or runs nothing under it, is scanned in code page 437: the same
    verdict, the code page recorded, its one shell deleted, nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, eras=era,
               faults=switch or None) as fleet:
        result = scan(fleet, tmp_path, password)
        left = fleet.hosts[0].open_shells
    host = only(result)
    assert_judged_like(host, baseline)
    assert host.facts.codepage == 437 and baseline.facts.codepage == 65001
    assert left == 0 and counted(result) == []


def test_utf16_log_under_code_page_437_is_still_judged(tmp_path: Path) -> None:
    """A UTF-16 wsyncmgr.log typed in a 437 shell (a 2003 host) still reaches its profile's verdict."""
    from simulator.profiles import expected_verdict

    password = new_password()
    with Fleet(profiles=["utf16-log"], password=password, eras="2008-winrm11") as fleet:
        host = only(scan(fleet, tmp_path, password))
    assert host.verdict.value == expected_verdict("utf16-log") and host.facts.codepage == 437


# -- quotas --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("switch", "fault"), [pytest.param("0=shells:5x2", "MaxShellsPerUser", id="shells"),
                                               pytest.param("0=users:5x2", "MaxConcurrentUsers", id="users")])
def test_quota_faults_are_retried_with_backoff(tmp_path: Path, baseline: HostResult, switch: str, fault: str) -> None:
    """MaxShellsPerUser (0x803381A5) and MaxConcurrentUsers (0x803381AB) are transient: retried with backoff until
    the quota frees (here after two refusals), then judged; nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, eras="2008r2-winrm20",
               faults=switch) as fleet:
        result = scan(fleet, tmp_path, password, retries=3)
    host = only(result)
    assert_judged_like(host, baseline)
    assert host.attempts == 3
    assert [category for _, _, category in result.outcome.runner.retried] == ["protocol", "protocol"]
    assert counted(result) == []


@pytest.mark.parametrize(("switch", "code", "setting"), [
    pytest.param("0=shells:5", "0x803381A5", "MaxShellsPerUser", id="shells"),
    pytest.param("0=users:5", "0x803381AB", "MaxConcurrentUsers", id="users")])
def test_quota_that_never_frees_ends_with_the_setting_named(tmp_path: Path, switch: str, code: str,
                                                             setting: str) -> None:
    """A quota that stays full ends as ERROR/protocol after the retries, the code in the message and the
    `winrm set` command in the hint; nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, eras="2008r2-winrm20",
               faults=switch) as fleet:
        result = scan(fleet, tmp_path, password, retries=2)
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.PROTOCOL
    assert code in host.error.message and host.attempts == 3
    assert setting in host.error.hint and "winrm set winrm/config/winrs" in host.error.hint
    assert counted(result) == []


# -- logged on, but not allowed ----------------------------------------------------------------------------

@pytest.mark.parametrize(("switch", "era", "username", "in_hint"), [
    pytest.param("0=noshell", "2008r2-winrm20", None, "AllowRemoteShellAccess", id="remote-shell-disabled"),
    pytest.param("0=nonadmin", "2003r2-winrm11", None, "Administrators", id="non-admin-code-5"),
    pytest.param("0=nonadmin", "modern", None, "Administrators", id="non-admin-0x80070005"),
    pytest.param(None, "2008-winrm11", "localadmin", "LocalAccountTokenFilterPolicy", id="uac-filtered-local-admin"),
    pytest.param("0=uacfilter", "modern", "CM000\\admin", "LocalAccountTokenFilterPolicy", id="uac-switch"),
])
def test_logged_on_but_not_allowed_is_access_not_auth(tmp_path: Path, switch: str | None, era: str,
                                                       username: str | None, in_hint: str) -> None:
    """Remote shells disabled (0x803381AC), a non-administrator (5 / 0x80070005) or a UAC-filtered local
    administrator end as ERROR/access, not retried, with the setting to change in the hint; the breaker counts
    nothing, because the password was right."""
    password = new_password()
    kwargs: dict[str, Any] = {"username": username} if username else {}
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, eras=era, faults=switch,
               **kwargs) as fleet:
        result = scan(fleet, tmp_path, password)
        failures = fleet.hosts[0].counters.auth_failures
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.ACCESS, host.error
    assert host.attempts == 1 and in_hint in host.error.hint
    assert counted(result) == [] and failures == 0


def test_nested_provider_fault_message_reaches_the_report(tmp_path: Path) -> None:
    """A fault nesting its reason in f:ProviderFault > f:WSManFault > f:Message is reported with that reason,
    never as "no reason given"."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine,
               faults="0=noshell+nestedfault") as fleet:
        host = only(scan(fleet, tmp_path, password))
    assert host.error is not None and host.error.category is ErrorCategory.ACCESS
    assert "not accept any remote shell requests" in host.error.message
    assert "no reason given" not in host.error.message


@pytest.mark.parametrize("windows", ["2003", "2008"])
def test_denied_registry_key_is_access_never_not_applicable(tmp_path: Path, windows: str) -> None:
    """`regdenied`: reg.exe's "Access is denied." (3.0's and 2008's wording) on the Setup key is ERROR/access
    naming the key, never NOT_APPLICABLE; the hint says to grant read access; nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=site_server(windows),
               faults="0=regdenied") as fleet:
        result = scan(fleet, tmp_path, password)
    host = only(result)
    assert host.verdict is Verdict.ERROR and host.error is not None
    assert host.error.category is ErrorCategory.ACCESS, host.error
    assert "SMS\\Setup" in host.error.message and "Access is denied" in host.error.message
    assert "read access" in host.error.hint and counted(result) == []


def test_denied_log_file_is_access(tmp_path: Path) -> None:
    """`logdenied`: `type` saying "Access is denied." on wsyncmgr.log is ERROR/access naming the file, not a
    missing log."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=logdenied") as fleet:
        host = only(scan(fleet, tmp_path, password))
    assert host.error is not None and host.error.category is ErrorCategory.ACCESS, host.error
    assert "wsyncmgr.log" in host.error.message and "Logs folder" in host.error.hint


def test_missing_keys_on_a_localised_windows_are_absent_and_denied_is_denied(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """reg.exe in another language: a host without ConfigMgr is NOT_APPLICABLE (its "not found" words match the
    probe's), a denied key in that language is still ERROR/access."""
    import simulator.programs.reg as reg_program

    monkeypatch.setattr(reg_program, "NOT_FOUND", "FEHLER: Der angegebene Registrierungsschlüssel oder Wert wurde "
                                                  "nicht gefunden.\r\n")
    monkeypatch.setattr(reg_program, "DENIED", "FEHLER: Zugriff verweigert\r\n")

    def bare(profile: str, hostname: str) -> VirtualMachine:
        return VirtualMachine(hostname, WINDOWS_VERSIONS["2008"], False, Registry(), FileSystem(datetime(2008, 1, 1)))

    password = new_password()
    with Fleet(profiles=["h", "h"], password=password, faults="1=regdenied",
               machine_factory=lambda p, n: bare(p, n) if n == "CM000" else site_server("2008")(p, n)) as fleet:
        result = scan(fleet, tmp_path, password)
    absent, denied = sorted(result.outcome.results.hosts, key=lambda h: h.host)
    assert absent.verdict is Verdict.NOT_APPLICABLE, absent.error
    assert denied.error is not None and denied.error.category is ErrorCategory.ACCESS
    assert "Zugriff verweigert" in denied.error.message


# -- replies and listeners ---------------------------------------------------------------------------------

def test_small_streams_and_partial_replies_are_reassembled(tmp_path: Path, baseline: HostResult) -> None:
    """Receive replies of several 512-byte Streams, the first one partial, give the same verdict and log bytes
    as one full reply, in more requests."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=chunks:64") as fleet:
        host = only(scan(fleet, tmp_path, password))
    assert_judged_like(host, baseline)
    assert [log.sha256 for log in host.facts.logs] == [log.sha256 for log in baseline.facts.logs]
    assert host.requests > baseline.requests


def test_iis_on_the_port_is_named(tmp_path: Path) -> None:
    """IIS 6 answering the port (404, Server: Microsoft-IIS/6.0) is ERROR/unreachable saying so, not retried, the
    hint pointing at the listener's port; nothing counted."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=iis404") as fleet:
        result = scan(fleet, tmp_path, password)
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.UNREACHABLE
    assert "IIS" in host.error.message and host.attempts == 1
    assert "winrm enumerate winrm/config/listener" in host.error.hint and counted(result) == []


def test_basic_with_a_domain_account_is_not_counted(tmp_path: Path) -> None:
    """Basic refused for DOMAIN\\user (WinRM Basic takes local accounts only, in every era: the domain never sees
    the password) is ERROR/auth whose hint names ntlm/negotiate/kerberos, and neither the server nor the breaker
    counts it, right password or wrong; a local account's wrong Basic password is counted."""
    password = new_password()
    with Fleet(profiles=["h"], tls=True, auth="basic", username="LAB\\auditor", password=password,
               machine_factory=healthy_machine) as fleet:
        domain = scan(fleet, tmp_path / "domain", password, scheme="https")
        typo = scan(fleet, tmp_path / "typo", "wrong-" + password, scheme="https")
        assert fleet.hosts[0].counters.wrong_passwords == 0 and counted(typo) == []
    with Fleet(profiles=["h"], tls=True, auth="basic", username="auditor", password=password,
               machine_factory=healthy_machine, faults="0=basiclocal+badauth") as fleet:
        local = scan(fleet, tmp_path / "local", password, scheme="https", username="auditor")
    refused, wrong = only(domain), only(local)
    assert refused.error is not None and refused.error.category is ErrorCategory.AUTH
    assert "local accounts" in refused.error.message and "ntlm" in refused.error.hint
    assert counted(domain) == []
    assert wrong.error is not None and wrong.error.category is ErrorCategory.AUTH
    assert counted(local) == ["CM000"]


def test_kerberos_only_listener_is_auth_naming_kerberos_and_not_counted(tmp_path: Path) -> None:
    """`krbonly` (WinRM's Auth/Negotiate=false: only `WWW-Authenticate: Kerberos`): an NTLM scan is ERROR/auth at
    once, the hint says to use Kerberos, and the breaker counts nothing (the password was never sent)."""
    password = new_password()
    with Fleet(profiles=["h"] * 2, password=password, machine_factory=healthy_machine, faults="*=krbonly") as fleet:
        result = scan(fleet, tmp_path, password, concurrency=1, max_auth_failures=1)
        tried = [h.counters.auth_failures for h in fleet.hosts]
    hosts = result.outcome.results.hosts
    assert all(h.error is not None and h.error.category is ErrorCategory.AUTH for h in hosts), hosts
    assert all("kerberos" in h.error.hint.lower() and h.attempts == 1 for h in hosts if h.error is not None)
    assert counted(result) == [] and tried == [0, 0]


def test_ntlm_refused_by_policy_hint_names_kerberos(tmp_path: Path) -> None:
    """`nontlm` (Restrict NTLM: Deny all) answers NTLM's first message with a plain 401, before any password was
    sent: ERROR/auth that says so, the hint names Kerberos, and the breaker does not count it."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=nontlm") as fleet:
        result = scan(fleet, tmp_path, password)
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.AUTH
    assert "no password was sent" in host.error.hint and "--auth kerberos" in host.error.hint
    assert counted(result) == []


def test_six_non_admin_hosts_do_not_trip_the_breaker(tmp_path: Path, baseline: HostResult) -> None:
    """Six hosts in a row that let the account log on but refuse it (not an administrator), then a healthy one, at
    --concurrency 1 --max-auth-failures 5: the healthy host is still scanned."""
    password = new_password()
    with Fleet(profiles=["h"] * 7, password=password, machine_factory=healthy_machine,
               faults="0-5=nonadmin") as fleet:
        result = scan(fleet, tmp_path, password, concurrency=1, max_auth_failures=5)
    hosts = sorted(result.outcome.results.hosts, key=lambda h: h.host)
    assert all(h.error is not None and h.error.category is ErrorCategory.ACCESS for h in hosts[:6])
    assert_judged_like(hosts[6], baseline)
    assert counted(result) == [] and not result.outcome.runner.breaker_tripped


def test_non_admin_answered_with_401_after_the_logon_is_access_naming_the_group(tmp_path: Path) -> None:
    """`nonadmin+denied401`: a server that accepts the logon, then answers a non-administrator's requests with a
    bare 401 (pywinrm#114) is ERROR/access whose hint names the Administrators group; the logon was accepted, so
    the password is right and the breaker does not count it (the server saw no failed logon either)."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine,
               faults="0=nonadmin+denied401") as fleet:
        result = scan(fleet, tmp_path, password)
        failures = fleet.hosts[0].counters.auth_failures
        commands = fleet.hosts[0].commands
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.ACCESS, host.error
    assert "Administrators group" in host.error.hint and host.attempts == 1
    assert counted(result) == [] and failures == 0 and commands == []


@needs_internal("selector_set")  # the shell's selectors, to delete it over a fresh connection
def test_an_aborted_host_leaves_no_shell_open(tmp_path: Path) -> None:
    """A host cut off by its deadline mid-command (endless output) still has its shell deleted: the simulator
    counts no open shell of the account afterwards."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=endless") as fleet:
        result = scan(fleet, tmp_path, password, timeout=2.0, retries=0)
        left = fleet.hosts[0].open_shells
        created = fleet.hosts[0].counters.requests
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.TIMEOUT
    assert created > 0 and left == 0


@needs_internal("selector_set")
def test_a_stopped_run_leaves_no_shell_open(tmp_path: Path) -> None:
    """Ctrl-C twice (a hard stop) while a host streams output: the host is ERROR/interrupted and its shell is
    deleted all the same."""
    import threading

    password = new_password()
    started = threading.Event()

    def on_runner(runner: Any) -> None:
        def stop_when_started() -> None:
            started.wait(10)
            runner.request_stop()
            runner.request_stop()
        threading.Thread(target=stop_when_started, daemon=True).start()

    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine, faults="0=endless") as fleet:
        host_server = fleet.hosts[0]

        class Watch:
            def __init__(self) -> None:
                self.machine = host_server.machine

            def run(self, line: str, codepage: int = 437) -> Any:
                started.set()
                return self.machine.run(line, codepage)

            @property
            def hostname(self) -> str:
                return str(self.machine.hostname)

        fleet.set_machine(0, Watch())  # type: ignore[arg-type]
        result = scan(fleet, tmp_path, password, timeout=30.0, on_runner=on_runner)
        left = fleet.hosts[0].open_shells
    host = only(result)
    assert host.error is not None and host.error.category is ErrorCategory.INTERRUPTED
    assert left == 0


# -- registry values --------------------------------------------------------------------------------------

def test_reg_expand_sz_is_expanded_wow64_aware(tmp_path: Path) -> None:
    """A REG_EXPAND_SZ TraceFilename `%ProgramFiles%\\...` under Wow6432Node on 64-bit Windows is the 32-bit
    program's folder, `C:\\Program Files (x86)`, and the log there is read."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=site_server("2003", x64=True, expand=True)) as fleet:
        host = only(scan(fleet, tmp_path, password))
    assert host.verdict is not Verdict.ERROR, host.error
    assert host.facts.log_path == r"C:\Program Files (x86)\Microsoft Configuration Manager\Logs\wsyncmgr.log"
    assert host.facts.registry_root == r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS" and host.facts.logs


def test_setup_type_is_shown_raw(tmp_path: Path) -> None:
    """Setup\\Type is reported as the registry holds it ("1"): its coding is not confirmed for ConfigMgr 2007."""
    password = new_password()
    with Fleet(profiles=["h"], password=password, machine_factory=healthy_machine) as fleet:
        host = only(scan(fleet, tmp_path, password))
    assert host.facts.site_type == "1"
