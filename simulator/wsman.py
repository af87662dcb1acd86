"""WS-Management and WinRS as a Windows host answers them: envelopes, the cmd shell, and faults.

Transport-free: `WinRS.handle()` takes a decrypted SOAP request and returns the SOAP reply. The
element names, namespace prefixes and fault texts follow replies recorded from real Windows hosts
(see tests/data/pypsrp_responses), because clients parse exactly those.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree as SafeET

from simulator.eras import ACCESS_DENIED, MODERN, Era
from simulator.faults import NO_FAULTS, HostFaults
from simulator.machine import CommandResult

NS_S = "http://www.w3.org/2003/05/soap-envelope"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_X = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_E = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
NS_N = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_P = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_F = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{NS_RSP}/Command"
ACTION_RECEIVE = f"{NS_RSP}/Receive"
ACTION_SIGNAL = f"{NS_RSP}/Signal"
ACTION_SEND = f"{NS_RSP}/Send"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

STATE_DONE = f"{NS_RSP}/CommandState/Done"
STATE_RUNNING = f"{NS_RSP}/CommandState/Running"
SIGNAL_TERMINATE = f"{NS_RSP}/signal/terminate"
SIGNAL_CTRL_C = f"{NS_RSP}/signal/ctrl_c"

# winrm/config defaults of Server 2008 R2 and older: MaxEnvelopeSizekb=150, MaxTimeoutms=60000.
SERVER_MAX_ENVELOPE = 150 * 1024
MIN_ENVELOPE = 8192
MAX_TIMEOUT_S = 60.0
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_CODEPAGE = 437
MAX_SHELLS = 500  # per host; beyond it the oldest shell is dropped

# Codes as wsmerror.h / winerror.h define them (checked against the published table; see simulator.eras).
CODE_TIMED_OUT = 2150858793  # 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT
CODE_INVALID_SELECTORS = 2150858843  # 0x8033805B, what Windows sends for a gone shell or command
# 0x80338048 ERROR_WSMAN_MAX_ENVELOPE_SIZE_EXCEEDED. For an over-size *request* Windows' exact answer is not
# recorded anywhere public [U]: the WinRM client reports it as 0x80338111, a client-side code, so the
# simulator sends this fault with the request-size wording.
CODE_MAX_ENVELOPE = 2150858824
CODE_SCHEMA = 2150858817  # 0x80338041
CODE_ACTION = 2150858771  # 0x80338013
CODE_RESOURCE = 2150858770  # 0x80338012
CODE_INTERNAL = 2150858752  # 0x80338000
CODE_CODE_PAGE = 2150859072  # 0x80338140 ERROR_WINRS_CODE_PAGE_NOT_SUPPORTED
CODE_MAX_SHELLS = 2150859173  # 0x803381A5 ERROR_WSMAN_QUOTA_MAX_SHELLS (MaxShellsPerUser)
CODE_MAX_SHELL_USERS = 2150859179  # 0x803381AB ERROR_WSMAN_QUOTA_MAX_SHELLUSERS (MaxConcurrentUsers)
CODE_SHELLS_NOT_ALLOWED = 2150859180  # 0x803381AC ERROR_WSMAN_REMOTESHELLS_NOT_ALLOWED
CODEPAGE_UTF8 = 65001

_PREFIXES = {"s": NS_S, "a": NS_A, "x": NS_X, "e": NS_E, "n": NS_N, "w": NS_W, "rsp": NS_RSP, "p": NS_P}


class WsmanFault(Exception):
    """A SOAP fault as Windows sends it (HTTP 500)."""

    def __init__(self, subcode: str, reason: str, code: int, message: str | None = None, *,
                 sender: bool = True, detail: str | None = None) -> None:
        super().__init__(reason)
        self.subcode, self.reason, self.code = subcode, reason, code
        self.message = message or reason
        self.sender, self.detail = sender, detail


def access_denied_fault(code: int) -> WsmanFault:
    """A non-administrator (or a UAC-filtered token): Code 5 / w:AccessDenied, or 0x80070005 / w:InternalError."""
    if code == ACCESS_DENIED:
        return WsmanFault("w:AccessDenied", "Access is denied. ", code)
    return WsmanFault("w:InternalError", "Access is denied. ", code, sender=False)


def shells_not_allowed_fault() -> WsmanFault:
    # wsmerror.h text [V]; the subcode is not documented [U]
    return WsmanFault("w:AccessDenied", "The WS-Management service cannot process the request. The service is "
                      "configured to not accept any remote shell requests. ", CODE_SHELLS_NOT_ALLOWED)


def code_page_fault() -> WsmanFault:
    # wsmerror.h text [V]; sent on Create by servers that refuse the code page [U for 2003/2008]
    return WsmanFault("w:InternalError", "The WinRS client cannot process the request. The server cannot set Code "
                      "Page. You may want to use the CHCP command to change the client Code Page to 437 and receive "
                      "the results in English. ", CODE_CODE_PAGE, sender=False)


def quota_fault(kind: str, wording: str, limit: int) -> WsmanFault:
    """MaxShellsPerUser ("shells") or MaxConcurrentUsers ("users"): w:QuotaLimit [V MS-WSMV], wording by era."""
    if kind == "shells":
        code = CODE_MAX_SHELLS
        text = ("The Windows Remote Shell cannot process the request. The server is already executing the maximum "
                "number of concurrent shells a user can remotely open on the same system. Retry later. "
                if wording == "wsmv" else
                f"The WS-Management service cannot process the request. This user is allowed a maximum number of "
                f"{limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for "
                "this user. ")
    else:
        code = CODE_MAX_SHELL_USERS
        text = ("The Windows Remote Shell cannot process the request. The server exceeded the maximum number of "
                "users concurrently performing remote operations on the same system. Retry later. "
                if wording == "wsmv" else
                "The WS-Management service cannot process the request. The maximum number of users executing shell "
                "operations has been exceeded. Retry after some time or raise the quota for concurrent shell users. ")
    return WsmanFault("w:QuotaLimit", text, code)


def timed_out_fault() -> WsmanFault:
    text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
    return WsmanFault("w:TimedOut", text, CODE_TIMED_OUT, sender=False)


def envelope_too_big_fault() -> WsmanFault:
    # see CODE_MAX_ENVELOPE: the request-size wording with 0x80338048 [U]
    return WsmanFault(
        "w:EncodingLimit",
        "The WS-Management service cannot process the request because the request size exceeded the configured "
        "MaxEnvelopeSize quota. ",
        CODE_MAX_ENVELOPE,
        detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MaxEnvelopeSize",
    )


def malformed_fault() -> WsmanFault:
    text = "The WS-Management service cannot process the request because the XML is invalid. "
    return WsmanFault("w:SchemaValidationError", text, CODE_SCHEMA)


def _selectors_fault(message: str) -> WsmanFault:
    return WsmanFault(
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained invalid selectors "
        "for the resource. ",
        CODE_INVALID_SELECTORS,
        message,
        detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def _unknown_shell(shell_id: str) -> WsmanFault:
    return _selectors_fault(
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation. ")


def _unknown_command() -> WsmanFault:
    return _selectors_fault(
        "The Windows Remote Shell received a request to perform an operation on a command identifier that does "
        "not exist. Either the command has completed execution or the client specified an invalid command "
        "identifier. ")


def _q(tag: str) -> str:
    prefix, _, local = tag.partition(":")
    return f"{{{_PREFIXES[prefix]}}}{local}" if prefix != "wsman" else f"{{{NS_W}}}{local}"


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of a WS-Man request the shell provider looks at."""

    action: str
    message_id: str
    resource_uri: str
    to: str
    max_envelope: int
    timeout_s: float
    selectors: dict[str, str]
    options: dict[str, str]
    body: Element


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _duration(text: str | None) -> float | None:
    m = _DURATION.match((text or "").strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def parse_request(data: bytes) -> Request:
    """Parse a SOAP request safely (no DTDs, no entities); anything unusable becomes a WsmanFault."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except Exception:  # noqa: BLE001 - any parser complaint means "bad XML" to the client
        raise malformed_fault() from None
    if root.tag != _q("s:Envelope"):
        raise malformed_fault()
    header, body = root.find(_q("s:Header")), root.find(_q("s:Body"))
    if header is None or body is None:
        raise malformed_fault()

    def text(tag: str) -> str:
        el = header.find(_q(tag))
        return (el.text or "").strip() if el is not None else ""

    max_env = SERVER_MAX_ENVELOPE
    raw_max = text("wsman:MaxEnvelopeSize")
    if raw_max:
        if not raw_max.isdigit():
            raise malformed_fault()
        max_env = min(int(raw_max), SERVER_MAX_ENVELOPE)
        if max_env < MIN_ENVELOPE:
            raise WsmanFault("w:EncodingLimit", "The MaxEnvelopeSize is smaller than the minimum allowed. ",
                             CODE_MAX_ENVELOPE,
                             detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MinimumEnvelopeLimit")
    timeout = _duration(text("wsman:OperationTimeout"))
    timeout = DEFAULT_TIMEOUT_S if timeout is None else min(timeout, MAX_TIMEOUT_S)
    selectors = {el.get("Name", ""): (el.text or "").strip()
                 for el in header.iterfind(f"{_q('wsman:SelectorSet')}/{_q('wsman:Selector')}")}
    options = {el.get("Name", ""): (el.text or "").strip()
               for el in header.iterfind(f"{_q('wsman:OptionSet')}/{_q('wsman:Option')}")}
    return Request(
        action=text("a:Action"),
        message_id=text("a:MessageID"),
        resource_uri=text("wsman:ResourceURI"),
        to=text("a:To"),
        max_envelope=max_env,
        timeout_s=timeout,
        selectors=selectors,
        options=options,
        body=body,
    )


def _new_id() -> str:
    return str(uuid.uuid4()).upper()


def envelope(action: str, relates_to: str | None, body: str, prefixes: str) -> str:
    """A reply envelope with the header Windows sends; `prefixes` lists the namespaces it declares."""
    ns = " ".join(f"xmlns:{p}={quoteattr(_PREFIXES[p])}" for p in prefixes.split())
    relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to else ""
    return (
        f'<s:Envelope xml:lang="en-US" {ns}><s:Header><a:Action>{action}</a:Action>'
        f"<a:MessageID>uuid:{_new_id()}</a:MessageID><a:To>{ANONYMOUS}</a:To>{relates}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def fault_envelope(fault: WsmanFault, relates_to: str | None, machine: str, *, nested: bool = False) -> str:
    """The SOAP fault; `nested` puts the message where a provider's faults carry it (recorded in pypsrp's
    test_psrp_is_alive_invalid_selectors.yml): f:Message > f:ProviderFault > f:WSManFault > f:Message."""
    detail = f"<w:FaultDetail>{fault.detail}</w:FaultDetail>" if fault.detail else ""
    inner = f'<f:WSManFault xmlns:f="{NS_F}" Code="{fault.code}" Machine={quoteattr(machine)}>'
    message = f"<f:Message>{escape(fault.message)}</f:Message>"
    if nested:
        message = (r'<f:Message><f:ProviderFault provider="Shell provider" path="%systemroot%\system32\WsmSvc.dll">'
                   f"{inner}{message}</f:WSManFault></f:ProviderFault></f:Message>")
    body = (
        f"<s:Fault><s:Code><s:Value>{'s:Sender' if fault.sender else 's:Receiver'}</s:Value>"
        f"<s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"<s:Detail>{detail}{inner}{message}</f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope(ACTION_FAULT, relates_to, body, "s a x e n w p")


class _Output:
    """One stream of a command's output, read in pieces; `filler` bytes follow the real ones lazily, and
    `inject` bytes of `pattern` are served lazily at offset `inject_at` (hostile-payload faults)."""

    _LINE = b"filler output from the huge-stdout fault .......................................\r\n"

    def __init__(self, data: bytes, filler: int = 0, *, inject_at: int = 0, inject: int = 0,
                 pattern: bytes = b"A") -> None:
        self._data, self._pos, self._filler = data, 0, filler
        self._inject_at, self._inject, self._pattern = inject_at, inject, pattern

    def read(self, n: int) -> bytes:
        out = b""
        if self._inject > 0 and self._pos >= self._inject_at:
            want = min(n, self._inject)
            out = (self._pattern * (want // len(self._pattern) + 1))[:want]
            self._inject -= want
            n -= want
        end = self._pos + n
        if self._inject > 0:
            end = min(end, self._inject_at)
        chunk = self._data[self._pos:end]
        self._pos += len(chunk)
        out += chunk
        n -= len(chunk)
        if n > 0 and self._filler > 0 and self._pos >= len(self._data) and self._inject <= 0:
            want = min(n, self._filler)
            reps = want // len(self._LINE) + 1
            out += (self._LINE * reps)[:want]
            self._filler -= want
        return out

    @property
    def drained(self) -> bool:
        return self._pos >= len(self._data) and self._filler <= 0 and self._inject <= 0


@dataclass(slots=True)
class _Command:
    stdout: _Output
    stderr: _Output
    exit_code: int
    ready_at: float
    endless: bool = False
    received: bool = False  # a Receive has answered already (the first one gets what is ready: one chunk)


@dataclass(slots=True)
class _Shell:
    codepage: int
    owner: str = ""
    commands: dict[str, _Command] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is asking: names for CreateResponse, and whether the account's token holds administrator rights."""

    owner: str
    client_ip: str
    admin: bool = True


