"""`cmaudit doctor`'s run: the jump box's checks, then each host's diagnosis, like a scan (no output here:
scanner.cli.commands.doctor prints the `Diagnosis`, scanner.model.doctor_checks holds its records).

Local checks (the jump box): the python packages the chosen auth needs, the password's source, the
Kerberos ticket and its expiry (or one TGT for user@REALM), the keyring, the output folder, the history
database and the mail relay (connect and EHLO only). Then every host (or the ones --host names), concurrently
like a scan and bounded by --timeout, through scanner.winrm.doctor_probes's steps. Nothing is written anywhere:
the history is opened read-only, the output folder only looked at.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from inventory import load_inventory
from scanner.advisory.builds import BuildStatus as AdvisoryStatus
from scanner.advisory.builds import classify
from scanner.history.database import probe_history
from scanner.model.doctor_checks import Check, Diagnosis, HostDiagnosis
from scanner.model.errors import UsageError
from scanner.model.host import DEFAULT_PORTS, Host
from scanner.model.options import DEFAULT_SPN_SERVICE
from scanner.model.redaction import REDACTOR
from scanner.publish.mail import probe_relay
from scanner.scan.accounts import AccountKey
from scanner.scan.advisory_file import load_advisory
from scanner.scan.credentials import KEYRING_SERVICE, PasswordResolver
from scanner.scan.doctor_gate import BlockingGate, GatedDoctor, LogonTurn
from scanner.scan.kerberos_setup import TICKET_AUTH, KerberosRun, prepare_kerberos
from scanner.scan.logon_gate import LogonGate
from scanner.scan.runner import HostRun, Runner, RunnerOptions
from scanner.winrm.doctor_probes import BuildJudge, BuildStatus, HostDoctor
from scanner.winrm.kerberos import INSTALL_HINT, gssapi_missing, logged_on_account, uses_sspi
from scanner.winrm.kerberos import ticket_only as kerberos_ticket_only
from scanner.winrm.ntlm import ntlm_credentials
from scanner.winrm.session import SessionOptions
from scanner.winrm.transport_policy import validate_transport

if TYPE_CHECKING:
    from scanner.config.mail_settings import MailSettings

PASSWORD_AUTH = ("ntlm", "basic", "credssp")


@dataclass(frozen=True, slots=True)
class DoctorSettings:
    """What `cmaudit doctor` checks, with the scan's own options."""

    inventory: Path | None = None
    only: tuple[str, ...] = ()  # --host NAME: these hosts only (or, without an inventory, these names)
    username: str | None = None
    auth: str = "ntlm"
    port: int | None = None
    scheme: str = "http"
    tls: str = "modern"  # default TLS for hosts whose inventory does not say (legacy: 2003/2008 listeners)
    ca_file: str | None = None
    insecure: bool = False
    spn_service: str = DEFAULT_SPN_SERVICE
    password_env: str = "CMAUDIT_PASSWORD"
    interactive: bool = False
    timeout: float = 60.0
    connect_timeout: float = 10.0
    concurrency: int = 32
    max_auth_failures: int = 1  # rejected passwords per account before its other hosts are not tried
    output: Path | None = None  # where runs go (None: ./cmaudit-runs)
    history: Path | None = None  # None: the run is not recorded (--no-history)
    mail: MailSettings | None = None


