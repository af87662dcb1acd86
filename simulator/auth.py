"""Who may log on: the fleet's account, Basic credentials, and what an NTLM/Kerberos token carries.

NTLM accounts live in the fleet's own store (simulator.ntlm_store), Kerberos keys in each host's keytab
(simulator.kerberos). After a handshake succeeds the server also checks the client is *this* fleet's
account, whether it logged on as `DOMAIN\\user` (NTLM) or `user@REALM` (Kerberos).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from spnego.channel_bindings import GssChannelBindings

__all__ = ["Account", "basic_wrong_password", "check_basic", "new_acceptor", "channel_bindings_for",
           "client_sent_bindings", "ntlm_user", "token_mechanism"]


@dataclass(frozen=True, slots=True)
class Account:
    """A Windows account `DOMAIN\\user` (or a bare `user`) and its password."""

    domain: str
    user: str
    password: str

    @classmethod
    def parse(cls, username: str, password: str) -> Account:
        if "\n" in username or "\n" in password or ":" in username:
            raise ValueError("user names may not contain ':' or line breaks, passwords no line breaks")
        domain, sep, user = username.partition("\\")
        if not sep:
            domain, user = "", username
        if not user:
            raise ValueError("empty user name")
        return cls(domain, user, password)

    @property
    def principal(self) -> str:
        return f"{self.domain}\\{self.user}" if self.domain else self.user

    def __repr__(self) -> str:  # never show the password, even in a debugger or a traceback
        return f"Account({self.principal!r})"

    def is_local_to(self, machine: str) -> bool:
        """A local account of `machine` (no domain, `.`, or the machine's own name), not a domain account."""
        return self.domain.upper() in ("", ".", machine.upper())

    def matches(self, principal: str | None) -> bool:
        """`DOMAIN\\user`, or a Kerberos `user@REALM` whose realm's first label is the NetBIOS domain."""
        if not principal:
            return False
        domain, sep, user = principal.partition("\\")
        if not sep:
            user, at, realm = principal.rpartition("@")
            domain, user = (realm.split(".", 1)[0], user) if at else ("", principal)
        return user.upper() == self.user.upper() and (not self.domain or domain.upper() == self.domain.upper())


def check_basic(header_value: str, account: Account, *, local_only: bool = False, machine: str = "") -> bool:
    """Check the base64 part of `Authorization: Basic ...` against the account, in constant time.

    `local_only`: WinRM's Basic authentication knows local accounts only, so `DOMAIN\\user` and `user@domain`
    are refused before any password check (and so never count against a domain account's lockout).
    """
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, sep, password = decoded.partition(":")
    if not sep:
        return False
    if local_only:
        domain, backslash, _ = username.partition("\\")
        if "@" in username or (backslash and domain.upper() not in (".", machine.upper())):
            return False
        if not account.is_local_to(machine):
            return False
    # DOMAIN\user, or a bare user / user@domain resolved in the host's own domain, as Windows does.
    bare = username.split("@", 1)[0] if "\\" not in username else None
    name_ok = account.matches(username) or (bare is not None and bare.upper() == account.user.upper())
    return hmac.compare_digest(password.encode(), account.password.encode()) and name_ok


def basic_wrong_password(header_value: str, account: Account, *, local_only: bool = False, machine: str = "") -> bool:
    """Basic credentials for this account whose password was checked and found wrong (what counts towards a
    lockout); a name refused before any password check (a domain account where only local ones may use Basic)
    or another account is not."""
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, sep, password = decoded.partition(":")
    bare = username.split("@", 1)[0] if "\\" not in username else None
    if not sep or not (account.matches(username) or (bare is not None and bare.upper() == account.user.upper())):
        return False
    if local_only and not account.is_local_to(machine):
        return False
    return not hmac.compare_digest(password.encode(), account.password.encode())


def new_acceptor(scheme: str) -> spnego.ContextProxy:
    """An NTLM (`NTLM` header) or SPNEGO (`Negotiate` header, NTLM inside or raw) acceptor without Kerberos.

    Build it (and step it) inside the fleet's `NtlmStore.scope()`: that is where it finds the accounts.
    """
    if scheme.lower() == "ntlm":
        return spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
    return spnego.server(protocol="negotiate", options=spnego.NegotiateOptions.use_negotiate)


def channel_bindings_for(cert_der: bytes) -> GssChannelBindings:
    """RFC 5929 tls-server-end-point binding of our certificate (SHA-256 for MD5/SHA-1 signed certs)."""
    cert = x509.load_der_x509_certificate(cert_der)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert_der)
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


def _ntlm_message(token: bytes) -> bytes | None:
    """The NTLM message a token carries, raw or inside SPNEGO (None for Kerberos or anything else)."""
    from spnego._spnego import NegTokenInit, NegTokenResp, unpack_token

    if token.startswith(b"NTLMSSP\x00"):
        return token
    try:
        spnego_token = unpack_token(token)
    except Exception:  # noqa: BLE001 - not SPNEGO: a raw Kerberos AP-REQ, or garbage for the acceptor to refuse
        return None
    inner = b""
    if isinstance(spnego_token, NegTokenResp):
        inner = spnego_token.response_token or b""
    elif isinstance(spnego_token, NegTokenInit):
        inner = spnego_token.mech_token or b""
        if not inner and spnego_token.mech_types and spnego_token.mech_types[0] == "1.3.6.1.4.1.311.2.2.10":
            return b"NTLMSSP\x00"  # an init offering NTLM first without an optimistic token
    return inner if inner.startswith(b"NTLMSSP\x00") else None


def ntlm_user(token: bytes) -> str | None:
    """`DOMAIN\\user` of an NTLM AUTHENTICATE (raw or inside SPNEGO): whose password this leg proves; None for
    any other token. A domain controller counts a failed AUTHENTICATE against that account."""
    from spnego._ntlm_raw.messages import Authenticate

    ntlm = _ntlm_message(token) or b""
    if not ntlm.startswith(b"NTLMSSP\x00") or ntlm[8:12] != b"\x03\x00\x00\x00":
        return None
    try:
        auth = Authenticate.unpack(ntlm)
    except Exception:  # noqa: BLE001 - a token we cannot read names nobody
        return None
    user, domain = auth.user_name or "", auth.domain_name or ""
    if not user:
        return None
    return f"{domain}\\{user}" if domain else user


def token_mechanism(token: bytes) -> str:
    """"ntlm" when the token carries NTLM (raw or in SPNEGO), else "kerberos" (the acceptor judges it)."""
    return "ntlm" if _ntlm_message(token) is not None else "kerberos"


def client_sent_bindings(token: bytes) -> bool:
    """Does this NTLM AUTHENTICATE (raw or inside SPNEGO) carry a non-empty channel binding?

    Windows with CbtHardeningLevel=Relaxed checks CBT only when the client sends one; pyspnego's
    acceptor would reject a client that sends none, so we look first.
    """
    from spnego._ntlm_raw.messages import Authenticate, AvId, NTClientChallengeV2

    try:
        ntlm = _ntlm_message(token) or b""
        if not ntlm.startswith(b"NTLMSSP\x00") or ntlm[8:12] != b"\x03\x00\x00\x00":
            return False
        auth = Authenticate.unpack(ntlm)
        nt = auth.nt_challenge_response or b""
        if len(nt) <= 24:
            return False
        pairs = NTClientChallengeV2.unpack(nt[16:]).av_pairs
        value = pairs.get(AvId.channel_bindings)
        return bool(value) and value != b"\x00" * 16
    except Exception:  # noqa: BLE001 - a token we cannot read is left to the acceptor to reject
        return False
