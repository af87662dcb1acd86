"""Collect one site server's facts and Wsyncmgr logs through a single WinRS cmd shell, read-only.

Round trips per host: Create shell, Command (all registry reads, batched), Receive, Command (both log
files), Receive x N (replies are capped by MaxEnvelopeSize, and older servers send less per reply), Delete
shell; a host without the SMS Setup key needs no second command. Measured against the simulator: 6 WS-Man
requests for a modern host without logs, 8 for a 330 KB wsyncmgr.log (plus 2 HTTP round trips of NTLM
handshake on HTTP through cmaudit's own transport, 3 through pypsrp's requests transport). Only `echo`,
`reg query` and `type` ever run; nothing is written to the target.
Sections of one command's output are told apart by marker lines carrying a per-run nonce (see
scanner.winrm.markers), so a log line cannot fake a section boundary. Registry values are quoted into the
second command only when they cannot change its meaning (no quotes, `&`, `|`, `<`, `>`, `^`, `%`, `!`).

Code page: the shell asks for UTF-8 (WINRS_CODEPAGE=65001), so `type` converts UTF-16 logs losslessly.
Servers before 2008 R2 may refuse it (fault 2150859072) or run nothing under it (the registry command's
closing marker never arrives): then the shell is deleted and a new one opened with the OEM code page 437,
output decoded accordingly, and the code page used recorded in the facts.

The shell is always deleted, also after the host's deadline passed or the run aborted it: on a short
deadline of its own (DELETE_TIMEOUT), over a fresh connection when the old one was shut down, so an aborted
host does not pin one of the 5 shells WinRM before Server 2012 allows per user until its IdleTimeout.

Errors: what pypsrp and the network raise is translated by the caller (scanner.winrm.faults); a failure
in cmaudit's own reading of the output (splitting sections, parsing `reg query`, choosing the log path) is
raised as HostInternalError instead, so a bug of ours is never reported as the server's malformed reply.

Byte cap (`max_log_bytes`, per file): the *tail* is kept (the newest entries are the ones that matter,
and scanner.model.snapshot.LogBlob documents truncated data as the tail). Streaming keeps at most the cap in
memory per file, but reads on to the file's end so the tail really is the newest part; only if a
server keeps sending beyond max(`STOP_FACTOR` x the cap, `MIN_READ_BUDGET`) does collection stop
reading, signal Terminate to the command and record the file as truncated (the deadline bounds the rest).
"""

from __future__ import annotations

import contextlib
import logging
import ntpath
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from pypsrp.exceptions import WSManFaultError
from pypsrp.shell import CommandState, SignalCode, WinRS
from pypsrp.wsman import NAMESPACES

from scanner.model.errors import HostAccessDenied, HostError, HostInternalError, HostProtocolError
from scanner.model.options import DEFAULT_MAX_LOG_BYTES
from scanner.model.records import HostFacts
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.winrm import sitefiles
from scanner.winrm.dirlist import DateStyle, date_style
from scanner.winrm.faults import FAULT_CODE_PAGE, FAULT_OPERATION_TIMEOUT
from scanner.winrm.hotfix import VersionFinder
from scanner.winrm.markers import (
    MarkerSplitter,
    Section,
    TailBuffer,
    checked,
    checked_names,
    failed,
    marker,
    section,
)
from scanner.winrm.pypsrp_compat import shell_selectors
from scanner.winrm.registry import (
    NATIVE_ROOT,
    WOW64_ROOT,
    RegistryFacts,
    RegistryRead,
    environment,
    expanded,
    package_sources,
    pick_registry,
    read_registry,
    registry_command,
    section_names,
)
from scanner.winrm.session import HostSession
from scanner.winrm.winrs import LiftedReceiveWinRS

__all__ = ["CODEPAGE_OEM", "CODEPAGE_UTF8", "NATIVE_ROOT", "WOW64_ROOT", "Collected", "CollectOptions",
           "MarkerSplitter", "TailBuffer", "collect", "file_missing", "log_command", "marker", "not_found_probes",
           "registry_command", "rolled_name", "safe_path"]

log = logging.getLogger(__name__)

