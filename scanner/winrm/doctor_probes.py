"""`cmaudit doctor` for one host: every step a scan takes, in order, stopping at the first that fails.

    dns -> tcp -> tls (https) -> http listener -> auth methods -> logon -> shell -> registry -> log file

Each step is a Check (name, ok, detail, hint). The steps do what the scan does and nothing more: a name
lookup, TCP connects (also to WinRM's other ports when the configured one does not answer, to say which
does), a TLS handshake (again without validation, or with TLS 1.0, only to explain a failure), one
unauthenticated POST to /wsman (WinRM answers 401 and lists its auth schemes), then the scan's own logon,
cmd shell, `reg query` batch and a `type` of the log that stops after the first reply. Read-only like
the scan; bounded by the host's deadline and abortable from the runner's thread like a scan job.

A password the server rejects is told to the run (`LogonAllowance`): other hosts of that account skip their
logon instead of adding failed logons towards a lockout.

A build the scan judges without its log (another product: NOT_APPLICABLE; a build with the fix:
NOT_AFFECTED) is told by `build_status`, which the caller answers from the advisory (this layer does not
know it): doctor then does not fail such a host for a log the scan does not need.
"""

from __future__ import annotations

import contextlib
import ntpath
import secrets
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.shell import WinRS
from urllib3.exceptions import InsecureRequestWarning

from scanner.model.doctor_checks import Check
from scanner.model.errors import HostError, HostTimeout, lockout_protection
from scanner.model.host import is_ip_address
from scanner.winrm.collect import (
    CODECS,
    CODEPAGE_OEM,
    CODEPAGE_UTF8,
    MAX_REGISTRY_BYTES,
    CmdShell,
    CommandRunner,
    MarkerSplitter,
    file_missing,
    log_paths,
    not_found_probes,
    registry_command,
)
from scanner.winrm.faults import translate
from scanner.winrm.kerberos import spn_for
from scanner.winrm.logon import auth_schemes
from scanner.winrm.markers import FAILED, checked, checked_names, marker, section
from scanner.winrm.registry import environment, pick_registry, read_registry, section_names
from scanner.winrm.requests_transport import TLSContextAdapter, default_ca_bundle
from scanner.winrm.session import HostSession, SessionOptions
from scanner.winrm.tls import client_context, legacy_context
from scanner.winrm.transport_policy import kerberos_problem

if TYPE_CHECKING:
    from scanner.model.host import Host

WINRM_PORTS = (5985, 5986, 80, 443)
LOG_PEEK_BYTES = 4096  # this much of the log proves it can be read (an error text is shorter)
STEPS = ("dns", "tcp", "tls", "http listener", "auth methods", "logon", "shell", "registry", "log file")
# Which WWW-Authenticate schemes let each auth method log on.
_USABLE_SCHEMES = {"ntlm": ("negotiate", "ntlm"), "negotiate": ("negotiate", "kerberos", "ntlm"),
                   "kerberos": ("negotiate", "kerberos"), "basic": ("basic",), "credssp": ("credssp",),
                   "certificate": ()}
# WSMan faults on Create, and what an admin does about them.
_NOT_ADMIN = ("the account must be an administrator of the server (a local admin over the network also needs "
              "LocalAccountTokenFilterPolicy=1), or be granted access with `winrm configSDDL default`")
SHELL_FAULT_HINTS = {
    5: _NOT_ADMIN,
    0x80070005: _NOT_ADMIN,
    0x803381AC: 'allow remote shells: winrm set winrm/config/winrs @{AllowRemoteShellAccess="true"} (or the GPO '
                '"Allow Remote Shell Access")',
    0x803381A5: "the account has too many shells open (MaxShellsPerUser, 5 before Server 2012): wait for them to "
                "time out or raise winrm/config/winrs MaxShellsPerUser",
    0x803381AB: "too many users have shells open (MaxConcurrentUsers): retry later or raise the quota",
    0x80338140: "the server refuses code page 65001 (UTF-8) for the cmd shell, as 2003/2008 WinRM does",
}


@dataclass(frozen=True, slots=True)
class BuildStatus:
    """What the advisory says of a build, as far as doctor needs it: the scan's verdict without the log."""

    name: str  # e.g. "SMS 2003", "ConfigMgr 2007 SP2"
    verdict: str  # NOT_APPLICABLE (another product) or NOT_AFFECTED (the fix is in)


BuildJudge = Callable[[str | None], "BuildStatus | None"]


def _no_judge(build: str | None) -> BuildStatus | None:
    return None


