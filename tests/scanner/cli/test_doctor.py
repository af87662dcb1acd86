"""`cmaudit doctor`: for each way a host cannot be audited, the step that fails, what it saw and a hint; the
jump box's own problems; exit 0 / 1 / 64; read-only, bounded by --timeout, careful with passwords."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import scanner.winrm.doctor_probes as doctor_probes
from scanner.cli.main import main
from simulator import Fleet
from tests.support.kerberos import DOMAIN, kerberos_fleet
from tests.support.scans import is_read_only, new_password

pytestmark = pytest.mark.network

STEPS = ["dns", "tcp", "http listener", "auth methods", "logon", "shell", "registry", "log file"]
# Upper bound that only a real hang breaks (a loaded 2-core box), far below what an unbounded wait would take.
HANG_BOUND = 30.0


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["doctor", "--json", "--no-history", *args])
    out = capsys.readouterr().out
    return status, json.loads(out)


def by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in report["hosts"]}


def failed_at(host: dict[str, Any]) -> dict[str, Any]:
    """The failing check, which must also be the last one (doctor stops at the first failure)."""
    failing = [c for c in host["checks"] if not c["ok"]]
    assert len(failing) == 1 and host["checks"][-1] is failing[0], host
    assert failing[0]["detail"] and failing[0]["hint"], failing[0]
    return failing[0]


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    secret = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", secret)
    return secret


def test_healthy_host_passes_every_step_as_json(tmp_path, capsys, password):
    """A healthy host passes every step in the scan's order; the JSON has exactly the documented shape."""
    with Fleet(hosts=1, scenario="sp1-affected", password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "-o", str(tmp_path / "runs"))
    assert status == 0
    assert set(report) == {"hosts", "local"}
    host = report["hosts"][0]
    assert set(host) == {"host", "address", "port", "ok", "checks"} and host["ok"] is True
    assert [c["name"] for c in host["checks"]] == STEPS
    assert all(set(c) == {"name", "ok", "detail", "hint"} and c["ok"] and c["hint"] == "" for c in host["checks"])
    assert {c["name"] for c in report["local"]} >= {"python packages", "password", "keyring", "output folder",
                                                    "history database"}


@pytest.mark.parametrize(("profile", "fault", "step", "words"), [
    pytest.param("sp1-affected", "refuse", "tcp", ("refused", "WinRM service"), id="refused-port"),
    pytest.param("sp1-affected", "iis404", "http listener", ("IIS", "winrm quickconfig"), id="iis-listener"),
    pytest.param("sp1-affected", "krbonly", "auth methods", ("offers Kerberos", "--auth kerberos"),
                 id="kerberos-only-listener"),
    pytest.param("sp1-affected", "badauth", "logon", ("credentials rejected", "password"), id="bad-password"),
    pytest.param("sp1-affected", "nonadmin", "shell", ("Access is denied", "administrator"), id="not-admin"),
    pytest.param("sp1-affected", "noshell", "shell", ("remote shell", "AllowRemoteShellAccess"),
                 id="remote-shell-disabled"),
    pytest.param("sp1-affected", "regdenied", "registry", ("Access is denied", "read access"), id="registry-denied"),
    pytest.param("missing-log", None, "log file", ("does not exist", "TraceFilename"), id="log-missing"),
    pytest.param("sp1-affected", "logdenied", "log file", ("Access is denied", "read access"), id="log-denied"),
])
def test_each_failure_names_its_step_and_a_hint(tmp_path, capsys, password, profile, fault, step, words):
    """Each way a host cannot be audited stops doctor at the matching step, with what it saw and what to do."""
    with Fleet(profiles=[profile], password=password, faults=f"0={fault}" if fault else None) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username)
        commands = fleet.hosts[0].commands
    failing = failed_at(report["hosts"][0])
    assert status == 1 and failing["name"] == step
    text = failing["detail"] + " " + failing["hint"]
    assert all(word.lower() in text.lower() for word in words), failing
    assert all(is_read_only(command) for command in commands), commands


def test_another_product_needs_no_log(tmp_path, capsys, password):
    """An SMS 2003 site server (no wsyncmgr.log, as such a site has) passes: the scan judges it NOT_APPLICABLE
    from its build alone, so doctor says so after the registry instead of failing at the log."""
    with Fleet(profiles=["sms2003"], password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username)
    host = report["hosts"][0]
    assert status == 0 and host["ok"], host["checks"]
    assert host["checks"][-1]["name"] == "registry"
    assert "SMS 2003" in host["checks"][-1]["detail"] and "NOT_APPLICABLE" in host["checks"][-1]["detail"]


