"""Kerberos on the jump box: is it usable, one TGT per account, and what a Kerberos failure means.

pyspnego does the Kerberos exchange itself (python-gssapi on Linux/macOS, SSPI on Windows). What it
leaves to us:
- A password given for `user@REALM` would make pyspnego run a fresh AS exchange (one pre-authentication
  at the KDC) for every connection: a wrong password then costs one failed logon per host and locks an AD
  account out across a fleet. `PrivateTicket` gets the TGT once, into a ticket cache in a private 0700
  folder that is deleted afterwards, and hosts use that cache (`KerberosCCache`).
- The jump box's own ticket (kinit, a client keytab in KRB5_CLIENT_KTNAME, systemd's ExecStartPre) is
  checked once, before any host is contacted (`check_ticket`), so a missing or expired ticket is one line
  and exit 64, not an ERROR on every host.
- gssapi and krb5 report failures as com_err codes deep in an exception chain (pyspnego wraps them in
  SpnegoError, pypsrp in its own errors). `describe` digs the code out and turns it into a reason an
  admin recognises and a hint (`setspn`, time sync, `kinit`), keeping the library's own text.
The SPN is `<service>/<host name from the inventory>`, also when the inventory's `address` (an IP) says
where to connect; the service class defaults to HTTP, what Windows' WinRM client asks for.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scanner.model.errors import KerberosSetupError
from scanner.winrm.rejections import krb5_rejects

INSTALL_HINT = ("pip install 'cmaudit[kerberos]' (builds python-gssapi: needs libkrb5-dev and gcc on Debian/Ubuntu, "
                "krb5-devel and gcc on RHEL)")
KINIT_HINT = ("run kinit user@REALM first (or kinit -k -t KEYTAB for a service account), give --username "
              "user@REALM with a password, or point KRB5_CLIENT_KTNAME at a client keytab")
_MINOR_TEXT = re.compile(r"Minor \(\d+\): (.*?)(?:, Context:|$)")
_SERVER_PRINCIPAL = re.compile(r"Server (?P<service>[^/\s]+)/(?P<host>[^@\s]+)@")


def uses_sspi() -> bool:
    """On Windows pyspnego uses SSPI: the logged-on account's Kerberos, no gssapi, no ticket cache to check."""
    return sys.platform == "win32"


def ticket_only(auth: str, password: str | None) -> bool:
    """Whether a logon can only be Kerberos with a ticket the jump box already holds (`kerberos`, or `negotiate`
    without a password): an HTTP 401 then means the server refused the ticket, and no password was tried.

    Not so for negotiate through Windows SSPI: with no credential it is the logged-on account, which falls back
    to NTLM with that account's own secret, so its rejections count towards the lockout breaker like a password's.
    """
    return auth == "kerberos" or (auth == "negotiate" and not password and not uses_sspi())


def logged_on_account() -> str | None:
    """`DOMAIN\\user`: the account this process runs as, which SSPI logs on as when given no user name (Windows;
    None elsewhere, or when Windows cannot say)."""
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes

    get_user_name = ctypes.WinDLL("secur32", use_last_error=True).GetUserNameExW
    get_user_name.argtypes = [ctypes.c_int, wintypes.LPWSTR, ctypes.POINTER(wintypes.ULONG)]
    get_user_name.restype = wintypes.BOOLEAN
    name_sam_compatible = 2  # EXTENDED_NAME_FORMAT: DOMAIN\user, as `whoami` prints it
    buffer = ctypes.create_unicode_buffer(256)
    size = wintypes.ULONG(len(buffer))
    if get_user_name(name_sam_compatible, buffer, ctypes.byref(size)) and buffer.value:
        return str(buffer.value)
    user, domain = os.environ.get("USERNAME"), os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if user and domain else user


def gssapi_missing() -> str | None:
    """Why Kerberos cannot work here for want of python packages (None when it can)."""
    if uses_sspi():
        return None
    missing = [name for name in ("gssapi", "krb5") if importlib.util.find_spec(name) is None]
    if missing:
        return f"Kerberos needs the python package{'s' if len(missing) > 1 else ''} {' and '.join(missing)}"
    return None


