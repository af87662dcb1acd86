"""Collect one site server's facts and Wsyncmgr logs through a single WinRS cmd shell, read-only.

Round trips per host: Create shell, Command (all registry reads, batched), Receive, Command (both log
files), Receive x N (one per ~110 KB of log: replies are capped by MaxEnvelopeSize), Delete shell;
a host without the SMS Setup key needs no second command. Measured against the simulator: 6 WS-Man
requests for a host without logs, 8 for a 330 KB wsyncmgr.log (plus 3 HTTP round trips of NTLM
handshake on HTTP). Only `echo`, `reg query` and `type` ever run; nothing is written to the target.
Sections of one command's output are told apart by marker lines carrying a per-run nonce, so a log
line cannot fake a section boundary. Registry values are quoted into the second command only when
they cannot change its meaning (no quotes, `&`, `|`, `<`, `>`, `^`, `%`, `!`).

Byte cap (`max_log_bytes`, per file): the *tail* is kept (the newest entries are the ones that matter,
and scanner.model.snapshot.LogBlob documents truncated data as the tail). Streaming keeps at most the cap in
memory per file, but reads on to the file's end so the tail really is the newest part; only if a
server keeps sending beyond max(`STOP_FACTOR` x the cap, `MIN_READ_BUDGET`) does collection stop
reading, signal Terminate to the command and record the file as truncated (the deadline bounds the rest).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pypsrp.exceptions import WSManFaultError
from pypsrp.shell import CommandState, SignalCode, WinRS
from pypsrp.wsman import NAMESPACES

from scanner.model.errors import HostProtocolError
from scanner.model.records import HostFacts
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.winrm.faults import FAULT_OPERATION_TIMEOUT
from scanner.winrm.regparse import RegKey, find_key, parse_reg_query
from scanner.winrm.session import HostSession

CODEPAGE_UTF8 = 65001  # WINRS_CODEPAGE: `type` converts UTF-16 logs to UTF-8, losslessly
DEFAULT_MAX_LOG_BYTES = 32 * 1024 * 1024  # wsyncmgr.log rolls at 2.5 MB by default: ample headroom
STOP_FACTOR = 4
MIN_READ_BUDGET = 64 * 1024 * 1024
MAX_REGISTRY_BYTES = 1024 * 1024
MAX_STDERR_BYTES = 64 * 1024
MAX_TRAILER_BYTES = 64 * 1024  # output after the closing marker is not ours: stop reading early

NATIVE_ROOT = r"HKLM\SOFTWARE\Microsoft\SMS"
WOW64_ROOT = r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS"
_SUBKEYS = {"setup": "Setup", "ident": "Identification", "tracing": r"Tracing\SMS_WSUS_SYNC_MANAGER"}
# Characters that would let a registry value (server-controlled) change the meaning of a cmd line.
_UNSAFE_PATH_CHARS = frozenset('"&|<>^%!\r\n\x00')
MAX_PATH_CHARS = 1024
SITE_TYPES = {1: "primary", 2: "secondary"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CollectOptions:
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES


@dataclass(slots=True)
class TailBuffer:
    """Keeps the last `cap` bytes fed to it and counts everything it saw."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    seen: int = 0

    def feed(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        self.data += chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]

    @property
    def truncated(self) -> bool:
        return self.seen > self.cap