@dataclass(frozen=True, slots=True)
class ShellPolicy:
    """How this host's WinRS provider behaves: its era's defaults with the host's switches applied."""

    era: Era = MODERN
    codepage_65001: str = "works"
    max_shells_per_user: int = 0
    max_concurrent_users: int = 0
    allow_remote_shell: bool = True
    nested_faults: bool = False
    stream_chunk: int | None = None
    streams_per_reply: int = 0
    leaked_shells: int = 0
    leaked_release_after: int | None = None
    other_users: int = 0
    other_release_after: int | None = None

    @classmethod
    def for_host(cls, era: Era, faults: HostFaults) -> ShellPolicy:
        chunk = faults.stream_chunk or era.stream_chunk
        return cls(
            era=era,
            codepage_65001=faults.codepage_65001 or era.codepage_65001,
            max_shells_per_user=era.max_shells_per_user or (5 if faults.leaked_shells else 0),
            max_concurrent_users=era.max_concurrent_users or (5 if faults.other_users else 0),
            allow_remote_shell=not faults.noshell,
            nested_faults=faults.nestedfault,
            stream_chunk=chunk,
            streams_per_reply=8 if faults.stream_chunk else era.streams_per_reply,
            leaked_shells=faults.leaked_shells,
            leaked_release_after=faults.leaked_release_after,
            other_users=faults.other_users,
            other_release_after=faults.other_release_after,
        )


