"""The TLS policy is the same on every Python: strict X.509 checks for modern hosts, set by cmaudit itself (CPython
3.13 sets them, 3.11 does not); legacy hosts accept a certificate of the era without an Authority Key Identifier,
still checking its chain and its name."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scanner.winrm import tls
from simulator import legacy_tls
from tests.support.loopback import loopback

pytestmark = pytest.mark.network


@dataclass
class Pki:
    ca_file: str
    cert_file: str
    key_file: str


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pki(folder: Path, *, leaf_aki: bool) -> Pki:
    """A CA (with a Subject Key Identifier) and a 127.0.0.1 server certificate from it, with or without an
    Authority Key Identifier: what a 2003/2008-era CA often issued."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(_name("Era Root CA")).issuer_name(_name("Era Root CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (x509.CertificateBuilder().subject_name(_name("sms01")).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                              critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    if leaf_aki:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                        critical=False)
    leaf = builder.sign(ca_key, hashes.SHA256())
    paths = Pki(str(folder / "ca.pem"), str(folder / "leaf.pem"), str(folder / "leaf.key"))
    Path(paths.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(paths.cert_file).write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    Path(paths.key_file).write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                                       serialization.NoEncryption()))
    return paths


@contextmanager
def tls_listener(context: ssl.SSLContext) -> Iterator[int]:
    """A loopback TLS listener that completes handshakes and closes (its failures are the client's to see)."""
    def handshake(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as wrapped:  # ssl.SSLError is an OSError
            wrapped.recv(1)

    with loopback(handshake, concurrent=False) as port:
        yield port


def _handshake(context: ssl.SSLContext, port: int, name: str = "127.0.0.1") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=name) as wrapped:
        return str(wrapped.version())


def _server(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


@pytest.fixture
def era_pki(tmp_path: Path) -> Pki:
    return _pki(tmp_path, leaf_aki=False)


def test_modern_hosts_get_strict_checks_on_every_python(era_pki: Pki) -> None:
    """A modern host's context checks X.509 strictly whatever Python runs it: a certificate without an Authority
    Key Identifier is refused by name, as CPython 3.13 refuses it."""
    context = tls.client_context(era_pki.ca_file)
    assert context.verify_flags & ssl.VERIFY_X509_STRICT
    with tls_listener(_server(era_pki)) as port, pytest.raises(ssl.SSLCertVerificationError) as refused:
        _handshake(context, port)
    assert "Authority Key Identifier" in str(refused.value)


def test_a_modern_certificate_passes_the_strict_checks(tmp_path: Path) -> None:
    """A certificate with the extensions a CA writes today is accepted under the strict checks."""
    pki = _pki(tmp_path, leaf_aki=True)
    with tls_listener(_server(pki)) as port:
        assert _handshake(tls.client_context(pki.ca_file), port).startswith("TLS")


def test_legacy_hosts_accept_an_era_certificate_without_the_key_identifier(era_pki: Pki,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """tls=legacy accepts the era's certificate without an Authority Key Identifier, also when Python's default
    context turns strict checking on (as CPython 3.13's does)."""
    default = ssl.create_default_context

    def like_python_313(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = default(*args, **kwargs)  # type: ignore[arg-type]
        context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    monkeypatch.setattr(ssl, "create_default_context", like_python_313)
    context = tls.legacy_context(era_pki.ca_file)
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT
    with tls_listener(_server(era_pki)) as port:
        assert _handshake(context, port).startswith("TLS")


def test_legacy_hosts_still_check_the_chain_and_the_name(era_pki: Pki, tmp_path: Path) -> None:
    """Without strict checks the chain is still verified against the CA file, and the name against the
    certificate: another CA's certificate and a name the certificate does not carry are refused."""
    (tmp_path / "other").mkdir()
    other = _pki(tmp_path / "other", leaf_aki=False)
    with tls_listener(_server(era_pki)) as port:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            _handshake(tls.legacy_context(other.ca_file), port)
        with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
            _handshake(tls.legacy_context(era_pki.ca_file), port, name="sms99.lab.example")


def test_the_simulators_tls10_host_is_read_with_strict_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's Server 2003 listener (TLS 1.0, SHA-1 / RSA-1024, no Authority Key Identifier) completes a
    legacy handshake even where Python's default context is strict (CPython 3.13)."""
    default = ssl.create_default_context

    def like_python_313(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = default(*args, **kwargs)  # type: ignore[arg-type]
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        return context

    monkeypatch.setattr(ssl, "create_default_context", like_python_313)
    with tempfile.TemporaryDirectory() as folder:
        ca = legacy_tls.LegacyCA(folder)
        issued = ca.issue()
        with pytest.raises(x509.ExtensionNotFound):  # an era certificate: no Authority Key Identifier
            x509.load_der_x509_certificate(issued.der).extensions.get_extension_for_class(
                x509.AuthorityKeyIdentifier)
        ca_file = str(Path(folder) / "ca.pem")
        Path(ca_file).write_bytes(ca.cert_pem)
        with tls_listener(legacy_tls.server_context(issued)) as port:
            assert _handshake(tls.legacy_context(ca_file), port) == "TLSv1"
