"""`Fleet`: N simulated site servers on 127.0.0.1, as a context manager for tests and benchmarks.

    with Fleet(hosts=20, password=secret, faults="3=hang") as fleet:
        fleet.write_inventory(tmp_path / "hosts.csv")
        ...scan...
        assert fleet.hosts[0].counters.requests > 0

Every host shares one asyncio loop in one background thread (see server.LoopThread).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import importlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, cast

from spnego.channel_bindings import GssChannelBindings

from simulator import auth, legacy_tls
from simulator.eras import Era, era
from simulator.faults import HostFaults, normalise
from simulator.kerberos import HostKerberos, KerberosKeys
from simulator.machine import Machine
from simulator.ntlm_store import NtlmStore, check_internals
from simulator.server import Counters, HostServer, LoopThread, machine_era

MachineFactory = Callable[[str, str], Machine]  # (profile name, computer name) -> Machine
AUTHS = ("ntlm", "negotiate", "kerberos", "basic")


def _profiles() -> ModuleType:
    """simulator.profiles, imported late: it is heavy to load and the server does not need it."""
    return importlib.import_module("simulator.profiles")


def _default_factory(profile: str, hostname: str) -> Machine:
    return cast(Machine, _profiles().load_machine(profile, hostname))


class FleetHost:
    """A read-mostly view of one simulated host."""

    def __init__(self, index: int, profile: str, server: HostServer, legacy_tls: bool = False) -> None:
        self.index = index
        self.profile = profile
        self._server = server
        self._legacy_tls = legacy_tls

    @property
    def name(self) -> str:
        return self._server.name

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def scheme(self) -> str:
        return self._server.scheme

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/wsman"

    @property
    def faults(self) -> HostFaults:
        return self._server.faults

    @property
    def counters(self) -> Counters:
        """Live counters (requests, bytes_in, bytes_out, auth_handshakes, ...)."""
        return self._server.counters

    @property
    def commands(self) -> list[str]:
        """Every command line this host ran, in order (a copy)."""
        return list(self._server.commands)

    @property
    def machine(self) -> Machine:
        return self._server.machine

    @property
    def era(self) -> Era:
        """How this host's WinRM service behaves (simulator.eras)."""
        return self._server.era

    @property
    def legacy_tls(self) -> bool:
        """An HTTPS listener speaking TLS 1.0 only, with a SHA-1 / RSA-1024 certificate."""
        return self._legacy_tls

    @property
    def open_shells(self) -> int:
        """WinRS shells open on this host now (those a switch pretends were left open included)."""
        return self._server.winrs.open_shells

    @property
    def running(self) -> bool:
        return self._server.running

    def __repr__(self) -> str:
        return f"FleetHost({self.index}, {self.name!r}, {self.profile!r}, {self.url!r})"


