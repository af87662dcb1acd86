"""Kerberos for a scan, settled in its plan step before any host is contacted.

For every host whose auth is `kerberos` or `negotiate` (on Linux/macOS; Windows uses SSPI and needs none
of this):
- `kerberos` with a `DOMAIN\\user` name is bad usage (a principal is `user@REALM`);
- no python-gssapi: bad usage for `kerberos` and for ticket logons; `negotiate` with a password falls
  back to NTLM, with a warning;
- no password (the jump box's ticket, from kinit or a client keytab): the ticket is checked once per user;
  missing or expired is a one-line error (exit 64);
- a password for `user@REALM`: the TGT is fetched once per account, into a private ticket cache every
  host of that account then uses; the KDC refusing the password is a one-line error (exit 64), so a
  wrong password costs one failed pre-authentication for the whole run, never one per host.
`close()` deletes the private ticket caches; call it when the run ends, however it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scanner.model.errors import KerberosSetupError, UsageError
from scanner.winrm.kerberos import (
    INSTALL_HINT,
    PrivateTicket,
    TicketInfo,
    check_ticket,
    gssapi_missing,
    is_principal,
    uses_sspi,
)

if TYPE_CHECKING:
    from scanner.model.host import Host

TICKET_AUTH = ("kerberos", "negotiate")

log = logging.getLogger(__name__)


@dataclass(slots=True)
class KerberosRun:
    """The run's Kerberos state: private tickets per (user, password), checked jump-box tickets, warnings."""

    tickets: dict[tuple[str, str], PrivateTicket] = field(default_factory=dict)
    checked: dict[str, TicketInfo] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _by_host: dict[tuple[str, int], tuple[PrivateTicket, str | None]] = field(default_factory=dict)

    def credential_for(self, host: Host) -> object:
        """pyspnego credentials for the host (its account's private ticket cache), or None."""
        found = self._by_host.get(host.key)
        if found is None:
            return None
        ticket, fallback_password = found
        return ticket.credentials(fallback_password)

    def close(self) -> None:
        for ticket in self.tickets.values():
            ticket.close()
        self.tickets.clear()
        self._by_host.clear()


def prepare_kerberos(hosts: Iterable[Host], *, default_user: str | None,
                     passwords: Mapping[tuple[str, int], str | None],
                     get_ticket: Callable[[str, str], PrivateTicket] = PrivateTicket,
                     check: Callable[[str | None], TicketInfo] = check_ticket) -> KerberosRun:
    """Settle Kerberos for `hosts` (see the module doc); raises UsageError/KerberosSetupError (exit 64)."""
    run = KerberosRun()
    try:
        for host in hosts:
            if host.auth in TICKET_AUTH:
                _prepare_host(run, host, host.username or default_user, passwords.get(host.key), get_ticket, check)
    except BaseException:
        run.close()
        raise
    return run


def _prepare_host(run: KerberosRun, host: Host, user: str | None, password: str | None,
                  get_ticket: Callable[[str, str], PrivateTicket],
                  check: Callable[[str | None], TicketInfo]) -> None:
    where = f"{host.name} ({host.source})" if host.source else host.name
    if host.auth == "kerberos" and user and "\\" in user:
        raise UsageError(f"{where}: Kerberos needs the user as user@REALM (e.g. svc-audit@CORP.EXAMPLE), "
                         f"not {user}")
    if uses_sspi() or not _gssapi_usable(run, host, password, where):
        return
    if not password:
        _check_jump_box_ticket(run, user, check)
        return
    if not (host.auth == "kerberos" or is_principal(user)):
        return  # negotiate as DOMAIN\user with a password: NTLM, as Windows would do for such a name
    assert user is not None  # a password is only ever looked up for a user
    ticket = _private_ticket(run, host, user, password, get_ticket)
    if ticket is not None:
        run._by_host[host.key] = (ticket, password if host.auth == "negotiate" else None)


def _gssapi_usable(run: KerberosRun, host: Host, password: str | None, where: str) -> bool:
    """python-gssapi is there; without it negotiate with a password falls back to NTLM (a warning), else exit 64."""
    missing = gssapi_missing()
    if missing is None:
        return True
    if host.auth == "negotiate" and password:
        _warn_once(run, f"{missing}: --auth negotiate falls back to NTLM ({INSTALL_HINT})")
        return False
    raise KerberosSetupError(f"{where}: {missing}", hint=INSTALL_HINT)


def _check_jump_box_ticket(run: KerberosRun, user: str | None, check: Callable[[str | None], TicketInfo]) -> None:
    """The jump box's own ticket (kinit, keytab) for `user`, checked once per user; raises when missing."""
    key = user or ""
    if key not in run.checked:
        info = check(user if is_principal(user) else None)
        run.checked[key] = info
        log.debug("Kerberos: ticket of %s from %s, valid for %s s more", info.principal, info.source,
                  info.seconds_left if info.seconds_left is not None else "?")


def _private_ticket(run: KerberosRun, host: Host, user: str, password: str,
                    get_ticket: Callable[[str, str], PrivateTicket]) -> PrivateTicket | None:
    """The account's TGT in a private cache, fetched once per (user, password); None: negotiate falls back."""
    pair = (user, password)
    ticket = run.tickets.get(pair)
    if ticket is None:
        try:
            ticket = get_ticket(user, password)
        except KerberosSetupError as exc:
            if host.auth == "kerberos" or exc.password_rejected:
                raise
            _warn_once(run, f"{exc}; --auth negotiate will fall back to NTLM for {user}")
            return None
        run.tickets[pair] = ticket
        log.debug("Kerberos: one TGT for %s, in a private ticket cache for this run", user)
    return ticket


def _warn_once(run: KerberosRun, message: str) -> None:
    if message not in run.warnings:
        run.warnings.append(message)