def test_missing_log_of_a_fixed_build_is_not_a_failure(tmp_path, capsys, password):
    """An SP2 site server whose wsyncmgr.log is not there passes (noting it): the scan judges SP2 NOT_AFFECTED from
    its build, log or not."""
    from simulator.profiles import load_machine
    from simulator.registry import RegType

    def no_log(profile, hostname):
        machine = load_machine(profile, hostname)
        machine.registry.set_value(r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER",
                                   "TraceFilename", RegType.REG_SZ, r"C:\nowhere\wsyncmgr.log")
        return machine

    with Fleet(profiles=["sp2"], password=password, machine_factory=no_log) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username)
    host = report["hosts"][0]
    assert status == 0 and host["ok"], host["checks"]
    log = host["checks"][-1]
    assert log["name"] == "log file" and "does not exist" in log["detail"] and "NOT_AFFECTED" in log["detail"]


@pytest.mark.parametrize(("profile", "fault", "words"), [
    pytest.param("missing-log", None, ("does not exist", "TraceFilename"), id="missing"),
    pytest.param("sp1-affected", "logdenied", ("Zugriff verweigert", "read access"), id="denied"),
])
def test_log_step_tells_missing_from_denied_in_any_language(tmp_path, capsys, password, monkeypatch, profile, fault,
                                                             words):
    """On a German Windows `type` says neither "cannot find" nor "denied": doctor tells a missing log from a denied
    one as the scan does (by the host's own words for a file that cannot exist), with the matching hint."""
    import simulator.programs.typecmd as typecmd

    monkeypatch.setitem(typecmd._MESSAGES, "file", "Das System kann die angegebene Datei nicht finden.\r\n")
    monkeypatch.setitem(typecmd._MESSAGES, "path", "Das System kann den angegebenen Pfad nicht finden.\r\n")
    monkeypatch.setitem(typecmd._MESSAGES, "dir", "Zugriff verweigert\r\n")
    with Fleet(profiles=[profile], password=password, faults=f"0={fault}" if fault else None) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username)
        commands = fleet.hosts[0].commands
    failing = failed_at(report["hosts"][0])
    assert status == 1 and failing["name"] == "log file"
    assert words[0] in failing["detail"] and words[1] in failing["hint"], failing
    assert all(is_read_only(command) for command in commands), commands


def test_tls_10_only_listener_is_named(tmp_path, capsys, password):
    """A 2003/2008 HTTPS listener that speaks only TLS 1.0 fails at tls, saying so and naming the legacy option."""
    with Fleet(hosts=1, scenario="sp1-affected", tls=True, password=password, faults="0=tls10",
               eras="modern") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        # the admin has not (yet) marked the host legacy: doctor must say what to set
        inventory.write_text(inventory.read_text(encoding="utf-8").replace(",legacy", ",modern"), encoding="utf-8")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--ca-file", str(fleet.ca_file))
    failing = failed_at(report["hosts"][0])
    assert status == 1 and failing["name"] == "tls"
    assert "TLSv1" in failing["detail"] and "legacy" in failing["hint"]


def test_tls_legacy_option_is_the_doctors_too(tmp_path, capsys, password):
    """`cmaudit doctor --tls legacy` treats hosts without a `tls` column as legacy, as the scan does."""
    with Fleet(hosts=1, scenario="legacy-https", password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        lines = inventory.read_text(encoding="utf-8").splitlines()
        inventory.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", encoding="utf-8")
        failing_status, _ = doctor(capsys, str(inventory), "--username", fleet.username, "--ca-file",
                                   str(fleet.ca_file))
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--ca-file",
                                str(fleet.ca_file), "--tls", "legacy")
    assert failing_status == 1 and status == 0, report["hosts"][0]["checks"]