CODEPAGE_UTF8 = 65001  # WINRS_CODEPAGE: `type` converts UTF-16 logs to UTF-8, losslessly
CODEPAGE_OEM = 437  # the fallback where a host refuses UTF-8 (2003/2008): cmd's OEM code page
CODECS = {CODEPAGE_UTF8: "utf-8", CODEPAGE_OEM: "cp437"}
STOP_FACTOR = 4
MIN_READ_BUDGET = 64 * 1024 * 1024
MAX_REGISTRY_BYTES = 1024 * 1024
MAX_STDERR_BYTES = 64 * 1024
MAX_TRAILER_BYTES = 64 * 1024  # output after the closing marker is not ours: stop reading early
MAX_SITE_FILES_BYTES = 64 * 1024 * 1024  # dir listings, the program's bytes, the Updates key (filtered as it streams)
MAX_COMMAND_LINE = 8000  # cmd.exe takes 8191 characters
DELETE_TIMEOUT = 5.0  # seconds the shell's Delete gets of its own, whatever is left of the host's budget

# Characters that would let a registry value (server-controlled) change the meaning of a cmd line.
_UNSAFE_PATH_CHARS = frozenset('"&|<>^%!\r\n\x00')
MAX_PATH_CHARS = 1024


@contextlib.contextmanager
def _reading(host: str, what: str) -> Iterator[None]:
    """Around cmaudit's own handling of output the server sent: any failure but a HostError is our bug."""
    try:
        yield
    except HostError:
        raise
    except Exception as exc:  # a bug of ours, reported as such (traceback in the debug log)
        log.debug("%s: internal error while reading the %s", host, what, exc_info=True)
        raise HostInternalError(host, f"internal error while reading the {what}: {type(exc).__name__}") from None


@dataclass(frozen=True, slots=True)
class CollectOptions:
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    kb: str = "951376"  # the advisory's KB: registrations naming it are collected as evidence (the scan sets it)
    # where a log holds this (the advisory's rarest failure token), updatewuscatalog.exe's version is read too
    failure_token: str = "CreateUpdateNode"
    fix_released: str = "2008-06-17"  # the hotfix's release: a program written since may be the fixed one


def not_found_probes(nonce: str) -> list[str]:
    """`type` of a file that cannot exist in C:\\ and of one in a folder that cannot exist (sections `fprobe`,
    `pprobe`): their error texts are this host's "not found" words, in its language."""
    return [*checked(nonce, "fprobe", f'type "C:\\cmaudit-{nonce}.absent"'),
            *checked(nonce, "pprobe", f'type "C:\\cmaudit-{nonce}\\absent.log"')]


def log_command(nonce: str, rolled: str, current: str, extra: list[str] | None = None) -> str:
    """One cmd line printing the rolled log, then the current one (type is read-only), after `extra` checked
    commands (the site files: dir, type, reg query).

    The not-found probes come first, so a log that could not be read for another reason (access denied, in any
    language) is told apart from one that is simply not there.
    """
    parts = not_found_probes(nonce) + list(extra or [])
    parts += checked(nonce, "lo_", f'type "{rolled}"')
    parts += checked(nonce, "log", f'type "{current}"')
    parts.append(f"echo {marker(nonce, 'end')}")
    return " & ".join(parts)


def safe_path(path: str) -> bool:
    """A server-supplied path we may quote into a cmd line without it changing the command."""
    return bool(path) and len(path) <= MAX_PATH_CHARS and not (set(path) & _UNSAFE_PATH_CHARS)


@dataclass(frozen=True, slots=True)
class Collected:
    """What one host gave us: the facts (for reports) and the snapshot (for the engine)."""

    facts: HostFacts
    snapshot: Snapshot


def log_paths(reg: RegistryFacts, env: dict[str, str]) -> tuple[str | None, str | None]:
    """(current log path, why it is unusable): TraceFilename, else <Installation Directory>\\Logs."""
    trace = expanded(reg.tracing.get("TraceFilename"), env) if reg.tracing else None
    install = expanded(reg.setup.get("Installation Directory"), env) if reg.setup else None
    if trace and trace.strip():
        path = trace.strip()
    elif install and install.strip():
        path = install.strip().rstrip("\\") + r"\Logs\wsyncmgr.log"
    else:
        return None, "no TraceFilename and no Installation Directory in the registry"
    if "%" in path:
        return None, f"log path from the registry names a variable cmaudit could not expand: {path[:200]}"
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
                if _code(exc) == FAULT_OPERATION_TIMEOUT:
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