def run_doctor(settings: DoctorSettings, *, environ: Mapping[str, str] | None = None,
               prompt: Callable[[str], str] | None = None) -> Diagnosis:
    """Check the jump box, then every chosen host; never raises for what it finds (only for bad usage).

    `prompt` asks for a password on the terminal (the CLI's getpass) when `settings.interactive` allows it.
    """
    hosts = _hosts(settings)
    local: list[Check] = [_packages(hosts, settings)]
    resolver = PasswordResolver(default_env=settings.password_env, interactive=settings.interactive,
                                environ=environ, prompt=prompt)
    passwords: dict[tuple[str, int], str | None] = {}
    missing: list[str] = []
    for host in hosts:
        user = host.username or settings.username
        secret = resolver.secret(host, username=user)
        passwords[host.key] = secret.reveal() if secret else None
        if secret is None and host.auth in PASSWORD_AUTH and (user or "") not in missing:
            missing.append(user or "")
    REDACTOR.remember(p for p in passwords.values() if p)
    if any(h.auth in PASSWORD_AUTH or h.username or settings.username for h in hosts):
        local.append(_password_check(resolver, missing, settings.password_env))
    local += _account_check(hosts, settings)
    kerberos = KerberosRun()
    kerberos_failed = False
    if any(h.auth in TICKET_AUTH for h in hosts):
        kerberos, check, usable = _kerberos_check(hosts, settings, passwords)
        local.append(check)
        kerberos_failed = not usable
    try:
        local += [_keyring_check(), _output_check(settings.output or Path.cwd() / "cmaudit-runs"),
                  _history_check(settings.history)]
        if settings.mail is not None:
            local.append(_mail_check(settings.mail))
        diagnosed = asyncio.run(_diagnose_hosts(hosts, settings, passwords, kerberos, kerberos_failed)) \
            if hosts else []
    finally:
        kerberos.close()
    return Diagnosis(tuple(local), tuple(diagnosed))


# -- which hosts ----------------------------------------------------------------------------------------------
def _hosts(settings: DoctorSettings) -> list[Host]:
    if settings.inventory is None:
        port = settings.port or DEFAULT_PORTS[settings.scheme]
        return [Host(name=name, address=name, port=port, scheme=settings.scheme, auth=settings.auth,
                     source="--host", tls=settings.tls) for name in settings.only]
    inventory = load_inventory(settings.inventory, default_port=settings.port, default_scheme=settings.scheme,
                               default_auth=settings.auth, default_tls=settings.tls)
    hosts = list(inventory.hosts)
    if settings.only:
        wanted = {name.lower() for name in settings.only}
        hosts = [h for h in hosts if h.name.lower() in wanted or h.address.lower() in wanted]
        found = {h.name.lower() for h in hosts} | {h.address.lower() for h in hosts}
        unknown = sorted(wanted - found)
        if unknown:
            raise UsageError(f"{settings.inventory}: no host {', '.join(unknown)} in this inventory")
    return hosts


# -- the jump box -----------------------------------------------------------------------------------------------
def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _packages(hosts: list[Host], settings: DoctorSettings) -> Check:
    auths = sorted({h.auth for h in hosts} or {settings.auth})
    found = [f"{name} {_version(name) or 'MISSING'}" for name in ("pypsrp", "pyspnego")]
    problems: list[tuple[str, str]] = []
    if "credssp" in auths:
        found.append(f"requests-credssp {_version('requests-credssp') or 'MISSING'}")
        if importlib.util.find_spec("requests_credssp") is None:
            problems.append(("requests-credssp is missing for --auth credssp", "pip install requests-credssp"))
    if set(auths) & set(TICKET_AUTH):
        if uses_sspi():
            found.append("Kerberos through Windows SSPI")
        else:
            found.append(f"gssapi {_version('gssapi') or 'MISSING'}, krb5 {_version('krb5') or 'MISSING'}")
            reason = gssapi_missing()
            with_user = settings.username or any(h.username for h in hosts)
            if reason is not None and ("kerberos" in auths or not with_user):  # negotiate + user: NTLM still works
                problems.append((reason, INSTALL_HINT))
    if problems:
        return Check("python packages", False, f"{problems[0][0]} ({', '.join(found)})", problems[0][1])
    return Check("python packages", True, f"{', '.join(found)}; auth {', '.join(auths)}")


def _account_check(hosts: list[Host], settings: DoctorSettings) -> list[Check]:
    """A failed "account" check when hosts that log on with a password have no user name (said once, here)."""
    nameless = [h for h in hosts if h.auth in PASSWORD_AUTH and not (h.username or settings.username)]
    if not nameless:
        return []
    auths = ", ".join(sorted({h.auth for h in nameless}))
    return [Check("account", False, f"no user name for the {len(nameless)} host(s) that log on with a password "
                                    f"({auths})",
                  "give --username DOMAIN\\user (or `username` in the inventory or in cmaudit.toml)")]