def test_tls_legacy_host_passes_the_tls_step(tmp_path, capsys, password):
    """A 2003 R2 HTTPS listener whose inventory row says tls=legacy passes the tls step over TLS 1.0 with the
    certificate validated, and the doctor goes on to the shell (code page 437, as the scan uses)."""
    with Fleet(hosts=1, scenario="legacy-https", password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--ca-file", str(fleet.ca_file))
    checks = {c["name"]: c for c in report["hosts"][0]["checks"]}
    assert status == 0, report["hosts"][0]["checks"]
    assert checks["tls"]["ok"] and checks["tls"]["detail"].startswith("TLSv1,")
    assert "code page 437" in checks["shell"]["detail"]


@pytest.mark.parametrize(("fault", "words"), [pytest.param("expiredcert", ("expired", "renew"), id="expired"),
                                              pytest.param("untrustedcert", ("local issuer", "--ca-file"),
                                                           id="untrusted")])
def test_certificate_problems_are_explained(tmp_path, capsys, password, fault, words):
    """An expired or untrusted certificate fails at tls with its subject, issuer and expiry; --insecure lets it pass
    as the scan would, still saying what is wrong (a modern listener: Basic with a domain account)."""
    with Fleet(hosts=1, scenario="sp1-affected", tls=True, password=password, faults=f"0={fault}",
               eras="modern") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        args = [str(inventory), "--username", fleet.username, "--ca-file", str(fleet.ca_file)]
        status, report = doctor(capsys, *args)
        insecure_status, insecure = doctor(capsys, *args, "--insecure")
    failing = failed_at(report["hosts"][0])
    assert status == 1 and failing["name"] == "tls" and "valid until" in failing["detail"]
    assert words[0] in failing["detail"] and words[1] in failing["hint"]
    tls = next(c for c in insecure["hosts"][0]["checks"] if c["name"] == "tls")
    assert insecure_status == 0 and tls["ok"] and "--insecure" in tls["detail"], insecure["hosts"][0]["checks"]


@pytest.mark.kerberos
def test_missing_spn_fails_the_logon_with_setspn(kdc, tmp_path, capsys, monkeypatch):
    """With a kinit ticket, a host whose SPN is not registered fails at logon with the KDC's reason and the
    setspn command; the jump box's ticket is shown with its expiry."""
    ccache = f"FILE:{tmp_path / 'ticket'}"
    kdc.kinit(ccache)
    monkeypatch.setenv("KRB5CCNAME", ccache)
    with kerberos_fleet(kdc, hosts=2, registered=[f"CM000.{DOMAIN}"]) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory))
    hosts = by_host(report)
    assert status == 1 and hosts[f"CM000.{DOMAIN}"]["ok"]
    assert "logged on with kerberos" in hosts[f"CM000.{DOMAIN}"]["checks"][4]["detail"]
    failing = failed_at(hosts[f"CM001.{DOMAIN}"])
    assert failing["name"] == "logon" and "server not found in Kerberos database" in failing["detail"]
    assert f"setspn -S HTTP/cm001.{DOMAIN} CM001" in failing["hint"]
    assert f"SPN HTTP/cm001.{DOMAIN}" in hosts[f"CM001.{DOMAIN}"]["checks"][0]["detail"]
    kerberos = next(c for c in report["local"] if c["name"] == "kerberos")
    assert kerberos["ok"] and kdc.user in kerberos["detail"] and "expires in" in kerberos["detail"]


@pytest.mark.kerberos
def test_no_ticket_is_a_local_problem(kdc, tmp_path, capsys):
    """Kerberos without a ticket is a problem of the jump box: exit 64, the kerberos check says kinit."""
    with kerberos_fleet(kdc, hosts=1) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory))
    kerberos = next(c for c in report["local"] if c["name"] == "kerberos")
    assert status == 64 and not kerberos["ok"] and "kinit" in kerberos["hint"]


def test_unwritable_output_and_broken_history_are_local_problems(tmp_path, capsys, password):
    """An output folder that cannot be written and a history file that is no database are exit 64."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    history = tmp_path / "history.sqlite3"
    history.write_bytes(b"definitely not SQLite" * 100)
    status = main(["doctor", "--json", "-o", str(blocker / "runs"), "--history", str(history)])
    report = json.loads(capsys.readouterr().out)
    local = {c["name"]: c for c in report["local"]}
    assert status == 64 and report["hosts"] == []
    assert not local["output folder"]["ok"] and local["output folder"]["hint"]
    assert not local["history database"]["ok"] and local["history database"]["hint"]
    assert history.read_bytes() == b"definitely not SQLite" * 100  # read-only: untouched


def test_a_rejected_password_is_not_tried_on_other_hosts(tmp_path, capsys, monkeypatch):
    """A wrong password is tried on one host only: the account's other hosts say why they were not tried."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", "wrong-" + new_password())
    with Fleet(hosts=3, scenario="sp1-affected", password=new_password()) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--concurrency", "1")
        failures = [h.counters.auth_failures for h in fleet.hosts]
    checks = [failed_at(h) for h in report["hosts"]]
    assert status == 1 and failures == [1, 0, 0]
    assert "credentials rejected" in checks[0]["detail"]
    assert all("not tried" in c["detail"] and "lockout" in c["hint"] for c in checks[1:])


