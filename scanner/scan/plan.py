"""The plan step of a scan: everything settled before the first host is contacted, in two halves.

- `read_inputs`: the waivers, the inventory, the advisory, the hosts chosen (--hosts/--tag/--site,
  --rescan-failed), the run's folder, and the pre-flight checks (scanner.scan.preflight). Bad input is a
  one-line UsageError (exit 64) before any prompt and any host.
- `settle_logons`: each host's password or refusal, NTLM hashes, Kerberos tickets: one `RunPlan`.
Two halves so the CLI shows the first half's warnings (--insecure above all) before a password prompt.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from inventory import load_inventory
from inventory.select import select_hosts, selection
from scanner.config.waivers import as_of, load_waivers, unmatched
from scanner.history.database import audit_name_for, last_rejected_passwords
from scanner.model.errors import HostAuthFailed, HostError, UsageError
from scanner.model.notes import Note
from scanner.model.records import RejectedPassword, RunResults, Waiver
from scanner.model.redaction import REDACTOR
from scanner.model.times import parse_utc
from scanner.scan import preflight
from scanner.scan.advisory_file import load_advisory
from scanner.scan.credentials import PasswordResolver
from scanner.scan.kerberos_setup import KerberosRun, prepare_kerberos
from scanner.scan.results import hosts_to_rescan, load_earlier_run, rescan_waivers
from scanner.scan.run_plan import HostKey, RunInputs, RunPlan
from scanner.scan.runner import utc_now
from scanner.scan.settings import ScanSettings
from scanner.winrm.ntlm import NtlmHashes, ntlm_credentials
from scanner.winrm.transport_policy import kerberos_problem, validate_transport

if TYPE_CHECKING:
    from inventory import Inventory
    from scanner.model.host import Host

DEFAULT_RUNS_DIR = "cmaudit-runs"
PASSWORD_AUTH = ("ntlm", "basic", "credssp")  # negotiate/kerberos may use the jump box's ticket instead

def default_output_dir(base: Path | None = None) -> Path:
    """A fresh UTC-timestamped folder under ./cmaudit-runs/ (suffixed if two runs start in one second)."""
    root = base or Path.cwd() / DEFAULT_RUNS_DIR
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = root / stamp
    n = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{n}"
        n += 1
    return candidate


def _day(iso_time: str) -> date:
    """The UTC date of a run's start: the day waivers are judged on."""
    return (parse_utc(iso_time) or datetime.now(UTC)).date()


def read_inputs(settings: ScanSettings) -> RunInputs:
    """The first half of the plan (see the module doc); raises UsageError before anything is contacted."""
    started, run_id = utc_now(), uuid.uuid4().hex
    # Read before anything else, so a bad file stops the run before any host is contacted.
    waivers = as_of(load_waivers(settings.waivers), _day(started)) if settings.waivers is not None else ()
    inventory = load_inventory(settings.inventory, default_port=settings.port, default_scheme=settings.scheme,
                               default_auth=settings.auth, default_tls=settings.tls)
    advisory = load_advisory()
    chosen = selection(settings.host_patterns, settings.tags, settings.sites)
    hosts = select_hosts(inventory.hosts, chosen)
    if chosen and not hosts:
        raise UsageError(f"{settings.inventory}: no host matches {' '.join(chosen.describe())}")
    earlier: RunResults | None = None
    if settings.rescan_failed is not None:
        earlier = load_earlier_run(settings.rescan_failed, advisory.id)
        if settings.waivers is None:  # as INVENTORY: the earlier run's waivers file, as it reads today
            waivers = as_of(rescan_waivers(earlier, settings.rescan_failed), _day(started))
        hosts = hosts_to_rescan(earlier, hosts)
        if not hosts:
            nothing = Note(f"{settings.rescan_failed}: no ERROR or UNKNOWN host of that run is in "
                           f"{settings.inventory}{' and chosen' if chosen else ''}: nothing to scan again")
            return RunInputs(settings, started, run_id, settings.rescan_failed.parent, inventory, advisory, (),
                             earlier=earlier, notes=(nothing,))
    inputs = RunInputs(settings, started, run_id, settings.output or default_output_dir(), inventory, advisory,
                       hosts, chosen.describe(), earlier, waivers, _input_notes(settings, inventory, waivers))
    preflight.run_checks(inputs)  # before any prompt and any host: a run that cannot keep its results never starts
    return replace(inputs, unproven=_unproven(settings, earlier))


def _unproven(settings: ScanSettings, earlier: RunResults | None) -> tuple[RejectedPassword, ...]:
    """The accounts the run before this one stopped short for: --rescan-failed's run, else the audit's latest
    recorded run (one row of the history, read after the pre-flight checks opened it)."""
    if earlier is not None:
        return earlier.meta.rejected_passwords
    if settings.history is None:
        return ()
    return last_rejected_passwords(settings.history, settings.audit or audit_name_for(str(settings.inventory)))


def _input_notes(settings: ScanSettings, inventory: Inventory, waivers: Sequence[Waiver]) -> tuple[Note, ...]:
    """The inventory's oddities (not under --quiet), waivers naming no host, and --insecure's warning."""
    notes = [Note(f"warning: {warning}", problem=False) for warning in inventory.warnings]
    notes += [Note(f"warning: {w.source}: the waiver for {w.host!r} matches no host of {settings.inventory} "
                   "(a typo, or a retired host: fix or remove it)")
              for w in unmatched(waivers, (h.name for h in inventory.hosts))]
    if settings.insecure:
        notes.append(Note("WARNING: --insecure: TLS certificates are NOT validated and Basic over HTTP is "
                          "allowed; this run is recorded as insecure"))
    return tuple(notes)