def _password_check(resolver: PasswordResolver, missing: list[str], env: str) -> Check:
    if missing:
        who = ", ".join(user or "the WinRM account" for user in missing)
        return Check("password", False, f"no password for {who}",
                     f"set ${env} (or the host's password_env), store it in the keyring (service "
                     f"{KEYRING_SERVICE!r}, the user name as account), or run doctor on a terminal to be prompted")
    sources = sorted({f"{user or 'default account'}: {where}" for user, where in resolver.sources.items()})
    return Check("password", True, "; ".join(sources) or "none needed (ticket or certificate logons)")


def _kerberos_check(hosts: list[Host], settings: DoctorSettings,
                    passwords: dict[tuple[str, int], str | None]) -> tuple[KerberosRun, Check, bool]:
    """The run's Kerberos state, its check, and whether hosts may log on with it at all."""
    try:
        run = prepare_kerberos(hosts, default_user=settings.username, passwords=passwords)
    except UsageError as exc:
        hint = getattr(exc, "hint", "") or "see the error's text"
        return KerberosRun(), Check("kerberos", False, str(getattr(exc, "reason", exc)), hint), False
    parts: list[str] = []
    for info in run.checked.values():
        left = "" if info.seconds_left is None else f", expires in {_duration(info.seconds_left)}"
        parts.append(f"ticket of {info.principal} ({info.source}{left})")
    parts += [f"one TGT for {user} (private ticket cache, deleted afterwards)" for user, _ in run.tickets]
    parts += run.warnings
    if uses_sspi():
        parts.append(_single_sign_on(hosts, settings))
    short = [info for info in run.checked.values() if info.seconds_left is not None
             and info.seconds_left < settings.timeout * 2]
    if short:
        return run, Check("kerberos", False, "; ".join(parts), "the ticket runs out during the scan: kinit again "
                                                               "(or renew it: kinit -R)"), True
    return run, Check("kerberos", True, "; ".join(parts) or "no ticket needed"), True


def _single_sign_on(hosts: list[Host], settings: DoctorSettings) -> str:
    """Windows: which account the hosts without a user name log on as (SSPI, as Invoke-Command does)."""
    alone = sum(1 for h in hosts if h.auth in TICKET_AUTH and not (h.username or settings.username))
    if not alone:
        return "Windows SSPI: Kerberos for the given user names"
    return (f"Windows single sign-on: {alone} host{'s' if alone > 1 else ''} without a user name log on as "
            f"{logged_on_account() or 'the logged-on account'} through SSPI (Kerberos, NTLM where Kerberos cannot), "
            "no password stored")


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def _keyring_check() -> Check:
    if importlib.util.find_spec("keyring") is None:
        return Check("keyring", True, "not installed (optional: pip install 'cmaudit[keyring]'); passwords come "
                                      "from the environment or a prompt")
    try:
        import keyring  # optional dependency (cmaudit[keyring]): here, only when installed

        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
    except Exception as exc:  # noqa: BLE001 - any keyring backend failure only means "no keyring"
        return Check("keyring", True, f"installed but unusable ({type(exc).__name__}); passwords come from the "
                                      "environment or a prompt")
    return Check("keyring", True, f"backend {name} (service {KEYRING_SERVICE!r})")


def _output_check(folder: Path) -> Check:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check("output folder", False, f"{existing} is not a folder", "choose another -o/output folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        return Check("output folder", False, f"{folder}: {existing} is not writable for this account",
                     "give the account running the scan write access, or choose another -o/output folder")
    state = "exists and is writable" if existing == folder else f"will be created ({existing} is writable)"
    return Check("output folder", True, f"{folder} {state}")


def _history_check(path: Path | None) -> Check:
    if path is None:
        return Check("history database", True, "not recorded (--no-history)")
    ok, detail, hint = probe_history(path)
    return Check("history database", ok, detail, hint)


def _mail_check(mail: MailSettings) -> Check:
    ok, detail, hint = probe_relay(mail)
    return Check("mail relay", ok, detail, hint)


# -- the hosts ------------------------------------------------------------------------------------------------
_WITHOUT_LOG = {AdvisoryStatus.NOT_APPLICABLE: "NOT_APPLICABLE", AdvisoryStatus.FIXED: "NOT_AFFECTED"}