def test_a_host_not_tried_says_whose_lockout_it_prevents(tmp_path, capsys, monkeypatch):
    """A host doctor did not log on to says so in the scan's words: "not tried: protects ACCOUNT from a lockout"."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", "wrong-" + new_password())
    with Fleet(hosts=2, scenario="sp1-affected", password=new_password()) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        _status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--concurrency", "1")
        first = fleet.hosts[0].name
    detail = failed_at(report["hosts"][1])["detail"]
    assert detail == (f"not tried: protects {fleet.username} from a lockout (1 host(s) in a row rejected its "
                      f"password: {first})")


def test_hanging_host_is_cut_off_at_the_timeout(tmp_path, capsys, password):
    """A host that accepts connections but never answers fails at the step it hung in, within --timeout."""
    with Fleet(hosts=2, scenario="sp1-affected", password=password, faults="1=hang") as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        started = time.monotonic()
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--timeout", "3",
                                "--connect-timeout", "2")
        elapsed = time.monotonic() - started
    hosts = report["hosts"]
    failing = failed_at(hosts[1])
    assert status == 1 and hosts[0]["ok"] and elapsed < HANG_BOUND
    assert failing["name"] == "http listener"


def test_another_winrm_port_answering_is_named(tmp_path, capsys, password, monkeypatch):
    """When the configured port refuses but another WinRM port answers, doctor names it in the hint."""
    with Fleet(hosts=2, scenario="sp1-affected", password=password, faults="0=refuse") as fleet:
        live = fleet.hosts[1].port
        monkeypatch.setattr(doctor_probes, "WINRM_PORTS", (live,))  # stands in for 5985/5986/80/443
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--host", "CM000")
    failing = failed_at(report["hosts"][0])
    assert status == 1 and len(report["hosts"]) == 1
    assert failing["name"] == "tcp" and str(live) in failing["detail"] and f"port {live}" in failing["hint"]


def test_unknown_host_name_is_bad_usage(tmp_path, capsys, password):
    """--host naming a host the inventory does not hold is exit 64 naming it."""
    with Fleet(hosts=1, scenario="sp1-affected", password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(["doctor", str(inventory), "--host", "nosuchhost"])
    assert status == 64 and "nosuchhost" in capsys.readouterr().err


def test_terminal_table_names_the_failing_step(tmp_path, capsys, password):
    """Without --json doctor prints a table per host headed by the step it failed at, and the hint."""
    with Fleet(profiles=["missing-log"], password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status = main(["doctor", str(inventory), "--username", fleet.username, "--no-history"])
    out = capsys.readouterr().out
    assert status == 1 and "CM000 (127.0.0.1:" in out and "FAILED at log file" in out and "TraceFilename" in out
    assert "0 of 1 host(s) ready for a scan" in out


def test_mail_relay_is_checked_with_ehlo_only(tmp_path, capsys):
    """A configured mail relay that does not answer is a local problem (exit 64) naming it."""
    config = tmp_path / "cmaudit.toml"
    config.write_text('[mail]\nto = ["ops@example.test"]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\n'
                      "timeout = 5\n", encoding="utf-8")
    status = main(["doctor", "--json", "--config", str(config), "--no-history", "-o", str(tmp_path / "runs")])
    local = {c["name"]: c for c in json.loads(capsys.readouterr().out)["local"]}
    assert status == 64 and not local["mail relay"]["ok"] and "127.0.0.1:9" in local["mail relay"]["detail"]



@pytest.mark.kerberos
def test_wrong_kerberos_password_is_one_local_failure(kdc, tmp_path, capsys, monkeypatch):
    """With user@REALM and a wrong password doctor asks the KDC once: exit 64, the kerberos check says the
    password was refused, and no host logon is attempted with it."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", "wrong-" + kdc.password)
    with kerberos_fleet(kdc, hosts=3) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", kdc.user)
        handshakes = sum(h.counters.auth_handshakes + h.counters.auth_failures for h in fleet.hosts)
    kerberos = next(c for c in report["local"] if c["name"] == "kerberos")
    assert status == 64 and not kerberos["ok"] and "password was refused" in kerberos["detail"]
    assert kdc.preauth_failures() == 1
    assert handshakes == 0


def test_a_wrong_password_reaches_one_host_of_forty(tmp_path, capsys, monkeypatch):
    """40 healthy hosts at --concurrency 32 with a wrong password: the servers see one failed logon in all; every
    other host still gets its network checks and says why its logon was not tried."""
    monkeypatch.setenv("CMAUDIT_PASSWORD", "wrong-" + new_password())
    with Fleet(hosts=40, scenario="sp1-affected", password=new_password()) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory), "--username", fleet.username, "--concurrency", "32")
        wrong = [h.counters.wrong_passwords for h in fleet.hosts]
    assert status == 1 and sum(wrong) == 1
    checks = [failed_at(h) for h in report["hosts"]]
    assert all(c["name"] == "logon" for c in checks)
    assert sum("not tried" in c["detail"] for c in checks) == 39


