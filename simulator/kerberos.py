"""Kerberos on the simulated hosts: each host accepts tickets for its own SPNs, as a domain member does.

A domain-joined Windows host accepts a ticket for any SPN registered on its computer account (HOST/,
and HTTP/ through AD's sPNMappings, WSMAN/ where registered), decrypting it with that account's key. A
simulated host gets the same from a keytab holding its keys (`KerberosKeys.keytabs`, one per host
name). The acceptor is given its keytab through gssapi's credential store, never through the
process-wide KRB5_KTNAME, so a client in the same process gains nothing from it. A ticket for another
host's SPN fails to decrypt (KRB_AP_ERR_NOT_US), a missing SPN never reaches the host (the client's
KDC refuses it), and on HTTPS the channel binding of the host's certificate is checked whenever the
client sends one (CbtHardeningLevel=Relaxed, the Windows default).

Needs `gssapi` (pip install 'cmaudit[kerberos]'); without it, Kerberos fleets cannot start and NTLM
fleets work as before. pyspnego is told which credential and which sub-mechanisms to use through two
private keyword arguments (`_gssapi_credential`, `_negotiate_contexts`), checked by `missing_internals`.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import spnego
from spnego.channel_bindings import GssChannelBindings

from simulator.ntlm_store import SimulatorUnavailable

__all__ = ["KerberosKeys", "HostKerberos", "available", "missing_internals"]


def available() -> str | None:
    """None when Kerberos acceptors can be built here, else why not."""
    try:
        import gssapi  # noqa: F401
        from spnego._context import GSSMech  # noqa: F401
        from spnego._gss import GSSAPIProxy  # noqa: F401
    except ImportError as exc:
        return f"Kerberos needs the gssapi package (pip install 'cmaudit[kerberos]'): {exc}"
    return None


def missing_internals() -> list[str]:
    """The private pyspnego pieces the acceptors rely on that the installed version lacks."""
    missing: list[str] = []
    try:
        from spnego._context import GSSMech
        from spnego._gss import GSSAPIProxy
        from spnego._negotiate import NegotiateProxy
    except ImportError as exc:
        return [f"spnego internals: {exc}"]
    if not hasattr(GSSMech, "kerberos") or not hasattr(GSSMech, "ntlm"):
        missing.append("spnego._context.GSSMech.kerberos/ntlm")
    for cls, needle in ((GSSAPIProxy, "_gssapi_credential"), (NegotiateProxy, "_negotiate_contexts")):
        if needle not in inspect.getsource(cls.__init__):
            missing.append(f"{cls.__name__}(**{needle})")
    return missing


@dataclass(frozen=True, slots=True)
class KerberosKeys:
    """The Kerberos side of a fleet: which keytab holds each host's keys (host name, any case -> path).

    A host without a keytab is not a domain member: it still advertises Kerberos, but cannot accept a
    ticket (its SPN is normally unknown to the KDC as well).
    """

    keytabs: Mapping[str, str] = field(default_factory=dict)

    def keytab_for(self, host: str) -> str | None:
        wanted = host.lower()
        return next((path for name, path in self.keytabs.items() if name.lower() == wanted), None)


class HostKerberos:
    """Builds a host's Kerberos acceptors from its keytab; the credential is read once and shared."""

    def __init__(self, keytab: str) -> None:
        reason = available()
        if reason is not None:
            raise ImportError(reason)
        missing = missing_internals()
        if missing:
            raise SimulatorUnavailable(f"the simulator's Kerberos needs pyspnego's private {', '.join(missing)}, "
                                       "which the installed pyspnego lacks")
        self.keytab = keytab
        self._credential: Any = None
        self._lock = threading.Lock()

    def _cred(self) -> Any:
        import gssapi

        with self._lock:
            if self._credential is None:
                # name=None: any principal in the keytab (HTTP/, WSMAN/, host/ of this host, as its computer account)
                self._credential = gssapi.Credentials(usage="accept", store={"keytab": "FILE:" + self.keytab})
            return self._credential

    def kerberos_context(self, bindings: GssChannelBindings | None) -> spnego.ContextProxy:
        """A raw Kerberos acceptor (`Authorization: Kerberos <AP-REQ>`)."""
        from spnego._gss import GSSAPIProxy

        return GSSAPIProxy(usage="accept", protocol="kerberos", channel_bindings=bindings,
                           _gssapi_credential=self._cred())

    def negotiate_context(self, bindings: GssChannelBindings | None, *, ntlm: bool) -> spnego.ContextProxy:
        """An SPNEGO acceptor offering Kerberos, and NTLM unless policy refuses it (`ntlm=False`).

        It also takes a raw Kerberos AP-REQ under the Negotiate header (what pypsrp's auth="kerberos" sends).
        """
        from spnego._context import GSSMech

        contexts: dict[Any, spnego.ContextProxy] = {GSSMech.kerberos: self.kerberos_context(bindings)}
        if ntlm:
            contexts[GSSMech.ntlm] = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
        return spnego.server(protocol="negotiate", options=spnego.NegotiateOptions.use_negotiate,
                             channel_bindings=bindings, _negotiate_contexts=contexts)


def acceptor_error(context: Any) -> BaseException | None:
    """The GSSError a failed Kerberos accept left behind (pyspnego reports an unrelated AttributeError)."""
    candidates = [context, *(c for c, _ in getattr(context, "_context_list", {}).values())]
    for candidate in candidates:
        error = getattr(getattr(candidate, "_context", None), "_last_err", None)
        if isinstance(error, BaseException):
            return error
    return None