class LogonAllowance(Protocol):
    """What HostDoctor asks before it logs on, shared by the run's hosts (scanner.scan.doctor_gate answers it from
    the run's logon gate): a host logs on only while its account's password has not been rejected too often."""

    def rejected_by(self, account: object) -> str | None:
        """None: log on now; else why this one must not try ("3 host(s) in a row rejected its password: ...")."""

    def reject(self, account: object, host: str) -> None:
        """`host` rejected the account's password."""


def _fail_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    return exc.strerror or str(exc) or type(exc).__name__


class HostDoctor:
    """Diagnoses one host; `run()` in a worker thread returns its checks, `abort()` may come from any thread."""

    def __init__(self, host: Host, options: SessionOptions, deadline: float, rejected: LogonAllowance, *,
                 account: object = None, ticket_only: bool = False, blocked: Check | None = None,
                 no_logon: str | None = None, clock: Callable[[], float] = time.monotonic,
                 build_status: BuildJudge = _no_judge) -> None:
        """`blocked`: a check that already failed before any contact (a transport the policy refuses);
        `no_logon`: why logging on must not even be tried (the jump box's Kerberos failed); `build_status`:
        the verdict the scan reaches from a build alone (None: the log decides)."""
        self.host = host
        self.options = options
        self.deadline = deadline
        self.rejected = rejected
        self.account = account
        self.ticket_only = ticket_only
        self.no_logon = no_logon
        self.clock = clock
        self.build_status = build_status
        self.checks: list[Check] = [blocked] if blocked is not None else []
        self.step = STEPS[0]
        self._session: HostSession | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._aborted = threading.Event()

    # -- the runner's job protocol -------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return 0 if self._session is None else self._session.requests

    @property
    def password_sent(self) -> bool:
        """The logon step's password may have left for the host (or the KDC): see scanner.winrm.transport."""
        return self._session is not None and self._session.password_sent

    def abort(self) -> None:
        self._aborted.set()
        with self._lock:
            session, sockets = self._session, list(self._sockets)
        if session is not None:
            session.abort()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> list[Check]:
        if self.checks and not self.checks[-1].ok:
            return self.checks
        steps: list[Callable[[], bool]] = [self._dns, self._tcp]
        if self.host.scheme == "https":
            steps.append(self._tls)
        steps += [self._http, self._winrm]
        for step in steps:
            if self._aborted.is_set() or not step():
                break
        return self.checks

    # -- helpers -----------------------------------------------------------------------------------
    def _add(self, ok: bool, detail: str, hint: str = "") -> bool:
        self.checks.append(Check(self.step, ok, detail, "" if ok else hint))
        return ok

    def _timeout(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise HostTimeout(self.host.name, "doctor's per-host deadline reached")
        return max(0.1, min(self.options.connect_timeout, left))

    def _connect(self, port: int, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self.host.address, port), timeout=timeout or self._timeout())
        with self._lock:
            self._sockets.append(sock)
        if self._aborted.is_set():
            sock.close()
            raise HostTimeout(self.host.name, "aborted")
        return sock

    # -- the steps -----------------------------------------------------------------------------------
    def _dns(self) -> bool:
        self.step = "dns"
        host = self.host
        kerberos = host.auth in ("kerberos", "negotiate")
        spn = f"; Kerberos SPN {spn_for(self.options.spn_service, host.name)}" if kerberos else ""
        problem = kerberos_problem(host)
        if problem is not None:
            return self._add(False, problem[0], problem[1])
        if is_ip_address(host.address):
            return self._add(True, f"{host.address} is an address, no lookup needed{spn}")
        try:
            found = socket.getaddrinfo(host.address, host.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            return self._add(False, f"{host.address} does not resolve: {reason}",
                             "check the name in DNS, or give the server's IP in the inventory's address column "
                             "(keep its DNS name in host for Kerberos)")
        addresses = sorted({str(info[4][0]) for info in found})
        return self._add(True, f"{host.address} -> {', '.join(addresses[:4])}{spn}")

    def _tcp(self) -> bool:
        self.step = "tcp"
        host = self.host
        try:
            self._connect(host.port).close()
        except OSError as exc:
            reason = _fail_reason(exc)
            others = [p for p in WINRM_PORTS if p != host.port and self._answers(p)]
            detail = f"{host.address}:{host.port}: {reason}"
            if others:
                detail += f"; answering instead: {', '.join(map(str, others))}"
                hint = (f"WinRM may listen on {others[0]} (WinRM 1.1 on Server 2003 R2/2008 uses 80/443, WinRM 2.0 "
                        f"5985/5986): set port {others[0]} for this host in the inventory, or --port")
            else:
                hint = ("no WinRM port answers: check that the WinRM service runs (winrm quickconfig) and that the "
                        "firewall lets this jump box in")
            return self._add(False, detail, hint)
        return self._add(True, f"{host.address}:{host.port} accepts connections")

    def _answers(self, port: int) -> bool:
        try:
            self._connect(port, timeout=min(2.0, self._timeout())).close()
        except OSError:
            return False
        return True

    def _tls(self) -> bool:
        self.step = "tls"
        context = self._tls_context(self.options.ca_file or True)
        try:
            version, cert = self._handshake(context)
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or str(exc)
            cert_text = self._peek_certificate()
            detail = f"certificate not trusted: {reason}{cert_text}"
            if self.options.insecure:
                return self._add(True, f"{detail} (not checked: --insecure)")
            if "expired" in reason:
                hint = "renew the server's certificate (and rebind the WinRM HTTPS listener to it)"
            elif "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
                hint = "use the name the certificate was issued for in the inventory, or reissue the certificate"
            else:
                hint = "give the CA that issued the server's certificate with --ca-file (or add it to the system store)"
            return self._add(False, detail, hint)
        except (ssl.SSLError, OSError) as exc:
            legacy = self._legacy_version()
            if legacy is not None:
                return self._add(False, f"handshake failed: the server speaks only {legacy} (a Server 2003/2008 "
                                        "listener, often with a SHA-1 certificate)",
                                 "this jump box's TLS refuses TLS 1.0/1.1 by default: set tls=legacy for this host "
                                 "in the inventory (or scan with --tls legacy), or use WinRM over HTTP with message "
                                 "encryption")
            reason = str(exc) if isinstance(exc, ssl.SSLError) else _fail_reason(exc)
            return self._add(False, f"handshake failed: {reason}",
                             "check that the port speaks HTTPS (5986/443) and not HTTP")
        return self._add(True, f"{version}, {cert}")

    def _tls_context(self, verify: bool | str) -> ssl.SSLContext:
        """The scan's TLS context for this host (legacy where the inventory or --tls legacy says so)."""
        return client_context(verify, legacy=self.host.tls == "legacy", default_ca=default_ca_bundle())

    def _handshake(self, context: ssl.SSLContext) -> tuple[str, str]:
        with self._connect(self.host.port) as raw, \
                context.wrap_socket(raw, server_hostname=self.host.address) as tls:
            der = tls.getpeercert(binary_form=True) or b""
            return str(tls.version()), _describe_certificate(der)

    def _peek_certificate(self) -> str:
        context = legacy_context(False)  # only to show the certificate: whatever TLS the server speaks
        try:
            return "; " + self._handshake(context)[1]
        except (ssl.SSLError, OSError):
            return ""

    def _legacy_version(self) -> str | None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        # Python flags TLS 1.0 as deprecated: here it is the point (to say the server speaks nothing newer).
        with warnings.catch_warnings(), contextlib.suppress(ValueError, ssl.SSLError):
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            version, _ = self._handshake(context)
        except (ssl.SSLError, OSError):
            return None
        return version if version in ("TLSv1", "TLSv1.1") else None

    def _http(self) -> bool:
        self.step = "http listener"
        host = self.host
        verify: bool | str = False if self.options.insecure else (self.options.ca_file or True)
        with requests.Session() as http, warnings.catch_warnings():
            http.trust_env = False  # as the scan: no environment proxy between us and the server
            if host.scheme == "https":
                http.mount("https://", TLSContextAdapter(lambda: self._tls_context(verify)))
            warnings.simplefilter("ignore", InsecureRequestWarning)  # --insecure was asked for, and is reported
            try:
                reply = http.post(host.url, data=b"", timeout=(self._timeout(), self._timeout()), verify=verify,
                                  allow_redirects=False,
                                  headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
            except requests.RequestException as exc:
                return self._add(False, f"no HTTP answer on {host.url}: {type(exc).__name__}",
                                 "check that this port speaks " + host.scheme.upper())
        server = reply.headers.get("Server", "no Server header")
        offered = reply.headers.get("WWW-Authenticate", "")
        if reply.status_code != 401 or not offered:
            is_iis = "IIS" in server
            what = f"IIS ({server})" if is_iis else f"something else ({server})"
            hint = ("IIS answers this port and WinRM's /wsman is not there: run `winrm quickconfig` on the server, or "
                    "use the port WinRM listens on (5985 with WinRM 2.0)") if is_iis else \
                "this port is not a WinRM listener: check the port (5985/5986, or 80/443 for WinRM 1.1)"
            return self._add(False, f"{what} answered POST /wsman with HTTP {reply.status_code} "
                                    f"{reply.headers.get('Content-Type', '')}".rstrip(), hint)
        self._add(True, f"WinRM listener at {host.url} ({server})")
        self.step = "auth methods"
        schemes = auth_schemes(offered)
        usable = _USABLE_SCHEMES.get(host.auth, ())
        if host.auth != "certificate" and not any(s.lower() in usable for s in schemes):
            suggestion = "kerberos" if any(s.lower() == "kerberos" for s in schemes) else \
                "basic (over https)" if any(s.lower() == "basic" for s in schemes) else "ntlm"
            return self._add(False, f"the server offers {', '.join(schemes)}; --auth {host.auth} cannot use that",
                             f"use --auth {suggestion} (or the inventory's auth column) for this host")
        return self._add(True, f"offers {', '.join(schemes)}; using {host.auth}")

    def _winrm(self) -> bool:
        self.step = "logon"
        host = self.host
        if self.no_logon is not None:
            return self._add(False, f"not tried: {self.no_logon}", "fix the jump box's problem first (above)")
        earlier = self.rejected.rejected_by(self.account)
        if earlier is not None:
            return self._add(False, lockout_protection(self.account, earlier),
                             "fix the password first; doctor stops logging on with it to protect the account from "
                             "a lockout")
        session = HostSession(host, self.options, deadline=self.deadline)
        with self._lock:
            self._session = session
        if self._aborted.is_set():
            session.abort()
        shell = CmdShell(session)
        try:
            try:
                winrs = shell.open_preferring_utf8()  # code page 437 where UTF-8 is refused, as the scan does
            except Exception as exc:  # noqa: BLE001 - translated like the scan does, then judged per step
                return self._logon_failed(exc, proven=session.proven)
            user = host.username or self.options.username
            method = session.negotiated_protocol or host.auth
            self._add(True, f"logged on with {method}" + (f" as {user}" if user else " with the jump box's ticket"
                                                          if method == "kerberos" else ""))
            self.step = "shell"
            self._add(True, f"cmd shell opened (code page {shell.codepage}"
                      + (": the server refused UTF-8, as 2003 WinRM does)" if shell.codepage == CODEPAGE_OEM else ")"))
            return self._registry_and_log(shell, winrs)
        finally:
            with contextlib.suppress(Exception):
                shell.delete()
            session.close()

    def _logon_failed(self, exc: BaseException, *, proven: bool) -> bool:
        error = translate(exc, self.host.name, ticket_only=self.ticket_only)
        if proven and (isinstance(exc, WSManFaultError) or (error.fault_code is not None and error.fault_code != 1326)):
            # the server answered our request after the logon (a fault naming it): the logon worked, the shell did not
            self._add(True, "logged on (the server answered the shell request)")
            self.step = "shell"
            hint = SHELL_FAULT_HINTS.get(error.fault_code or -1, error.hint)
            return self._add(False, error.message, hint or "see the fault's text")
        if error.password_rejected:
            self.rejected.reject(self.account, self.host.name)
        return self._add(False, error.message, error.hint or _logon_hint(error))

    def _registry_and_log(self, shell: CmdShell, winrs: WinRS) -> bool:
        self.step = "registry"
        nonce = secrets.token_hex(6)

        def read_once(runner: CommandRunner) -> MarkerSplitter:
            split = MarkerSplitter(nonce, section_names(), MAX_REGISTRY_BYTES)

            def sink(chunk: bytes) -> bool:
                split.feed(chunk)
                return split.total <= MAX_REGISTRY_BYTES

            runner.run(registry_command(nonce), sink, what="doctor: registry read")
            split.close()
            return split

        runner = CommandRunner(winrs, self.host.name)
        try:
            split = read_once(runner)
            if "end" not in split.sections and shell.codepage == CODEPAGE_UTF8:
                # 2008 runs nothing under UTF-8: the scan then uses code page 437, and so does doctor
                shell.delete()
                runner = CommandRunner(shell.open(CODEPAGE_OEM), self.host.name)
                self._add(True, "nothing ran under code page 65001 (as on Server 2008): code page 437 instead")
                split = read_once(runner)
        except Exception as exc:  # noqa: BLE001 - any failure here is the step's result, with the scan's words
            error = translate(exc, self.host.name)
            return self._add(False, error.message, error.hint or "see the error's text")
        if "end" not in split.sections:
            return self._add(False, "the registry read ended without its closing marker",
                             "the reply was cut off or is not cmd's: check the WinRM service on the server")
        read = read_registry(split.sections, CODECS[shell.codepage])
        if read.denied:
            first = read.denied[0]
            return self._add(False, f"reg query {first.path}: {first.denied}",
                             f"give the account read access to {first.path} (and under Wow6432Node on 64-bit "
                             "Windows); administrators have it unless the ACL was changed")
        reg = pick_registry(read)
        if reg.setup is None:
            return self._add(True, "no ConfigMgr Setup key: not a ConfigMgr site server (the scan judges it "
                                   "NOT_APPLICABLE); nothing more to check")
        full_version = reg.setup.text("Full Version") or None
        build = full_version or "unknown build"
        site = reg.ident.text("Site Code") if reg.ident else None
        known = self.build_status(full_version)
        if known is not None and known.verdict == "NOT_APPLICABLE":
            return self._add(True, f"build {build} under {reg.root}" + (f", site {site}" if site else "")
                             + f": {known.name}, not ConfigMgr 2007 (the scan judges it NOT_APPLICABLE from its "
                               "build); its log is not needed")
        path, problem = log_paths(reg, environment(read, reg.root))
        self._add(True, f"ConfigMgr {build} under {reg.root}" + (f", site {site}" if site else "")
                  + (f"; log {path}" if path else ""))
        self.step = "log file"
        if path is None:
            if known is not None:
                return self._add(True, f"no log to read ({problem}); not needed: {known.name} has the fix (the scan "
                                       f"judges it {known.verdict} from its build)")
            return self._add(False, f"no log to read: {problem}",
                             r"check TraceFilename under HKLM\SOFTWARE\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER")
        return self._log(runner, path, CODECS[shell.codepage], known)

    def _log(self, runner: CommandRunner, path: str, codec: str, known: BuildStatus | None = None) -> bool:
        """`type` of the log after the scan's not-found probes, read only until the file's first bytes (or its
        error): a missing log is told from a denied one by the host's own words, in any language."""
        nonce = secrets.token_hex(6)
        split = MarkerSplitter(nonce, (*checked_names("fprobe", "pprobe", "log"), "end"), LOG_PEEK_BYTES)
        command = " & ".join([*not_found_probes(nonce), *checked(nonce, "log", f'type "{path}"'),
                              f"echo {marker(nonce, 'end')}"])

        def until_first_bytes(chunk: bytes) -> bool:
            split.feed(chunk)
            current = split.current_name
            return not (current in ("end", "log" + FAILED)
                        or (current == "log" and split.current_seen > LOG_PEEK_BYTES))

        try:
            runner.run(command, until_first_bytes, what="doctor: log read (first bytes only)")
        except Exception as exc:  # noqa: BLE001 - as above
            error = translate(exc, self.host.name)
            return self._add(False, error.message, error.hint or "see the error's text")
        split.close()
        answer = section(split.sections, "log", codec)
        if "log" not in split.sections:
            return self._add(False, "the log read ended without its section markers",
                             "the reply was cut off or is not cmd's: check the WinRM service on the server")
        if not answer.failed:
            seen = split.sections["log"].seen
            return self._add(True, f"{path} can be read" + ("" if seen else " (it is empty)"))
        if file_missing(answer, [section(split.sections, name, codec) for name in ("fprobe", "pprobe")]):
            if known is not None:
                return self._add(True, f"{path} does not exist; not needed: {known.name} has the fix (the scan "
                                       f"judges it {known.verdict} from its build)")
            return self._add(False, f"{path} does not exist",
                             "a site whose software update point never synchronised has no wsyncmgr.log: check the "
                             "SMS_WSUS_SYNC_MANAGER component, and TraceFilename under "
                             r"HKLM\SOFTWARE\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER")
        text = " ".join(answer.text.split())[:200] or "no reason given"
        return self._add(False, f"{path} could not be read: {text}",
                         f"give the account read access to {ntpath.dirname(path)} (the ConfigMgr Logs folder; local "
                         "Administrators can read it by default)")


def _logon_hint(error: HostError) -> str:
    if error.password_rejected:
        return "check the user name and password (doctor does not try this account on other hosts)"
    return "see the error's text"


def _describe_certificate(der: bytes) -> str:
    """Subject, issuer and expiry of a DER certificate, in a few words (also for an untrusted one)."""
    if not der:
        return "no certificate"
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "an unreadable certificate"

    def common_name(name: x509.Name) -> str:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else name.rfc4514_string()[:80]

    expires = cert.not_valid_after_utc
    days = (expires - datetime.now(UTC)).days
    algorithm = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else "?"
    return (f"certificate {common_name(cert.subject)} from {common_name(cert.issuer)}, {algorithm}, valid until "
            f"{expires:%Y-%m-%d} ({days} days)")