Runner = Callable[[str, int], CommandResult]


class WinRS:
    """The WinRS cmd shell provider of one host: shells, commands and their pending output."""

    def __init__(self, machine_name: Callable[[], str], run: Runner, faults: HostFaults = NO_FAULTS,
                 policy: ShellPolicy | None = None) -> None:
        self._machine_name = machine_name
        self._run = run
        self.faults = faults
        self.policy = policy or ShellPolicy.for_host(MODERN, faults)
        self._shells: dict[str, _Shell] = {}
        self._seeded = False
        self._quota_refusals = {"shells": 0, "users": 0}
        self.max_reply_envelope = 0  # largest plaintext reply so far, so tests can prove the limit held

    @property
    def open_shells(self) -> int:
        """Shells open now, those a switch pretends others (or an earlier run) left open included."""
        return len(self._shells)

    def fault_reply(self, fault: WsmanFault, relates_to: str | None) -> str:
        return fault_envelope(fault, relates_to, self._machine_name(), nested=self.policy.nested_faults)

    async def handle(self, data: bytes, ctx: CallContext) -> tuple[int, str]:
        """Answer one decrypted request: (HTTP status, SOAP text). Never raises for bad input."""
        relates: str | None = None
        try:
            if len(data) > SERVER_MAX_ENVELOPE:
                raise envelope_too_big_fault()
            req = parse_request(data)
            relates = req.message_id or None
            reply = await self._dispatch(req, ctx)
        except WsmanFault as fault:
            reply, status = self.fault_reply(fault, relates), 500
        else:
            status = 200
        self.max_reply_envelope = max(self.max_reply_envelope, len(reply.encode("utf-8")))
        return status, reply

    async def _dispatch(self, req: Request, ctx: CallContext) -> str:
        handlers = {
            ACTION_CREATE: self._create,
            ACTION_DELETE: self._delete,
            ACTION_COMMAND: self._command,
            ACTION_RECEIVE: self._receive,
            ACTION_SIGNAL: self._signal,
            ACTION_SEND: self._send,
        }
        if not ctx.admin:
            # WinRM checks its RootSDDL on every request: the logon worked, the access check did not
            raise access_denied_fault(self.policy.era.access_denied_code)
        handler = handlers.get(req.action)
        if handler is None:
            raise WsmanFault("a:ActionNotSupported",
                             f"The action is not supported by the service. Action: {req.action[:200]} ",
                             CODE_ACTION)
        if req.resource_uri != RESOURCE_CMD:
            raise WsmanFault("w:DestinationUnreachable",
                             "The WS-Management service cannot process the request because the resource URI "
                             "is not valid or not found. ", CODE_RESOURCE)
        return await handler(req, ctx)

    def _shell(self, req: Request) -> tuple[str, _Shell]:
        shell_id = req.selectors.get("ShellId", "")
        shell = self._shells.get(shell_id.upper())
        if shell is None:
            raise _unknown_shell(shell_id[:100])
        return shell_id.upper(), shell

    def _seed(self, owner: str) -> None:
        """Once: the shells a switch says are already open (an earlier run's, or other users')."""
        if self._seeded:
            return
        self._seeded = True
        for n in range(self.policy.leaked_shells):
            self._shells[f"LEAKED-{n}"] = _Shell(DEFAULT_CODEPAGE, owner)
        for n in range(self.policy.other_users):
            self._shells[f"OTHER-{n}"] = _Shell(DEFAULT_CODEPAGE, f"LAB\\user{n + 1}")

    def _refuse_quota(self, kind: str) -> WsmanFault:
        """The quota fault; after the switch's K refusals the shells holding the quota time out."""
        policy = self.policy
        self._quota_refusals[kind] += 1
        release = policy.leaked_release_after if kind == "shells" else policy.other_release_after
        limit = policy.max_shells_per_user if kind == "shells" else policy.max_concurrent_users
        fault = quota_fault(kind, policy.era.quota_wording, limit)
        if release is not None and self._quota_refusals[kind] >= release:
            prefix = "LEAKED-" if kind == "shells" else "OTHER-"
            for shell_id in [k for k in self._shells if k.startswith(prefix)]:
                del self._shells[shell_id]  # IdleTimeout ran out for them
        return fault

    def _check_quotas(self, owner: str) -> None:
        policy = self.policy
        mine = sum(1 for shell in self._shells.values() if shell.owner.upper() == owner.upper())
        if policy.max_shells_per_user and mine >= policy.max_shells_per_user:
            raise self._refuse_quota("shells")
        others = {shell.owner.upper() for shell in self._shells.values()} - {owner.upper()}
        if policy.max_concurrent_users and not mine and len(others) >= policy.max_concurrent_users:
            raise self._refuse_quota("users")

    async def _create(self, req: Request, ctx: CallContext) -> str:
        if not self.policy.allow_remote_shell:
            raise shells_not_allowed_fault()
        raw_cp = req.options.get("WINRS_CODEPAGE", "")
        codepage = int(raw_cp) if raw_cp.isdigit() else DEFAULT_CODEPAGE
        if codepage == CODEPAGE_UTF8 and self.policy.codepage_65001 == "refuse":
            raise code_page_fault()
        self._seed(ctx.owner)
        self._check_quotas(ctx.owner)
        shell_id = _new_id()
        if len(self._shells) >= MAX_SHELLS:
            # Clients that vanish without Delete would otherwise pin their output forever; Windows drops
            # such shells after IdleTimeOut, we drop the oldest once there are too many.
            del self._shells[next(iter(self._shells))]
        self._shells[shell_id] = _Shell(codepage=codepage, owner=ctx.owner)
        address = req.to or "http://localhost/wsman"
        created = (
            f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{RESOURCE_CMD}</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
            "</x:ResourceCreated>"
        )
        if not self.policy.era.shell_in_create_reply:
            return envelope(f"{ACTION_CREATE}Response", req.message_id, created, "s a x w rsp p")
        body = (
            f'{created}<rsp:Shell xmlns:rsp="{NS_RSP}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
            f"<rsp:ResourceUri>{RESOURCE_CMD}</rsp:ResourceUri><rsp:Owner>{escape(ctx.owner)}</rsp:Owner>"
            f"<rsp:ClientIP>{escape(ctx.client_ip)}</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
            "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
            "</rsp:Shell>"
        )
        return envelope(f"{ACTION_CREATE}Response", req.message_id, body, "s a x w rsp p")

    async def _delete(self, req: Request, ctx: CallContext) -> str:
        shell_id, _ = self._shell(req)
        del self._shells[shell_id]
        return envelope(f"{ACTION_DELETE}Response", req.message_id, "", "s a w p")

    async def _command(self, req: Request, ctx: CallContext) -> str:
        _, shell = self._shell(req)
        line_el = req.body.find(_q("rsp:CommandLine"))
        if line_el is None:
            raise malformed_fault()
        cmd_el = line_el.find(_q("rsp:Command"))
        parts = [(cmd_el.text or "") if cmd_el is not None else ""]
        parts += [(arg.text or "") for arg in line_el.iterfind(_q("rsp:Arguments"))]
        command_line = " ".join(p for p in parts if p != "")
        try:
            if shell.codepage == CODEPAGE_UTF8 and self.policy.codepage_65001 == "silent":
                # what 2008 does with batch files under 65001: nothing runs, no output, exit 0 [S]; that
                # it does the same for reg/type is a switch, not a fact [U]
                result = CommandResult(b"", b"", 0)
            else:
                result = self._run(command_line, shell.codepage)
        except Exception as exc:  # noqa: BLE001 - a broken virtual host must not take the listener down
            raise WsmanFault("w:InternalError", "The WS-Management service cannot process the request because "
                             f"the shell provider failed: {type(exc).__name__}. ", CODE_INTERNAL,
                             sender=False) from None
        filler = int(self.faults.huge_mb * 1024 * 1024)
        command_id = _new_id()
        inject, pattern = int(self.faults.bigline_mb * 1024 * 1024), b"A"
        inject_at = result.stdout.find(b"\n") + 1
        if not inject and self.faults.nulflood_mb and "type " in command_line.lower():
            # inside the file printed: after the first line break past the middle of the output (a command's
            # output is mostly the file it types, whatever short lines come before it)
            inject, pattern = int(self.faults.nulflood_mb * 1024 * 1024), b"\x00"
            inject_at = result.stdout.find(b"\n", len(result.stdout) // 2) + 1
        shell.commands[command_id] = _Command(
            stdout=_Output(result.stdout, filler, inject_at=inject_at, inject=inject, pattern=pattern),
            stderr=_Output(result.stderr),
            exit_code=result.exit_code,
            ready_at=time.monotonic() + self.faults.command_delay_s,
            endless=self.faults.endless,
        )
        body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
        return envelope(f"{ACTION_COMMAND}Response", req.message_id, body, "s a x w rsp p")

    def _find_command(self, shell: _Shell, command_id: str | None) -> tuple[str, _Command]:
        cid = (command_id or "").upper()
        command = shell.commands.get(cid)
        if command is None:
            raise _unknown_command()
        return cid, command

    async def _receive(self, req: Request, ctx: CallContext) -> str:
        _, shell = self._shell(req)
        desired = req.body.find(f"{_q('rsp:Receive')}/{_q('rsp:DesiredStream')}")
        if desired is None:
            raise malformed_fault()
        cid, command = self._find_command(shell, desired.get("CommandId"))
        wait = command.ready_at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(min(wait, req.timeout_s))
            if command.ready_at > time.monotonic():
                raise timed_out_fault()
        if command.endless and command.stdout.drained:
            await asyncio.sleep(min(0.05, req.timeout_s))
            command.stdout = _Output(b"still working...\r\n")
        return self._receive_reply(req, cid, command)

    def _receive_reply(self, req: Request, cid: str, command: _Command) -> str:
        def stream(name: str, data: bytes, end: bool = False) -> str:
            end_attr = ' End="true"' if end else ""
            text = base64.b64encode(data).decode()
            return f'<rsp:Stream Name="{name}" CommandId="{cid}"{end_attr}>{text}</rsp:Stream>'

        done_tail = (
            stream("stdout", b"", True) + stream("stderr", b"", True)
            + f'<rsp:CommandState CommandId="{cid}" State="{STATE_DONE}"><rsp:ExitCode>{command.exit_code}'
            "</rsp:ExitCode></rsp:CommandState>"
        )
        skeleton = envelope(f"{ACTION_RECEIVE}Response", req.message_id,
                            "<rsp:ReceiveResponse>" + stream("stdout", b"") + stream("stderr", b"") + done_tail
                            + "</rsp:ReceiveResponse>", "s a w rsp p")
        budget = (req.max_envelope - len(skeleton.encode()) - 64) // 4 * 3
        if budget <= 0:
            raise WsmanFault("w:EncodingLimit", "The response that the WS-Management service computed exceeds the "
                             "maximum envelope size in the request. ", CODE_MAX_ENVELOPE)
        parts = []
        chunk = self.policy.stream_chunk
        if chunk is None:
            out = command.stdout.read(budget)
            err = command.stderr.read(budget - len(out))
            if out:
                parts.append(stream("stdout", out))
            if err:
                parts.append(stream("stderr", err))
        else:
            # What is ready: small Streams, stdout and stderr taking turns; the first reply to a command
            # carries one chunk only (the process has just started) [V shape, U sizes].
            most = (self.policy.streams_per_reply or budget) if command.received else 1
            command.received = True
            markup = 160  # one rsp:Stream element's own tags and CommandId, in the budget's (raw byte) terms
            room = budget - markup
            while len(parts) < most and room > 0:
                before = len(parts)
                for name, output in (("stdout", command.stdout), ("stderr", command.stderr)):
                    if len(parts) >= most or room <= 0:
                        break
                    data = output.read(min(chunk, room))
                    if data:
                        parts.append(stream(name, data))
                        room -= len(data) + markup
                if len(parts) == before:
                    break
        if command.stdout.drained and command.stderr.drained and not command.endless:
            parts.append(done_tail)
        else:
            parts.append(f'<rsp:CommandState CommandId="{cid}" State="{STATE_RUNNING}"></rsp:CommandState>')
        body = "<rsp:ReceiveResponse>" + "".join(parts) + "</rsp:ReceiveResponse>"
        return envelope(f"{ACTION_RECEIVE}Response", req.message_id, body, "s a w rsp p")

    async def _signal(self, req: Request, ctx: CallContext) -> str:
        _, shell = self._shell(req)
        signal = req.body.find(_q("rsp:Signal"))
        if signal is None:
            raise malformed_fault()
        cid, _ = self._find_command(shell, signal.get("CommandId"))
        code_el = signal.find(_q("rsp:Code"))
        code = (code_el.text or "").strip() if code_el is not None else ""
        if code in (SIGNAL_TERMINATE, SIGNAL_CTRL_C):
            del shell.commands[cid]
        return envelope(f"{ACTION_SIGNAL}Response", req.message_id, "<rsp:SignalResponse/>", "s a x w rsp p")

    async def _send(self, req: Request, ctx: CallContext) -> str:
        # The auditor's commands read no stdin; accept and drop it, as cmd.exe would for them.
        _, shell = self._shell(req)
        send = req.body.find(_q("rsp:Send"))
        stream = send.find(_q("rsp:Stream")) if send is not None else None
        if stream is None:
            raise malformed_fault()
        self._find_command(shell, stream.get("CommandId"))
        return envelope(f"{ACTION_SEND}Response", req.message_id, "<rsp:SendResponse/>", "s a x w rsp p")
