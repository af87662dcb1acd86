"""HTTPS as a Server 2003/2008 WinRM listener speaks it: TLS 1.0 only, a SHA-1 / RSA-1024 certificate.

cryptography (>= 4x) refuses `CertificateBuilder.sign(key, hashes.SHA1())` but still signs raw data with
PKCS#1 v1.5 + SHA-1, so a certificate is built with SHA-256, its signature AlgorithmIdentifier swapped for
sha1WithRSAEncryption (same length) and the TBSCertificate signed again with SHA-1. OpenSSL 3 only loads
such a chain, and only speaks TLS 1.0, at security level 0, which must be set before the chain is loaded.
Proven in the research prototype (proto/fidelity/tls_legacy.py) on this OpenSSL 3.0.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["LEGACY_CIPHERS", "LegacyCA", "server_context"]

LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
KEY_BITS = 1024
_ALG_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")  # sha256WithRSAEncryption, NULL params
_ALG_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")  # sha1WithRSAEncryption, NULL params


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _resign_sha1(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    tbs = cert.tbs_certificate_bytes
    if tbs.count(_ALG_SHA256_RSA) != 1:
        raise ValueError("expected one sha256WithRSAEncryption AlgorithmIdentifier in the TBSCertificate")
    tbs = tbs.replace(_ALG_SHA256_RSA, _ALG_SHA1_RSA)
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    return x509.load_der_x509_certificate(_der(0x30, tbs + _ALG_SHA1_RSA + _der(0x03, b"\x00" + signature)))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(slots=True)
class Issued:
    """A leaf certificate and its key, as PEM files in the CA's folder, and its DER (for channel binding)."""

    cert_path: str
    key_path: str
    der: bytes


@dataclass(slots=True)
class LegacyCA:
    """A throwaway SHA-1 / RSA-1024 CA that issues SHA-1 / RSA-1024 server certificates for 127.0.0.1."""

    folder: str
    name: str = "Legacy Enterprise Root CA (simulated)"
    _key: rsa.RSAPrivateKey = field(init=False, repr=False)
    _cert: x509.Certificate = field(init=False, repr=False)
    _issued: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name)).issuer_name(_name(self.name))
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._cert = _resign_sha1(cert, self._key)

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, *, expired: bool = False) -> Issued:
        """A server certificate for localhost / 127.0.0.1 (expired yesterday when `expired`)."""
        now = dt.datetime.now(dt.UTC)
        start, end = ((now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired
                      else (now - dt.timedelta(days=1), now + dt.timedelta(days=3650)))
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost")).issuer_name(self._cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert = _resign_sha1(cert, self._key)
        self._issued += 1
        stem = os.path.join(self.folder, f"legacy-{self._issued}")
        cert_path, key_path = stem + ".pem", stem + ".key"
        with open(cert_path, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
        return Issued(cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))


def server_context(issued: Issued) -> ssl.SSLContext:
    """A listener that speaks TLS 1.0 and nothing else, presenting `issued`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(LEGACY_CIPHERS)  # before load_cert_chain: level 0 is what lets OpenSSL 3 load RSA-1024/SHA-1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1 is deprecated since 3.10
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(issued.cert_path, issued.key_path)
    return context