def _code(exc: WSManFaultError) -> int | None:
    try:
        return int(exc.code) if exc.code is not None else None
    except (TypeError, ValueError):
        return None


class CmdShell:
    """The host's one WinRS shell: opened UTF-8 first, re-opened in 437 when needed, always deleted."""

    def __init__(self, session: HostSession) -> None:
        self.session = session
        self.shell: WinRS | None = None
        self.codepage = CODEPAGE_UTF8

    def open(self, codepage: int) -> WinRS:
        self.codepage = codepage
        shell = LiftedReceiveWinRS(self.session.wsman, codepage=codepage)
        self.shell = shell
        shell.open()
        log.debug("%s: cmd shell opened with code page %d", self.session.host.name, codepage)
        return shell

    def open_preferring_utf8(self) -> WinRS:
        try:
            return self.open(CODEPAGE_UTF8)
        except WSManFaultError as exc:
            if _code(exc) != FAULT_CODE_PAGE:
                raise
            log.debug("%s: code page %d refused (fault 0x%08X): code page %d", self.session.host.name,
                      CODEPAGE_UTF8, FAULT_CODE_PAGE, CODEPAGE_OEM)
        return self.open(CODEPAGE_OEM)  # ERROR_WINRS_CODE_PAGE_NOT_SUPPORTED: "change ... to 437"

    def delete(self) -> None:
        """Delete the shell if one is open: on its own short deadline, over a fresh session if need be."""
        shell, self.shell = self.shell, None
        if shell is None or not shell.opened:
            return
        session = self.session
        if not (session.aborted or session.expired):
            session.allow_cleanup(DELETE_TIMEOUT)
            try:
                shell.close()
                return
            except Exception as exc:  # noqa: BLE001 - the connection may be gone: try once more on a fresh one
                log.debug("%s: deleting the shell failed (%s): again on a fresh connection", session.host.name,
                          type(exc).__name__)
        log.debug("%s: deleting the shell on a fresh connection (%.0f s)", session.host.name, DELETE_TIMEOUT)
        _delete_on_fresh_session(session, shell)


def _delete_on_fresh_session(session: HostSession, shell: WinRS) -> None:
    """Best effort: a Delete over a new connection, with DELETE_TIMEOUT of its own (what was collected must
    not be lost to a failed Delete, and an aborted run must not wait on it for longer)."""
    selectors = shell_selectors(shell)
    if selectors is None:
        return
    try:
        fresh = HostSession(session.host, session.options, deadline=time.monotonic() + DELETE_TIMEOUT)
    except Exception:  # noqa: BLE001 - as below
        return
    try:
        fresh.wsman.delete(shell.resource_uri, selector_set=selectors)
        shell.opened = False
    except Exception:  # noqa: BLE001 - best effort; the shell then lives until the host's IdleTimeout
        pass
    finally:
        session.requests += fresh.requests
        try:
            fresh.close()
        except Exception:  # noqa: BLE001 - closing a pool must not mask the result
            pass


def collect(session: HostSession, options: CollectOptions, *, nonce: str | None = None) -> Collected:
    """Read the ConfigMgr facts and logs of `session.host`; raises HostError subclasses (or pypsrp's)."""
    nonce = nonce or secrets.token_hex(6)
    shell = CmdShell(session)
    try:
        winrs = shell.open_preferring_utf8()
        read = _read_registry(session, winrs, nonce, shell.codepage)
        if read is None and shell.codepage == CODEPAGE_UTF8:
            # cmd under 65001 printed nothing at all (2008 runs nothing there): the same in code page 437
            log.debug("%s: no closing marker under code page %d: again in code page %d", session.host.name,
                      CODEPAGE_UTF8, CODEPAGE_OEM)
            shell.delete()
            winrs = shell.open(CODEPAGE_OEM)
            read = _read_registry(session, winrs, nonce, shell.codepage)
        if read is None:
            # cmd always echoes the closing marker: without it the answer was cut off (over the budget) or is not
            # cmd's, and "no SMS Setup key" would wrongly clear the host as NOT_APPLICABLE
            raise HostProtocolError(session.host.name, f"registry output ended early or exceeded "
                                    f"{MAX_REGISTRY_BYTES} bytes before its closing marker")
        return _collect_in_shell(session, winrs, read, options, nonce, shell.codepage)
    finally:
        shell.delete()