class Fleet:
    """Start simulated hosts on loopback; stop them (and remove every temp file) on exit.

    Args:
        profiles: one profile name per host; overrides `hosts` and `scenario`.
        hosts: number of hosts, with profiles from `scenario` ("mixed" or one profile name).
        tls: HTTPS listeners with a certificate from a throwaway CA (`ca_file`), else HTTP.
        latency_ms: added to every answer of every host.
        faults: a faults SPEC (see simulator.faults) or {host index: HostFaults}.
        username, password: the one account the hosts accept (`DOMAIN\\user`; over Kerberos the same
            user as `user@REALM`, where the realm's first label is DOMAIN). Default: LAB\\auditor, or the local
            account `auditor` for Basic (WinRM's Basic takes local accounts only).
        auth: what the inventory tells the scanner to use: ntlm, negotiate, kerberos or basic (HTTPS only).
        machine_factory: (profile, computer name) -> Machine, default simulator.profiles.load_machine.
        base_port: host i listens on base_port + i; default: ports chosen by the OS.
        domain: DNS domain of the hosts: host i is named `CM00i.<domain>` (its computer name stays CM00i),
            as Kerberos needs a host's DNS name for its SPN.
        kerberos: the hosts' keytabs; hosts with one accept Kerberos (Negotiate and the Kerberos scheme),
            with message encryption on HTTP and channel binding on HTTPS. Needs gssapi.
        eras: one era name for every host, or {host index: era name}; default: each machine's own (its
            profile's `era`; `modern` for custom machines). See simulator.eras.

    A host whose profile says `listener = "https"` serves HTTPS even in an HTTP fleet. HTTPS listeners of
    a legacy era (or with the `tls10` switch) speak TLS 1.0 only with a SHA-1 / RSA-1024 certificate from a
    second, legacy CA; `ca_file` then holds both CAs, and the inventory gets a `tls` column.
    """

    def __init__(self, profiles: Sequence[str] | None = None, hosts: int | None = None, scenario: str = "mixed",
                 tls: bool = False, latency_ms: float = 0, faults: str | Mapping[int, HostFaults] | None = None,
                 username: str | None = None, *, password: str, auth: str | None = None,
                 machine_factory: MachineFactory | None = None, base_port: int | None = None,
                 domain: str | None = None, kerberos: KerberosKeys | None = None,
                 eras: str | Mapping[int, str] | None = None) -> None:
        if not password:
            raise ValueError("the simulated hosts need a password")
        check_internals()  # SimulatorUnavailable (an ImportError) names what the installed pyspnego lacks
        self.tls = tls
        self.auth = auth or ("basic" if tls else "ntlm")
        self._account = _account(username or default_username(self.auth), password)
        self.username = self._account.principal
        if self.auth not in AUTHS:
            raise ValueError(f"auth must be one of {', '.join(AUTHS)}")
        if self.auth == "basic" and not tls:
            raise ValueError("basic authentication needs tls=True (WinRM refuses Basic over HTTP)")
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        self.latency_ms = latency_ms
        self._factory = machine_factory or _default_factory
        self._profiles = list(profiles) if profiles is not None else self._scenario(scenario, hosts)
        if not self._profiles:
            raise ValueError("a fleet needs at least one host")
        self._faults = normalise(faults, len(self._profiles))
        if base_port is not None and not 1 <= base_port <= 65536 - len(self._profiles):
            raise ValueError(f"base_port {base_port} leaves no room for {len(self._profiles)} hosts")
        self._base_port = base_port
        self._eras = self._era_overrides(eras)
        self.domain = domain.strip(".").lower() if domain else None
        self.kerberos = kerberos
        self.hosts: list[FleetHost] = []
        self.ca_file: str | None = None
        self._loop: LoopThread | None = None
        self._tmpdir: str | None = None
        self._ntlm_store: NtlmStore | None = None
        self._ca: Any = None  # trustme.CA of an HTTPS fleet
        self._legacy_ca: legacy_tls.LegacyCA | None = None
        self._tls_cache: dict[str, tuple[ssl.SSLContext, GssChannelBindings]] = {}

    def _era_overrides(self, eras: str | Mapping[int, str] | None) -> dict[int, Era]:
        if eras is None:
            return {}
        if isinstance(eras, str):
            return dict.fromkeys(range(len(self._profiles)), era(eras))
        for index in eras:
            if not 0 <= index < len(self._profiles):
                raise ValueError(f"era for host index {index} out of range 0..{len(self._profiles) - 1}")
        return {index: era(name) for index, name in eras.items()}

    def _scenario(self, scenario: str, hosts: int | None) -> list[str]:
        if hosts is None or hosts < 1:
            raise ValueError("give profiles=[...] or hosts=N (N >= 1)")
        if scenario == "mixed":
            return [str(name) for name in _profiles().mixed_fleet(hosts)]
        known = tuple(_profiles().PROFILE_NAMES)
        if scenario not in known:
            raise ValueError(f"unknown scenario {scenario!r}: use mixed or one of {', '.join(known)}")
        return [scenario] * hosts

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> Fleet:
        if self._loop is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("fleet already started")
        self.hosts = []
        try:
            logons = [(self._account.principal, self._account.password)]
            if self.domain:  # NTLM also takes the UPN form user@dns.domain, as a domain controller does
                logons.append((f"{self._account.user}@{self.domain}", self._account.password))
            self._ntlm_store = NtlmStore(logons)
            servers = []
            for index, profile in enumerate(self._profiles):
                computer = f"CM{index:03d}"
                name = f"{computer}.{self.domain}" if self.domain else computer
                faults = self._faults.get(index, HostFaults())
                machine = self._factory(profile, computer)
                _apply_switches(machine, faults)
                host_era = self._eras.get(index) or machine_era(machine)
                https = self.tls or getattr(machine, "listener", None) == "https"
                legacy = https and (host_era.legacy_tls or faults.tls10)
                host_tls, host_bindings = self._tls_for(faults, legacy=legacy) if https else (None, None)
                keytab = self.kerberos.keytab_for(name) if self.kerberos is not None else None
                server = HostServer(name=name, machine=machine, account=self._account,
                                    ntlm_store=self._ntlm_store, faults=faults, latency_ms=self.latency_ms,
                                    tls=host_tls, bindings=host_bindings,
                                    kerberos=HostKerberos(keytab) if keytab else None, era=host_era)
                if self._base_port is not None:
                    server.port = self._base_port + index
                servers.append(server)
                self.hosts.append(FleetHost(index, profile, server, legacy_tls=legacy))
            self._write_ca_bundle()
            _ensure_fd_limit(len(servers))
            self._loop = LoopThread()
            self._loop.start()
            self._loop.call(_start_all(servers), timeout=120)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop every host and the loop; idempotent."""
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                loop.call(_stop_all([h._server for h in self.hosts]), timeout=60)
            finally:
                loop.stop()
        if self._ntlm_store is not None:
            self._ntlm_store.close()
            self._ntlm_store = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _folder(self) -> str:
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="cmaudit-sim-tls-")
        return self._tmpdir

    def _tls_for(self, faults: HostFaults, *, legacy: bool) -> tuple[ssl.SSLContext, GssChannelBindings]:
        """The listener's TLS context: the fleet's certificate, or an expired / foreign one for the cert faults."""
        kind = "expired" if faults.expiredcert else "untrusted" if faults.untrustedcert else "good"
        key = f"{'legacy' if legacy else 'modern'}-{kind}"
        if kind == "good" and key in self._tls_cache:
            return self._tls_cache[key]
        made = self._legacy_tls(kind) if legacy else self._make_tls() if kind == "good" else \
            self._bad_tls(expired=kind == "expired")
        self._tls_cache.setdefault(key, made)
        return made

    def _legacy_tls(self, kind: str) -> tuple[ssl.SSLContext, GssChannelBindings]:
        if self._legacy_ca is None:
            self._legacy_ca = legacy_tls.LegacyCA(self._folder())
        issuer = self._legacy_ca
        if kind == "untrusted":
            other = os.path.join(self._folder(), "other")
            os.makedirs(other, exist_ok=True)
            issuer = legacy_tls.LegacyCA(other, name="Some Other Legacy CA (simulated)")
        issued = issuer.issue(expired=kind == "expired")
        return legacy_tls.server_context(issued), auth.channel_bindings_for(issued.der)

    def _write_ca_bundle(self) -> None:
        """`ca_file`: the PEM of every CA this fleet's HTTPS listeners chain to (none: no file)."""
        pems: list[bytes] = []
        if self._ca is not None:
            pems.append(self._ca.cert_pem.bytes())
        if self._legacy_ca is not None:
            pems.append(self._legacy_ca.cert_pem)
        if not pems:
            return
        path = os.path.join(self._folder(), "ca.pem")
        with open(path, "wb") as fh:
            fh.write(b"".join(pems))
        self.ca_file = path

    def _make_tls(self) -> tuple[ssl.SSLContext, GssChannelBindings]:
        import trustme
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        ca = self._ca or trustme.CA(organization_name="cmaudit simulator")
        self._ca = ca
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        der = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
        return context, auth.channel_bindings_for(der)

    def _bad_tls(self, *, expired: bool) -> tuple[ssl.SSLContext, GssChannelBindings]:
        """A server context whose certificate a validating client must refuse: expired, or another CA's."""
        import datetime

        import trustme
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        if self._ca is None:
            self._make_tls()
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            cert = self._ca.issue_cert("127.0.0.1", "localhost", not_before=now - datetime.timedelta(days=30),
                                       not_after=now - datetime.timedelta(days=1))
        else:
            cert = trustme.CA(organization_name="not the fleet's CA").issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        der = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
        return context, auth.channel_bindings_for(der)

    @property
    def account_file(self) -> str | None:
        """The fleet's private NTLM account file (hashes only), shown to its own acceptors and nobody else."""
        return self._ntlm_store.path if self._ntlm_store is not None else None

    # -- control --------------------------------------------------------------------------------------

    def _host(self, index: int) -> FleetHost:
        if not 0 <= index < len(self.hosts):
            raise IndexError(f"no host {index} in a fleet of {len(self.hosts)}")
        return self.hosts[index]

    def set_profile(self, index: int, profile: str) -> None:
        """Swap host `index` to another profile (same name and port), e.g. between two weekly scans.

        The listener (its TLS and its era) stays as it was: only the Windows behind it changes.
        """
        host = self._host(index)
        machine = self._factory(profile, host.name.split(".", 1)[0])
        _apply_switches(machine, host.faults)
        host._server.machine = machine
        host.profile = profile

    def set_machine(self, index: int, machine: Machine, profile: str = "custom") -> None:
        host = self._host(index)
        host._server.machine = machine
        host.profile = profile

    def stop_host(self, index: int) -> None:
        """Take one host off the network (connections refused) until start_host()."""
        if self._loop is None:
            raise RuntimeError("fleet not started")
        self._loop.call(self._host(index)._server.stop())

    def start_host(self, index: int) -> None:
        if self._loop is None:
            raise RuntimeError("fleet not started")
        self._loop.call(self._host(index)._server.start())

    # -- output ----------------------------------------------------------------------------------------

    def inventory_rows(self) -> list[dict[str, str]]:
        """One row per host: its name, and the loopback address a scanner connects to.

        With legacy-TLS listeners in the fleet, a `tls` column says which hosts need `legacy`, as the admin
        who knows their 2003/2008 servers writes it.
        """
        legacy = any(h.legacy_tls for h in self.hosts)
        rows = []
        for h in self.hosts:
            row = {"host": h.name, "port": str(h.port), "transport": h.scheme, "auth": self.auth,
                   "address": "127.0.0.1"}
            if legacy:
                row["tls"] = "legacy" if h.legacy_tls else "modern"
            rows.append(row)
        return rows

    def write_inventory(self, path: str | os.PathLike[str]) -> Path:
        """Write the CSV inventory `host,port,transport,auth,address[,tls]` that cmaudit scans.

        `host` is the simulated server's name (what reports and the history show), `address` where it
        listens (127.0.0.1), as an admin's CSV gives a name and, where DNS does not, an address.
        """
        target = Path(path)
        rows = self.inventory_rows()
        fields = ["host", "port", "transport", "auth", "address"] + (["tls"] if rows and "tls" in rows[0] else [])
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return target

    def __len__(self) -> int:
        return len(self.hosts)

    def __iter__(self) -> Iterator[FleetHost]:
        return iter(self.hosts)

    def __repr__(self) -> str:
        return f"Fleet({len(self._profiles)} hosts, tls={self.tls}, user={self.username!r})"


def _apply_switches(machine: Machine, faults: HostFaults) -> None:
    """The ACL switches (`regdenied`, `logdenied`) change the Windows behind the listener."""
    deny = getattr(machine, "deny_matching", None)
    if deny is not None and (faults.regdenied or faults.logdenied):
        deny(sms_setup=faults.regdenied, logs=faults.logdenied)


def default_username(auth_method: str) -> str:
    """The fleet's account when none is given: a domain account, or a local one for Basic (which WinRM checks
    against local accounts only)."""
    return "auditor" if auth_method == "basic" else "LAB\\auditor"


def _account(username: str, password: str) -> auth.Account:
    try:
        return auth.Account.parse(username, password)
    except ValueError as exc:
        raise ValueError(f"bad simulator account: {exc}") from None


def _ensure_fd_limit(hosts: int) -> None:
    """Each host needs a listening socket plus one per client connection: raise the soft limit if low."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hosts * 4 + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _start_all(servers: list[HostServer]) -> None:
    for server in servers:
        await server.start()


async def _stop_all(servers: list[HostServer]) -> None:
    await asyncio.gather(*(server.stop() for server in servers))