class MarkerSplitter:
    """Routes a byte stream into named sections delimited by `echo <marker>` lines.

    A marker may arrive split across two Receive replies, so up to one marker's length is held back.
    """

    def __init__(self, nonce: str, names: tuple[str, ...], cap: int) -> None:
        self.prefix = f"==cmaudit:{nonce}:".encode()
        self.names = names
        self.sections: dict[str, TailBuffer] = {}
        self._current: TailBuffer | None = None
        self._pending = bytearray()
        self._hold = len(self.prefix) + max(len(n) for n in names) + 8  # marker, "==", " \r\n"
        self._cap = cap
        self.total = 0  # every byte fed, inside sections or not

    @property
    def current_seen(self) -> int:
        return 0 if self._current is None else self._current.seen

    @property
    def current_name(self) -> str | None:
        for name, buf in self.sections.items():
            if buf is self._current:
                return name
        return None

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._pending += chunk
        self._drain(final=False)

    def close(self) -> None:
        self._drain(final=True)

    def _emit(self, data: bytes | bytearray) -> None:
        if self._current is not None and data:
            self._current.feed(bytes(data))

    def _drain(self, *, final: bool) -> None:
        while True:
            at = self._pending.find(self.prefix)
            if at < 0:
                keep = 0 if final else min(len(self._pending), len(self.prefix) - 1)
                self._emit(self._pending[: len(self._pending) - keep])
                del self._pending[: len(self._pending) - keep]
                return
            self._emit(self._pending[:at])
            del self._pending[:at]
            end = self._pending.find(b"==", len(self.prefix))
            newline = self._pending.find(b"\n", len(self.prefix))
            if end < 0 or newline < 0:
                if final or len(self._pending) > self._hold:
                    # not one of our markers after all: it is data
                    self._emit(self._pending[:1])
                    del self._pending[:1]
                    continue
                return
            name = self._pending[len(self.prefix):end].decode("ascii", "replace")
            if name not in self.names or newline > end + 5:
                self._emit(self._pending[:1])
                del self._pending[:1]
                continue
            del self._pending[: newline + 1]
            self._current = self.sections.setdefault(name, TailBuffer(self._cap))


def marker(nonce: str, name: str) -> str:
    return f"==cmaudit:{nonce}:{name}=="


def registry_command(nonce: str) -> str:
    """One cmd line reading every key we need from both registry views (reg query is read-only)."""
    parts: list[str] = []
    for root_tag, root in (("n", NATIVE_ROOT), ("w", WOW64_ROOT)):
        for tag, sub in _SUBKEYS.items():
            parts.append(f"echo {marker(nonce, root_tag + tag)}")
            parts.append(f'reg query "{root}\\{sub}"')
    parts.append(f"echo {marker(nonce, 'end')}")
    return " & ".join(parts)


def log_command(nonce: str, rolled: str, current: str) -> str:
    """One cmd line printing the rolled log, then the current one (type is read-only)."""
    return " & ".join([
        f"echo {marker(nonce, 'lo_')}", f'type "{rolled}"',
        f"echo {marker(nonce, 'log')}", f'type "{current}"',
        f"echo {marker(nonce, 'end')}",
    ])


def safe_path(path: str) -> bool:
    """A server-supplied path we may quote into a cmd line without it changing the command."""
    return bool(path) and len(path) <= MAX_PATH_CHARS and not (set(path) & _UNSAFE_PATH_CHARS)


@dataclass(frozen=True, slots=True)
class Collected:
    """What one host gave us: the facts (for reports) and the snapshot (for the engine)."""

    facts: HostFacts
    snapshot: Snapshot
    stderr: bytes = b""


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    root: str | None
    setup: RegKey | None
    ident: RegKey | None
    tracing: RegKey | None


def pick_registry(sections: dict[str, TailBuffer]) -> RegistryFacts:
    """Choose the registry view ConfigMgr lives in: the one whose Setup key has a build (Wow64 first)."""
    found: list[RegistryFacts] = []
    for tag, root in (("w", WOW64_ROOT), ("n", NATIVE_ROOT)):
        keys = {
            name: find_key(parse_reg_query(_section_text(sections, tag + name)), f"{root}\\{sub}")
            for name, sub in _SUBKEYS.items()
        }
        if keys["setup"] is not None:
            found.append(RegistryFacts(root, keys["setup"], keys["ident"], keys["tracing"]))
    for facts in found:
        assert facts.setup is not None
        if facts.setup.text("Full Version") or facts.setup.text("Version"):
            return facts
    return found[0] if found else RegistryFacts(None, None, None, None)