def test_no_user_name_is_said_once(tmp_path, capsys, password):
    """Without --username, doctor says so once, as a jump-box problem (exit 64), and no host tries to log on or
    shows the client library's raw exception."""
    with Fleet(hosts=3, scenario="sp1-affected", password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        status, report = doctor(capsys, str(inventory))
        handshakes = [h.counters.auth_handshakes + h.counters.auth_failures for h in fleet.hosts]
    local = {c["name"]: c for c in report["local"]}
    assert status == 64 and not local["account"]["ok"] and "--username" in local["account"]["hint"]
    assert handshakes == [0, 0, 0]
    details = [failed_at(h)["detail"] for h in report["hosts"]]
    assert all(d == "not tried: no user name (see the account check)" for d in details)
    assert "OperationNotAvailableError" not in json.dumps(report)


def test_terminal_output_is_a_line_per_ready_host_and_ends_with_those_not_ready():
    """Twelve hosts, two failing: one line per ready host, the steps only for the failing ones, and a closing
    list naming each host not ready with the step it failed at and why."""
    import io

    from scanner.cli.commands.doctor import print_diagnosis
    from scanner.model.doctor_checks import Check, Diagnosis, HostDiagnosis

    passed = tuple(Check(step, True, f"{step} fine") for step in STEPS)
    refused = (*passed[:4], Check("logon", False, "credentials rejected (HTTP 401)", "check the password"))
    no_log = (*passed[:-1], Check("log file", False, "wsyncmgr.log not found", "check TraceFilename"))
    hosts = [HostDiagnosis(f"SMS{i:02d}", f"10.0.0.{i}", 5985, passed) for i in range(10)]
    hosts[3] = HostDiagnosis("SMS03", "10.0.0.3", 5985, refused)
    hosts[7] = HostDiagnosis("SMS07", "10.0.0.7", 5985, no_log)
    hosts += [HostDiagnosis(f"SMS{i:02d}", f"10.0.0.{i}", 5985, passed) for i in (10, 11)]
    out = io.StringIO()
    print_diagnosis(Diagnosis(local=(Check("output folder", True, "writable"),), hosts=tuple(hosts)), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Jump box: ok (output folder)"
    ready = [line for line in lines if "  ready (" in line]
    assert len(ready) == 10 and all(line.startswith("SMS") for line in ready)
    assert len(lines) < 40  # a failing host's steps, not every host's
    tail = lines[lines.index("10 of 12 host(s) ready for a scan"):]
    assert tail[1:] == ["Not ready (2):",
                        "  SMS03 (10.0.0.3:5985): logon: credentials rejected (HTTP 401); check the password",
                        "  SMS07 (10.0.0.7:5985): log file: wsyncmgr.log not found; check TraceFilename"]


def test_a_ready_line_names_each_step_once():
    """A host whose registry was read twice (code page 65001, then 437, as on Server 2008) is "ready (..., registry,
    log file)", not "registry, registry"."""
    import io

    from scanner.cli.commands.doctor import print_diagnosis
    from scanner.model.doctor_checks import Check, Diagnosis, HostDiagnosis

    checks = [Check(step, True, f"{step} fine") for step in STEPS]
    at = STEPS.index("registry")
    checks.insert(at, Check("registry", True, "nothing ran under code page 65001 (as on Server 2008): 437 instead"))
    out = io.StringIO()
    print_diagnosis(Diagnosis(local=(), hosts=(HostDiagnosis("SMS08", "10.0.0.8", 5985, tuple(checks)),)), out)
    (line,) = [line for line in out.getvalue().splitlines() if "ready (" in line]
    assert line.endswith(f"ready ({', '.join(STEPS)})")


def test_an_ipv6_host_is_written_with_brackets():
    """doctor names an IPv6 host as SMS08 ([2001:db8::8]:5985), so the port is not read as part of the address."""
    import io

    from scanner.cli.commands.doctor import print_diagnosis
    from scanner.model.doctor_checks import Check, Diagnosis, HostDiagnosis

    checks = tuple(Check(step, True, f"{step} fine") for step in STEPS)
    out = io.StringIO()
    print_diagnosis(Diagnosis(local=(), hosts=(HostDiagnosis("SMS08", "2001:db8::8", 5985, checks),)), out)
    assert "SMS08 ([2001:db8::8]:5985)  ready (" in out.getvalue()
