"""The TLS client contexts of a scan, one policy for both transports and `doctor`.

Modern (every host unless its inventory says `tls=legacy`): Python's default context (TLS 1.2+, OpenSSL's
security level) with X.509 strict checking set deliberately, on every Python: `VERIFY_X509_STRICT` (RFC 5280's
rules, such as an Authority Key Identifier in every certificate a CA issued) and `VERIFY_X509_PARTIAL_CHAIN` (a
CA given with --ca-file is trusted even when it is an intermediate). CPython 3.13 turns both on in
`ssl.create_default_context()`, 3.11 does not; cmaudit sets them itself so a host is judged the same whichever
Python runs it. A modern listener's certificate (Server 2012 and later, AD CS) carries the extensions.

Legacy (`tls=legacy`, or `--tls legacy`; never chosen by cmaudit on its own after a failed handshake): Server
2003/2008 HTTPS listeners speak TLS 1.0 only and present the certificates of their time: SHA-1 / RSA-1024,
refused by OpenSSL 3 at its default security level, and often without an Authority Key Identifier, refused by
strict checking ("Missing Authority Key Identifier"). The legacy context allows TLS 1.0, security level 0 and
clears VERIFY_X509_STRICT; the chain is still verified against the CA file or the trust store, and the name
against the certificate, exactly as for a modern host (both off only with --insecure).
"""

from __future__ import annotations

import ssl
import warnings

LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"  # level 0: TLS 1.0/1.1, SHA-1 signatures and 1024-bit RSA are accepted
STRICT_FLAGS = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN

# What a default (modern) OpenSSL 3 context reports when the other side is a TLS 1.0-only listener or shows
# a weak certificate: the protocol or key/digest refusals, and the handshake simply ending.
LEGACY_SIGNS = ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER", "NO_PROTOCOLS_AVAILABLE",
                "HANDSHAKE_FAILURE", "UNEXPECTED_EOF", "NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "KEY_TOO_SMALL",
                "KEY_TOO_WEAK", "MD_TOO_WEAK", "DIGEST_ALGORITHM_TOO_WEAK", "CA_MD_TOO_WEAK", "EE_KEY_TOO_SMALL",
                "KEY TOO WEAK", "TOO WEAK")


def client_context(verify: bool | str, *, legacy: bool = False, default_ca: str | None = None) -> ssl.SSLContext:
    """The client context for `verify` as requests takes it (True: `default_ca`, or the system's trust store
    without one; a path: that CA file; False: --insecure, nothing checked)."""
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else default_ca)
        context.verify_flags |= STRICT_FLAGS
    if legacy:
        _allow_legacy(context)
    return context


def legacy_context(verify: bool | str, *, default_ca: str | None = None) -> ssl.SSLContext:
    """A client context for a Server 2003/2008 listener (see the module docstring)."""
    return client_context(verify, legacy=True, default_ca=default_ca)


def _allow_legacy(context: ssl.SSLContext) -> None:
    context.set_ciphers(LEGACY_CIPHERS)
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # era certificates lack the Authority Key Identifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1 is deprecated since 3.10
        context.minimum_version = ssl.TLSVersion.TLSv1


def looks_legacy(reason: str) -> bool:
    """Does an OpenSSL error text read like a TLS 1.0-only listener or a SHA-1 / RSA-1024 certificate?"""
    upper = reason.upper()
    return any(sign in upper for sign in LEGACY_SIGNS)