@contextlib.contextmanager
def settle_logons(inputs: RunInputs, *, environ: Mapping[str, str] | None = None,
                  prompt: Callable[[str], str] | None = None) -> Iterator[RunPlan]:
    """The second half of the plan: the run's logons, valid while the `with` block runs.

    Passwords are looked up once, before any thread starts, so a prompt never races the progress bar.
    Kerberos is settled before any host is contacted: a missing ticket or a wrong password is exit 64 here.
    Inside the block the debug trace scrubs every password form; the private ticket caches end with it.
    """
    settings, hosts = inputs.settings, inputs.hosts
    resolver = PasswordResolver(default_env=settings.password_env, interactive=settings.interactive,
                                environ=environ, prompt=prompt)
    passwords, refused = _passwords(hosts, settings, resolver)
    if hosts and len(refused) == len(hosts):
        first = next(iter(refused.values()))
        hint = f" ({first.hint})" if first.hint else ""
        raise UsageError(f"no host can be scanned: {first.message}{hint}")
    # NTLM hosts log on with the password's hashes, computed once per password (the logon doctor tests too)
    ntlm = ntlm_credentials(hosts, passwords, settings.username, skip=refused)
    hash_forms = {form for hashes in ntlm.values() for form in hashes[1].secret_forms()}
    secrets = tuple(sorted({p for p in passwords.values() if p} | hash_forms, key=len, reverse=True))
    REDACTOR.remember(secrets)  # the --debug trace scrubs them, whatever a library puts in a message
    kerberos: KerberosRun | None = None
    try:
        kerberos = prepare_kerberos([h for h in hosts if h.key not in refused], default_user=settings.username,
                                    passwords=passwords)
        yield RunPlan(inputs, passwords, refused, secrets, _credentials(hosts, kerberos, ntlm),
                      tuple(Note(f"warning: {warning}") for warning in kerberos.warnings))
    finally:
        if kerberos is not None:
            kerberos.close()  # the private ticket caches live exactly as long as the run
        REDACTOR.forget()


def _passwords(hosts: Sequence[Host], settings: ScanSettings, resolver: PasswordResolver
               ) -> tuple[dict[HostKey, str | None], dict[HostKey, HostError]]:
    """Each host's password (None: none needed or found), and the hosts refused before any logon."""
    passwords: dict[HostKey, str | None] = {}
    refused: dict[HostKey, HostError] = {}
    for host in hosts:
        refusal = _transport_refusal(host, insecure=settings.insecure)
        if refusal is not None:
            refused[host.key] = refusal
            continue
        user = host.username or settings.username
        secret = resolver.secret(host, username=user) if user or host.auth not in PASSWORD_AUTH else None
        passwords[host.key] = secret.reveal() if secret else None
        if host.auth == "basic" and not _basic_can_send(user, passwords[host.key]):
            where = f"{host.name} ({host.source})" if host.source else host.name
            raise UsageError(f"{where}: Basic authentication can only send a user name and password in Latin-1, "
                             "and this account's hold other characters; use ntlm or negotiate for it")
        missing = _missing_credential(host, user, secret is not None, settings.password_env)
        if missing is not None:
            refused[host.key] = missing
    return passwords, refused


def _missing_credential(host: Host, user: str | None, has_password: bool, default_env: str) -> HostError | None:
    """Why a host that logs on with a password (ntlm, basic, credssp) cannot even try: no user name, or no
    password (where it should come from); None when it has both or needs neither."""
    if host.auth not in PASSWORD_AUTH:
        return None
    if not user:  # pypsrp would only fail per host, after connecting
        return HostAuthFailed(host.name, f"no user name for {host.auth} logons", password_rejected=False,
                              hint="give --username DOMAIN\\user (or `username` in the inventory)")
    if not has_password:
        where = f"${host.password_env} or " if host.password_env else ""
        return HostAuthFailed(host.name, f"no password for {user}", password_rejected=False,
                              hint=f"set {where}${default_env}, store it in the keyring, or run on a terminal to "
                                   "be prompted")
    return None


def _transport_refusal(host: Host, *, insecure: bool) -> HostError | None:
    """Why this host's auth and scheme may not be tried at all (a password in clear, Kerberos to an IP)."""
    try:
        validate_transport(host, insecure=insecure)
    except UsageError as exc:
        return HostError(host.name, str(exc), hint="Use https for this host (inventory `transport`), or another "
                                                   "auth method; --insecure allows it but sends the password "
                                                   "readable.")
    problem = kerberos_problem(host)
    if problem is not None:
        message, hint = problem
        return HostAuthFailed(host.name, message, hint=hint, password_rejected=False)
    return None


def _basic_can_send(user: str | None, password: str | None) -> bool:
    """HTTP Basic (requests) encodes `user:password` as Latin-1: anything else fails mid-handshake."""
    try:
        f"{user or ''}:{password or ''}".encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _credentials(hosts: Sequence[Host], kerberos: KerberosRun,
                 ntlm: Mapping[HostKey, tuple[object, NtlmHashes]]) -> dict[HostKey, object]:
    """Each host's pyspnego credential: its account's Kerberos ticket cache, else its NTLM hashes."""
    credentials: dict[HostKey, object] = {}
    for host in hosts:
        credential = kerberos.credential_for(host)
        if credential is None and host.key in ntlm:
            credential = ntlm[host.key][0]
        if credential is not None:
            credentials[host.key] = credential
    return credentials
