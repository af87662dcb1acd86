"""Who may log on: the account store behind pyspnego's NTLM acceptor, and Basic/CBT checks.

pyspnego's acceptor looks accounts up in the file named by the process-wide NTLM_USER_FILE variable.
Every running fleet in this process registers its account in one private file (0600, in a 0700 temp
dir, removed when the last fleet stops), in the smbpasswd form pyspnego also reads, so the file holds
the LM/NT hashes and never the password itself; the variable holds only the path.
Because the acceptor looks a user up by name, two running fleets may not give one account two passwords.
After NTLM succeeds the server also checks the user is *this* fleet's account.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from spnego.channel_bindings import GssChannelBindings

__all__ = ["Account", "register", "unregister", "check_basic", "new_acceptor", "channel_bindings_for",
           "client_sent_bindings"]


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
        if not principal:
            return False
        domain, sep, user = principal.partition("\\")
        if not sep:
            domain, user = "", principal
        return user.upper() == self.user.upper() and (not self.domain or domain.upper() == self.domain.upper())


_lock = threading.Lock()
_accounts: dict[int, Account] = {}  # registration token -> account
_dir: str | None = None
_saved_env: str | None = None


def _write_store() -> None:
    assert _dir is not None
    path = os.path.join(_dir, "ntlm_users")
    lines = sorted({_smbpasswd_line(a) for a in _accounts.values()})
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    os.replace(path + ".new", path)
    os.environ["NTLM_USER_FILE"] = path


def _smbpasswd_line(account: Account) -> str:
    from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

    lm, nt = lmowfv1(account.password).hex().upper(), ntowfv1(account.password).hex().upper()
    return f"{account.principal}:1000:{lm}:{nt}:[U]:LCT-00000000\n"


def register(account: Account) -> int:
    """Make `account` acceptable to NTLM acceptors in this process; returns a token for unregister()."""
    global _dir, _saved_env
    with _lock:
        for other in _accounts.values():
            if (other.principal.upper() == account.principal.upper()
                    and not hmac.compare_digest(other.password, account.password)):
                raise ValueError(f"another running simulator fleet already uses {account.principal} with a "
                                 "different password; stop it first or use another account")
        if _dir is None:
            _saved_env = os.environ.get("NTLM_USER_FILE")
            _dir = tempfile.mkdtemp(prefix="cmaudit-sim-")  # mkdtemp makes it 0700
        token = id(account) ^ len(_accounts) ^ int.from_bytes(os.urandom(4), "big")
        _accounts[token] = account
        _write_store()
        return token


def unregister(token: int) -> None:
    global _dir, _saved_env
    with _lock:
        _accounts.pop(token, None)
        if _accounts or _dir is None:
            if _dir is not None:
                _write_store()
            return
        shutil.rmtree(_dir, ignore_errors=True)
        _dir = None
        if _saved_env is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = _saved_env
        _saved_env = None


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


def new_acceptor(scheme: str) -> spnego.ContextProxy:
    """An NTLM (`NTLM` header) or SPNEGO (`Negotiate` header, NTLM inside or raw) acceptor."""
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


def client_sent_bindings(token: bytes) -> bool:
    """Does this NTLM AUTHENTICATE (raw or inside SPNEGO) carry a non-empty channel binding?

    Windows with CbtHardeningLevel=Relaxed checks CBT only when the client sends one; pyspnego's
    acceptor would reject a client that sends none, so we look first.
    """
    from spnego._ntlm_raw.messages import AvId, NTClientChallengeV2
    from spnego._spnego import NegTokenInit, NegTokenResp, unpack_token

    try:
        ntlm = token
        if not token.startswith(b"NTLMSSP\x00"):
            spnego_token = unpack_token(token)
            if isinstance(spnego_token, NegTokenResp):
                ntlm = spnego_token.response_token or b""
            elif isinstance(spnego_token, NegTokenInit):
                ntlm = spnego_token.mech_token or b""
            else:
                return False
        if not ntlm.startswith(b"NTLMSSP\x00") or ntlm[8:12] != b"\x03\x00\x00\x00":
            return False
        from spnego._ntlm_raw.messages import Authenticate

        auth = Authenticate.unpack(ntlm)
        nt = auth.nt_challenge_response or b""
        if len(nt) <= 24:
            return False
        pairs = NTClientChallengeV2.unpack(nt[16:]).av_pairs
        value = pairs.get(AvId.channel_bindings)
        return bool(value) and value != b"\x00" * 16
    except Exception:  # noqa: BLE001 - a token we cannot read is left to the acceptor to reject
        return False