def _section_text(sections: dict[str, TailBuffer], name: str) -> str:
    buf = sections.get(name)
    return "" if buf is None else bytes(buf.data).decode("utf-8", "replace")


def log_paths(reg: RegistryFacts) -> tuple[str | None, str | None]:
    """(current log path, why it is unusable): TraceFilename, else <Installation Directory>\\Logs."""
    trace = reg.tracing.text("TraceFilename") if reg.tracing else None
    install = reg.setup.text("Installation Directory") if reg.setup else None
    if trace:
        path = trace.strip()
    elif install:
        path = install.strip().rstrip("\\") + r"\Logs\wsyncmgr.log"
    else:
        return None, "no TraceFilename and no Installation Directory in the registry"
    if not safe_path(path):
        return None, "log path from the registry contains characters cmaudit will not pass to cmd"
    return path, None


def rolled_name(path: str) -> str:
    """wsyncmgr.log -> wsyncmgr.lo_ (ConfigMgr renames the full log so)."""
    stem, dot, ext = path.rpartition(".")
    if not dot or "\\" in ext:
        return path + ".lo_"
    return f"{stem}.{ext[:-1]}_" if ext else f"{stem}._"


class CommandRunner:
    """Runs one command in the shell and streams its stdout into a callback, with an output budget."""

    def __init__(self, shell: WinRS, host: str) -> None:
        self.shell = shell
        self.host = host

    def run(self, command_line: str, on_stdout: Callable[[bytes], bool], *,
            what: str = "command") -> tuple[int | None, bytes, bool]:
        """Returns (exit code, stderr head, stopped early). `on_stdout` returns False to stop reading.

        The trace gets `what` ran, its exit code, the number of Receives and bytes: never the output itself.
        """
        started, receives, out_bytes = time.monotonic(), 0, 0
        response = self.shell.command(command_line, None)
        element = response.find("rsp:CommandResponse/rsp:CommandId", namespaces=NAMESPACES)
        if element is None or not element.text:
            raise HostProtocolError(self.host, "the server did not return a command id")
        command_id = element.text
        stderr = bytearray()
        while True:
            try:
                state, rc, buffers = self.shell.receive("stdout stderr", command_id)
            except WSManFaultError as exc:
                if exc.code == FAULT_OPERATION_TIMEOUT:
                    log.debug("%s: %s: no output within the operation timeout, polling again", self.host, what)
                    continue  # no output within OperationTimeout: poll again (the deadline bounds this)
                raise
            receives += 1
            if len(stderr) < MAX_STDERR_BYTES:
                stderr += buffers.get("stderr", b"")[: MAX_STDERR_BYTES - len(stderr)]
            chunk = buffers.get("stdout", b"")
            out_bytes += len(chunk)
            keep_going = on_stdout(chunk)
            if state == CommandState.DONE or not keep_going:
                log.debug("%s: %s: exit code %s, %d Receive(s), %d stdout bytes, %d stderr bytes, %.0f ms%s",
                          self.host, what, rc, receives, out_bytes, len(stderr), (time.monotonic() - started) * 1000,
                          "" if state == CommandState.DONE else "; stopped reading (output budget)")
            if state == CommandState.DONE:
                return rc, bytes(stderr), False
            if not keep_going:
                self.shell.signal(SignalCode.TERMINATE, command_id)
                return rc, bytes(stderr), True


def collect(session: HostSession, options: CollectOptions, *, nonce: str | None = None) -> Collected:
    """Read the ConfigMgr facts and logs of `session.host`; raises HostError subclasses (or pypsrp's)."""
    nonce = nonce or secrets.token_hex(6)
    shell = WinRS(session.wsman, codepage=CODEPAGE_UTF8)
    shell.open()
    log.debug("%s: cmd shell opened with code page %d", session.host.name, CODEPAGE_UTF8)
    try:
        return _collect_in_shell(session, shell, options, nonce)
    finally:
        if not session.aborted:
            try:
                shell.close()
            except Exception:  # noqa: BLE001 - best effort: what was collected must not be lost to a failed Delete
                pass