def _read_registry(session: HostSession, shell: WinRS, nonce: str, codepage: int) -> RegistryRead | None:
    """The batch's answer, judged; None when its closing marker never came."""
    host = session.host.name
    runner = CommandRunner(shell, host)
    split = MarkerSplitter(nonce, section_names(), MAX_REGISTRY_BYTES)

    def sink(chunk: bytes) -> bool:
        with _reading(host, "registry output"):
            split.feed(chunk)
            return split.total <= MAX_REGISTRY_BYTES and not _past_end(split)

    runner.run(registry_command(nonce), sink, what="registry read (reg query)")
    with _reading(host, "registry output"):
        split.close()
        if "end" not in split.sections:
            return None
        return read_registry(split.sections, CODECS[codepage])


def _denied_key(host: str, path: str, text: str) -> HostAccessDenied:
    return HostAccessDenied(
        host, f"the registry key {path} could not be read: {text}",
        hint=f"Give the account read access to {path} (local Administrators have it by default): check the key's "
             "permissions in regedit on the host.")


@dataclass(frozen=True, slots=True)
class _Target:
    """What the registry said, and what the log command is to read."""

    facts: HostFacts
    snapshot: Snapshot  # build, Setup key, site type and database: the logs and files are added after the read
    path: str
    files: sitefiles.Plan
    style: DateStyle
    reg_not_found: str


def _collect_in_shell(session: HostSession, shell: WinRS, read: RegistryRead, options: CollectOptions, nonce: str,
                      codepage: int) -> Collected:
    host = session.host.name
    with _reading(host, "registry output"):
        found = _registry_facts(host, read, codepage, options)
    if isinstance(found, Collected):
        return found
    rolled, path = rolled_name(found.path), found.path
    names = (*checked_names("fprobe", "pprobe", "lo_", "log"), *sitefiles.section_names(), "end")
    split = MarkerSplitter(nonce, names, options.max_log_bytes, sitefiles.sinks(found.files))
    stop_after = max(STOP_FACTOR * options.max_log_bytes, MIN_READ_BUDGET)

    def log_sink(chunk: bytes) -> bool:
        with _reading(host, "log output"):
            split.feed(chunk)
            # per file, and overall: output outside any section (a hostile server) counts as well
            return (split.current_seen <= stop_after
                    and split.total <= 2 * stop_after + MAX_REGISTRY_BYTES + MAX_SITE_FILES_BYTES
                    and not _past_end(split))

    command = log_command(nonce, rolled, path, sitefiles.command_parts(nonce, found.files))
    if len(command) > MAX_COMMAND_LINE:  # paths near cmd's limit: the logs alone
        command = log_command(nonce, rolled, path)
    runner = CommandRunner(shell, host)
    _exit_code, _stderr, stopped = runner.run(command, log_sink, what="log read (type, dir, reg query)")
    with _reading(host, "log output"):
        collected = _logs_read(host, split, codepage, found.facts, found.snapshot, (rolled, path), stopped,
                               stop_after)
        files = sitefiles.read(split.sections, found.files, CODECS[codepage], found.style, found.reg_not_found)
    files = _follow_up(runner, nonce, codepage, found, collected, files, options)
    return _with_site_files(collected, files)


def _follow_up(runner: CommandRunner, nonce: str, codepage: int, found: _Target, collected: Collected,
               files: sitefiles.SiteFiles, options: CollectOptions) -> sitefiles.SiteFiles:
    """A third command, only where the logs call for it: the catalog they name in a folder not listed yet, and
    the program's version where they show the advisory's failure (two requests more; none on a healthy host)."""
    asked = sitefiles.follow_up([b.data for b in collected.snapshot.logs], files, found.files,
                                options.failure_token.encode("ascii"), options.fix_released, safe_path)
    parts = asked.parts(nonce)
    if not parts:
        return files
    split = MarkerSplitter(nonce, (*checked_names("named", "progbin"), "end"), 1 << 20,
                           {"progbin": VersionFinder})

    def sink(chunk: bytes) -> bool:
        with _reading(runner.host, "follow-up output"):
            split.feed(chunk)
            return split.current_seen <= MAX_SITE_FILES_BYTES and not _past_end(split)

    runner.run(" & ".join([*parts, f"echo {marker(nonce, 'end')}"]), sink, what="follow-up (dir, type)")
    with _reading(runner.host, "follow-up output"):
        split.close()
        return sitefiles.read_follow_up(split.sections, asked, files, CODECS[codepage], found.style)