def is_principal(user: str | None) -> bool:
    """`user@REALM` (a Kerberos principal), as opposed to `DOMAIN\\user` or a bare user name."""
    return bool(user) and "@" in str(user) and "\\" not in str(user)


def spn_for(service: str, host_name: str) -> str:
    return f"{service}/{host_name.lower()}"


@dataclass(frozen=True, slots=True)
class KerberosProblem:
    """A Kerberos failure an admin can act on."""

    reason: str  # "server not found in Kerberos database"
    hint: str
    detail: str = ""  # the library's own words, e.g. the SPN it looked for
    password_rejected: bool = False  # the KDC refused the password (what counts towards a lockout)
    code: int | None = None  # MIT com_err code, signed

    def message(self) -> str:
        text = f"Kerberos: {self.reason}"
        if self.detail and self.detail.lower() != self.reason.lower():
            text += f" ({self.detail})"
        return text


# MIT com_err codes (krb5.h), signed as python-krb5 reports them; gssapi reports the same unsigned. Whether one
# means a rejected password is scanner.winrm.rejections' table, not this one's.
_CODES: dict[int, tuple[str, str]] = {
    -1765328360: ("pre-authentication failed: the password was refused", "check the account's password"),
    -1765328353: ("the password was refused (integrity check failed)", "check the account's password"),
    -1765328378: ("client not found in Kerberos database",
                  "check the user name: user@REALM with the realm in capitals"),
    -1765328377: ("server not found in Kerberos database",
                  "register the SPN on the server's computer account (setspn -S {spn} {computer}) or choose the "
                  "service class with --spn-service (HTTP, WSMAN, host)"),
    -1765328347: ("clock skew too great",
                  "sync this jump box's clock with the domain (chronyc makestep; w32tm /resync on Windows)"),
    -1765328352: ("ticket expired", "get a new ticket: " + KINIT_HINT),
    -1765328351: ("ticket not yet valid", "the clocks of the KDC and the server disagree: sync them"),
    -1765328349: ("the ticket is for another server",
                  "the SPN is registered on another account: check with setspn -Q {spn}"),
    -1765328366: ("account disabled or locked out", "check the account in Active Directory"),
    -1765328383: ("account expired", "check the account in Active Directory"),
    -1765328361: ("password expired", "set a new password for the account"),
    -1765328228: ("cannot reach a KDC for the realm",
                  "check krb5.conf [realms] (or the DNS SRV records) and that TCP/UDP port 88 is open"),
    -1765328230: ("no KDC known for the realm",
                  "check the realm in the user name (in capitals) and krb5.conf [realms]/[domain_realm]"),
    -1765328243: ("no Kerberos ticket", KINIT_HINT),
    -1765328189: ("no Kerberos ticket", KINIT_HINT),  # KRB5_FCC_NOFILE
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (getattr(current, "base_error", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _signed(code: int) -> int:
    return code - (1 << 32) if code >= (1 << 31) else code


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    found = _MINOR_TEXT.search(text)
    if found:
        return found.group(1).strip()
    return re.sub(r"\s-?\d{6,}$", "", text)[:200]  # python-krb5 appends the code


def describe(exc: BaseException) -> KerberosProblem | None:
    """The Kerberos failure inside `exc` (any wrapping), or None when it is not one."""
    for current in _chain(exc):
        names = {cls.__name__ for cls in type(current).__mro__}
        code: int | None = None
        if "Krb5Error" in names and isinstance(getattr(current, "err_code", None), int):
            code = int(current.err_code)  # type: ignore[attr-defined]
        elif "GSSError" in names:
            if "ExpiredCredentialsError" in names:
                return KerberosProblem("ticket expired", "get a new ticket: " + KINIT_HINT, _detail(current))
            minor = getattr(current, "min_code", None)
            code = _signed(int(minor)) if isinstance(minor, int) and minor else None
        if code is None:
            continue
        detail = _detail(current)
        known = _CODES.get(code)
        if known is None:
            return KerberosProblem("Kerberos error", "see the detail; KRB5_TRACE=/dev/stderr shows the exchange",
                                   detail, code=code)
        reason, hint = known
        rejected = krb5_rejects(code)
        spn = _SERVER_PRINCIPAL.search(detail)
        if spn:
            host = spn.group("host")
            hint = hint.format(spn=f"{spn.group('service')}/{host}", computer=host.split(".", 1)[0].upper())
        else:
            hint = hint.format(spn="HTTP/<fqdn>", computer="<computer>")
        return KerberosProblem(reason, hint, detail, rejected, code)
    return None


# -- the jump box's own ticket --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TicketInfo:
    """A usable ticket: whose, and for how long (None: unknown, as with SSPI)."""

    principal: str
    seconds_left: int | None
    source: str


def check_ticket(principal: str | None = None) -> TicketInfo:
    """The ticket pyspnego will use without a password (ticket cache or client keytab), or KerberosSetupError.

    With a client keytab (KRB5_CLIENT_KTNAME) this performs the one AS exchange the run needs and leaves the
    TGT in the default ticket cache, as MIT does on the first connection anyway.
    """
    if uses_sspi():
        return TicketInfo(principal or logged_on_account() or "the logged-on account", None, "Windows SSPI")
    missing = gssapi_missing()
    if missing is not None:
        raise KerberosSetupError(missing, hint=INSTALL_HINT)
    import gssapi

    source = os.environ.get("KRB5_CLIENT_KTNAME") or os.environ.get("KRB5CCNAME") or "the default ticket cache"
    try:
        name = gssapi.Name(principal, gssapi.NameType.kerberos_principal) if principal else None
        creds = gssapi.Credentials(name=name, usage="initiate", mechs=[gssapi.MechType.kerberos])
        seconds = int(creds.lifetime)
        owner = str(creds.name)
    except Exception as exc:  # noqa: BLE001 - gssapi's errors carry the reason; anything else is reported as is
        problem = describe(exc) or KerberosProblem("no usable Kerberos ticket", KINIT_HINT, _detail(exc))
        raise KerberosSetupError(f"{problem.message()} [{source}]", hint=problem.hint) from None
    return TicketInfo(owner, seconds, source)


# -- one TGT per account --------------------------------------------------------------------------------------
class PrivateTicket:
    """A TGT for `principal`, obtained once with its password into a ticket cache only this run can read.

    Raises KerberosSetupError (reason + hint; `password_rejected` when the KDC refused the password). The
    folder (0700) and the cache in it are removed by close(); service tickets land in the same cache, so
    each SPN costs one TGS exchange for the whole run.
    """

    def __init__(self, principal: str, password: str) -> None:
        missing = gssapi_missing()
        if missing is not None:
            raise KerberosSetupError(missing, hint=INSTALL_HINT)
        import gssapi
        import gssapi.raw

        self.principal = principal
        self._dir: str | None = tempfile.mkdtemp(prefix="cmaudit-krb5-")
        self.ccache = "FILE:" + os.path.join(self._dir, "ccache")
        try:
            name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
            acquired = gssapi.raw.acquire_cred_with_password(name, password.encode("utf-8"), usage="initiate",
                                                             mechs=[gssapi.MechType.kerberos])
            gssapi.raw.store_cred_into({b"ccache": self.ccache.encode()}, acquired.creds, usage="initiate",
                                       mech=gssapi.MechType.kerberos, overwrite=True, set_default=False)
        except Exception as exc:  # noqa: BLE001 - reported with its reason, never with the password
            self.close()
            problem = describe(exc) or KerberosProblem("cannot get a ticket", KINIT_HINT, _detail(exc))
            raise KerberosSetupError(f"{problem.message()} for {principal}", hint=problem.hint,
                                     password_rejected=problem.password_rejected) from None

    def credentials(self, password: str | None = None) -> Any:
        """What pypsrp passes to pyspnego as the user: this cache, plus the password for an NTLM fallback."""
        import spnego

        cache = spnego.KerberosCCache(ccache=self.ccache, principal=self.principal)
        if password is None:
            return cache
        return [cache, spnego.Password(self.principal, password)]

    def close(self) -> None:
        folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __repr__(self) -> str:
        return f"PrivateTicket({self.principal!r})"
