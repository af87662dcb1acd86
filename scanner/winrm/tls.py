"""Legacy TLS for the hosts that need it: Server 2003/2008 HTTPS listeners speak TLS 1.0 only and present the
SHA-1 / RSA-1024 certificates of their time, both refused by OpenSSL 3 at its default security level.

Only a host whose inventory says `tls=legacy` (or a scan with `--tls legacy`) gets this context: cmaudit never
lowers TLS on its own after a failed handshake. Certificate and host name verification stay exactly as
for a modern host (the CA file, or the default trust store; off only with --insecure).
"""

from __future__ import annotations

import ssl
import warnings
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH

LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"  # level 0: TLS 1.0/1.1, SHA-1 signatures and 1024-bit RSA are accepted

# What a default (modern) OpenSSL 3 context reports when the other side is a TLS 1.0-only listener or shows
# a weak certificate: the protocol or key/digest refusals, and the handshake simply ending.
LEGACY_SIGNS = ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER", "NO_PROTOCOLS_AVAILABLE",
                "HANDSHAKE_FAILURE", "UNEXPECTED_EOF", "NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "KEY_TOO_SMALL",
                "KEY_TOO_WEAK", "MD_TOO_WEAK", "DIGEST_ALGORITHM_TOO_WEAK", "CA_MD_TOO_WEAK", "EE_KEY_TOO_SMALL",
                "KEY TOO WEAK", "TOO WEAK")


def legacy_context(verify: bool | str) -> ssl.SSLContext:
    """A client context allowing TLS 1.0 and weak certificates; `verify` as requests takes it."""
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH)
    context.set_ciphers(LEGACY_CIPHERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1 is deprecated since 3.10
        context.minimum_version = ssl.TLSVersion.TLSv1
    return context


class LegacyTLSAdapter(HTTPAdapter):
    """An HTTPS adapter that hands urllib3 the legacy context (requests' documented way to use a custom one)."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs["ssl_context"] = self._context  # type: ignore[typeddict-unknown-key]
        return host_params, pool_kwargs


def use_legacy_tls(session: requests.Session, verify: bool | str) -> None:
    """Re-mount `https://` on `session` with the legacy context, keeping the retry settings pypsrp chose."""
    current = session.get_adapter("https://localhost/")
    retries = getattr(current, "max_retries", 0)
    session.mount("https://", LegacyTLSAdapter(legacy_context(verify), max_retries=retries))


def looks_legacy(reason: str) -> bool:
    """Does an OpenSSL error text read like a TLS 1.0-only listener or a SHA-1 / RSA-1024 certificate?"""
    upper = reason.upper()
    return any(sign in upper for sign in LEGACY_SIGNS)