def build_judge() -> BuildJudge:
    """What the scan's engine concludes from a build alone (the built-in advisory's ranges): another product is
    NOT_APPLICABLE, a build with the fix NOT_AFFECTED, whatever the log holds; None when the log decides."""
    ranges = load_advisory().builds

    def judge(build: str | None) -> BuildStatus | None:
        status, match = classify(build, ranges)
        verdict = _WITHOUT_LOG.get(status)
        return BuildStatus(match.name, verdict) if match is not None and verdict is not None else None

    return judge

async def _diagnose_hosts(hosts: list[Host], settings: DoctorSettings, passwords: dict[tuple[str, int], str | None],
                          kerberos: KerberosRun, kerberos_failed: bool) -> list[HostDiagnosis]:
    # the scan's own logon: an NTLM host logs on with the password's hashes, as run_scan sets it up
    ntlm = ntlm_credentials(hosts, passwords, settings.username)
    REDACTOR.remember(form for _credential, hashes in ntlm.values() for form in hashes.secret_forms())
    base = SessionOptions(username=settings.username, ca_file=settings.ca_file, insecure=settings.insecure,
                          connect_timeout=settings.connect_timeout, read_timeout=30.0, operation_timeout=20,
                          spn_service=settings.spn_service)
    gate = BlockingGate(LogonGate(settings.max_auth_failures))
    account_of = AccountKey.for_run(settings.username, hosts)
    judge = build_judge()
    jobs: dict[tuple[str, int], HostDoctor] = {}
    refused: dict[tuple[str, int], Check] = {}
    for host in hosts:
        try:
            validate_transport(host, insecure=settings.insecure)
        except UsageError as exc:
            refused[host.key] = Check("transport", False, str(exc), "use https, or --insecure (recorded as such)")

    def factory(host: Host, deadline: float, attempt: int) -> GatedDoctor:
        password = passwords.get(host.key)
        credential = kerberos.credential_for(host)
        if credential is None and host.key in ntlm:
            credential = ntlm[host.key][0]
        turn = LogonTurn(gate, host.name, deadline)
        options = replace(base, password=password, credential=credential, on_logon=turn.logged_on)
        ticket_only = kerberos_ticket_only(host.auth, password)
        job = HostDoctor(host, options, deadline, turn, account=account_of(host),
                         ticket_only=ticket_only, blocked=refused.get(host.key),
                         no_logon=_no_logon(host, settings, password, kerberos_failed), build_status=judge)
        jobs[host.key] = job
        return GatedDoctor(job, turn)

    # The gate waits at each host's logon step (HostDoctor asks it), so the steps before it run for every host.
    runner: Runner[Host, list[Check]] = Runner(
        factory, RunnerOptions(concurrency=settings.concurrency, timeout=settings.timeout, retries=0,
                               max_auth_failures=0, grace=0.5))
    runs = await runner.run(hosts)
    return [_host_diagnosis(run, jobs.get(run.host.key)) for run in runs]


def _no_logon(host: Host, settings: DoctorSettings, password: str | None, kerberos_failed: bool) -> str | None:
    """Why `host` must not even try to log on (said in full once, by a jump-box check), else None."""
    if kerberos_failed and host.auth in TICKET_AUTH:
        return "Kerberos is not usable from this jump box (see the kerberos check)"
    if host.auth in PASSWORD_AUTH and not (host.username or settings.username):
        return "no user name (see the account check)"
    if host.auth in PASSWORD_AUTH and not password:
        return "no password (see the password check)"
    return None


def _host_diagnosis(run: HostRun[Host, list[Check]], job: HostDoctor | None) -> HostDiagnosis:
    host = run.host
    checks = list(run.value if run.value is not None else (job.checks if job is not None else []))
    if run.error is not None:
        step = job.step if job is not None else "dns"
        hint = run.error.hint or ("the step did not finish within --timeout: the server (or the network) is slow or "
                                  "hangs; try a longer --timeout" if run.error.category.value == "timeout"
                                  else "this is a bug in cmaudit: run with --debug FILE and report the trace")
        checks.append(Check(step, False, run.error.message, hint))
    return HostDiagnosis(host.name, host.address, host.port, tuple(checks))