def _collect_in_shell(session: HostSession, shell: WinRS, options: CollectOptions, nonce: str) -> Collected:
    host = session.host.name
    runner = CommandRunner(shell, host)
    reg_split = MarkerSplitter(nonce, tuple(t + n for t in "nw" for n in _SUBKEYS) + ("end",),
                               MAX_REGISTRY_BYTES)

    def reg_sink(chunk: bytes) -> bool:
        reg_split.feed(chunk)
        return reg_split.total <= MAX_REGISTRY_BYTES and not _past_end(reg_split)

    _, stderr, _ = runner.run(registry_command(nonce), reg_sink, what="registry read (reg query)")
    reg_split.close()
    if "end" not in reg_split.sections:
        # cmd always echoes the closing marker: without it the answer was cut off (over the budget) or is not
        # cmd's, and "no SMS Setup key" would wrongly clear the host as NOT_APPLICABLE
        raise HostProtocolError(host, f"registry output ended early or exceeded {MAX_REGISTRY_BYTES} bytes "
                                "before its closing marker")
    reg = pick_registry(reg_split.sections)
    log.debug("%s: registry view %s; Setup key %s", host, reg.root or "none",
              "found" if reg.setup is not None else "not found")
    if reg.setup is None:
        facts = HostFacts()
        return Collected(facts, Snapshot(build=None, setup_key_found=False), stderr)
    build = reg.setup.text("Full Version") or None
    site_type_value = reg.setup.get("Type")
    site_type = None
    if site_type_value is not None:
        data = site_type_value.data
        site_type = SITE_TYPES.get(data, str(data)) if isinstance(data, int) else site_type_value.text
    facts = HostFacts(
        build=build,
        site_code=(reg.ident.text("Site Code") if reg.ident else None) or None,
        site_type=site_type,
        install_dir=reg.setup.text("Installation Directory"),
        registry_root=reg.root,
    )
    path, problem = log_paths(reg)
    if path is None:
        return Collected(facts, Snapshot(build=build, setup_key_found=True, log_error=problem), stderr)
    facts = replace(facts, log_path=path)
    rolled = rolled_name(path)
    split = MarkerSplitter(nonce, ("lo_", "log", "end"), options.max_log_bytes)
    stop_after = max(STOP_FACTOR * options.max_log_bytes, MIN_READ_BUDGET)

    def log_sink(chunk: bytes) -> bool:
        split.feed(chunk)
        # per file, and overall: output outside any section (a hostile server) counts as well
        return (split.current_seen <= stop_after and split.total <= 2 * stop_after + MAX_REGISTRY_BYTES
                and not _past_end(split))

    _, log_stderr, stopped = runner.run(log_command(nonce, rolled, path), log_sink, what="log read (type)")
    split.close()
    cut = split.current_name if stopped else None
    blobs: list[LogBlob] = []
    for name, file_path in (("lo_", rolled), ("log", path)):
        buf = split.sections.get(name)
        if buf is not None and buf.seen:
            blobs.append(LogBlob(name=file_path, data=bytes(buf.data), truncated=buf.truncated or cut == name,
                                 size=buf.seen))
    for blob in blobs:
        log.debug("%s: %s: %d bytes kept%s", host, blob.name, len(blob.data), " (truncated)" if blob.truncated else "")
    log_error = None
    if stopped and "log" not in split.sections:
        log_error = f"output exceeded {stop_after} bytes before {path} was reached; collection stopped"
    elif not any(b.name == path for b in blobs):
        log_error = f"{path} was not found or is empty"
    return Collected(facts, Snapshot(build=build, setup_key_found=True, logs=tuple(blobs),
                                     log_error=log_error), stderr + log_stderr)


def _past_end(split: MarkerSplitter) -> bool:
    return split.current_name == "end" and split.current_seen > MAX_TRAILER_BYTES
