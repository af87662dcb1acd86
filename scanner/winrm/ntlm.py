"""NTLM's password hashes, computed once per credential for the whole run instead of once per host.

pyspnego derives the LM and NT hashes from a password every time it builds an NTLM context, i.e. once per
host; the LM hash runs pure-Python DES, a noticeable share of a host's CPU (bench/RESULTS.md). Given an
`NTLMHash` credential (its public credential type) it uses the hashes as they are, so cmaudit hashes each
(user, password) once.

The hashes are as good as the password to an attacker (pass-the-hash): `secret_forms` lists them in every
spelling a log could show (hex, either case), and the run registers them with the redactor, the audit log and
the error scrubbing exactly like the password itself. They are never written to results, argv or the
environment; worker processes receive them over their pipe.

`lmowfv1`/`ntowfv1` are pyspnego's own functions (private module `spnego._ntlm_raw.crypto`): the very code
that would otherwise run per host, so the hashes cannot differ from what pyspnego computes
(tests/scanner/winrm/test_ntlm_hash.py checks them against the published vectors). Where a pyspnego release
moved them, `ntlm_credentials` says so in one debug line and hosts log on with the password, as pyspnego
itself would (hashed per host); nothing else changes.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import spnego

if TYPE_CHECKING:
    from scanner.model.host import Host

HostKey = tuple[str, int]
HashFunctions = tuple[Callable[[str], bytes], Callable[[str], bytes]]
log = logging.getLogger(__name__)


def hash_functions() -> HashFunctions | None:
    """pyspnego's (lmowfv1, ntowfv1), or None when the installed pyspnego no longer has them where cmaudit knows."""
    try:
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
    except ImportError:
        return None
    return lmowfv1, ntowfv1


@dataclass(frozen=True, slots=True)
class NtlmHashes:
    """The LM and NT hashes of one password, as upper-case hex (what pyspnego's NTLMHash takes)."""

    lm: str = field(repr=False)
    nt: str = field(repr=False)

    @classmethod
    def of(cls, password: str, functions: HashFunctions | None = None) -> NtlmHashes:
        """The hashes of `password` (LookupError when pyspnego's hash functions are not there: see hash_functions)."""
        functions = functions or hash_functions()
        if functions is None:
            raise LookupError("pyspnego's NTLM hash functions (spnego._ntlm_raw.crypto) are not available")
        lm, nt = functions
        return cls(base64.b16encode(lm(password)).decode(), base64.b16encode(nt(password)).decode())

    def credential(self, username: str) -> Any:
        """The pyspnego credential for `username` logging on with these hashes (NTLM only)."""
        return spnego.NTLMHash(username=username, lm_hash=self.lm, nt_hash=self.nt)

    def secret_forms(self) -> tuple[str, ...]:
        """Every spelling of the hashes a trace or a message could carry: to be scrubbed like a password."""
        return (f"{self.lm}:{self.nt}", f"{self.lm}:{self.nt}".lower(), self.lm, self.lm.lower(), self.nt,
                self.nt.lower())


def ntlm_credentials(hosts: Iterable[Host], passwords: Mapping[HostKey, str | None], default_user: str | None, *,
                     skip: Collection[HostKey] = ()) -> dict[HostKey, tuple[Any, NtlmHashes]]:
    """The logon credential of every `ntlm` host with a user and a password: the password's hashes, computed once
    per password. The scan and `doctor` both log on with these, so both take pyspnego's own NTLM (never SSPI,
    which cannot take hashes) and doctor tests the very logon the scan will do. Only `ntlm`: negotiate may try
    Kerberos, which needs the password itself."""
    hashed: dict[str, NtlmHashes] = {}
    out: dict[HostKey, tuple[Any, NtlmHashes]] = {}
    functions = hash_functions()
    if functions is None:
        log.debug("pyspnego's lmowfv1/ntowfv1 are not where cmaudit knows them (another pyspnego release?): NTLM "
                  "hosts log on with the password, hashed by pyspnego per host")
        return out
    for host in hosts:
        password, user = passwords.get(host.key), host.username or default_user
        if host.auth != "ntlm" or host.key in skip or not password or not user:
            continue
        hashes = hashed.get(password)
        if hashes is None:
            hashes = hashed[password] = NtlmHashes.of(password, functions)
        out[host.key] = (hashes.credential(user), hashes)
    return out