def _with_site_files(collected: Collected, files: sitefiles.SiteFiles) -> Collected:
    facts = replace(collected.facts, itmu_folder=files.itmu_folder if files.itmu_installed else
                    "" if files.itmu_installed is False else None,
                    catalog=files.catalog, program=files.program, hotfix=files.hotfix)
    snapshot = replace(collected.snapshot, itmu_installed=files.itmu_installed, itmu_folder=files.itmu_folder,
                       catalog=files.catalog, program=files.program, hotfix=files.hotfix)
    return Collected(facts, snapshot)


def _registry_facts(host: str, read: RegistryRead, codepage: int, options: CollectOptions) -> Collected | _Target:
    """The facts the registry gave, and what to read next; a finished Collected when there is no log to read."""
    denied = read.denied
    if denied:
        raise _denied_key(host, denied[0].path, denied[0].denied or "")
    reg = pick_registry(read)
    log.debug("%s: registry view %s; Setup key %s", host, reg.root or "none",
              "found" if reg.setup is not None else "not found")
    if reg.setup is None:
        return Collected(HostFacts(codepage=codepage), Snapshot(build=None, setup_key_found=False))
    env = environment(read, reg.root)
    build = reg.setup.text("Full Version") or None
    site_type_value = reg.setup.get("Type")
    site_type = site_type_value.text if site_type_value is not None else None  # raw: coding not confirmed
    install_dir = expanded(reg.setup.get("Installation Directory"), env)
    facts = HostFacts(
        build=build,
        site_code=(reg.ident.text("Site Code") if reg.ident else None) or None,
        site_type=site_type,
        install_dir=install_dir,
        registry_root=reg.root,
        codepage=codepage,
        site_database=reg.site_database,
    )
    snapshot = Snapshot(build=build, setup_key_found=True, site_type=site_type, site_database=reg.site_database)
    path, problem = log_paths(reg, env)
    if path is None:
        return Collected(facts, replace(snapshot, log_error=problem))
    files = sitefiles.plan(package_sources(read), env, install_dir, options.kb, safe_path)
    intl = read.extra.get("intl")
    return _Target(replace(facts, log_path=path), snapshot, path, files, date_style(intl.key if intl else None),
                   read.not_found)


def _logs_read(host: str, split: MarkerSplitter, codepage: int, facts: HostFacts, snapshot: Snapshot,
               paths: tuple[str, str], stopped: bool, stop_after: int) -> Collected:
    """What `type` printed, as the snapshot's log blobs (a file the account may not read is ERROR/access)."""
    rolled, path = paths
    split.close()
    codec = CODECS[codepage]
    not_found = [section(split.sections, name, codec) for name in ("fprobe", "pprobe")]
    cut = split.current_name if stopped else None
    blobs: list[LogBlob] = []
    for name, file_path in (("lo_", rolled), ("log", path)):
        buf = split.sections.get(name)
        if failed(split.sections, name):  # decoded only then: a whole log as text is 330 KB of work for nothing
            answer = section(split.sections, name, codec)
            if not file_missing(answer, not_found):
                raise HostAccessDenied(
                    host, f"{file_path} could not be read: {' '.join(answer.text.split())[:200]}",
                    hint=f"Give the account read access to {ntpath.dirname(file_path)} (the ConfigMgr Logs folder; "
                         "local Administrators can read it by default).")
            continue
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
    return Collected(facts, replace(snapshot, logs=tuple(blobs), log_error=log_error))


def file_missing(answer: Section, not_found: list[Section]) -> bool:
    """`type` failed with this host's words for a missing file or folder (English when the probes say nothing)."""
    known = [probe.message for probe in not_found if probe.failed and probe.message]
    if known:
        return answer.message in known
    return "cannot find" in answer.message


def _past_end(split: MarkerSplitter) -> bool:
    return split.current_name == "end" and split.current_seen > MAX_TRAILER_BYTES
