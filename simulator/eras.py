"""Windows/WinRM eras: how a 2003 R2, 2008 or 2008 R2 WinRM service behaves, as opposed to a modern one.

A profile names its era (`era = "2003r2-winrm11"` in its TOML file); the listener and the WinRS provider
then behave like that era. Sources and confidence, in the marks of the research notes the values come
from ([V] verified in a Microsoft header, specification or byte-exact recording; [S] several consistent
secondary sources; [U] not publicly confirmed, so a switch a test can flip):

- WinRM 1.1 (2003 R2, 2008) listens on 80/443, WinRM 2.0 on 5985/5986 (TechNet ee922665) [V].
- WMF 2.0 (KB968930) brings WinRM 2.0 to 2003 and 2008: 5985/5986, and optionally still port 80 (443) through
  `EnableCompatibilityHttpListener` (`...HttpsListener`) for clients of the 1.1 listener [S]; whether the
  upgrade turns it on is [U]. The operating system stays what it was: cmd.exe under WINRS_CODEPAGE=65001 before
  2008 R2 [U: "silent" here], UAC on 2008 and not on 2003.
- HTTPS before Server 2012: Schannel offers TLS 1.0 only (2008 R2 has TLS 1.1/1.2 off by default), with
  the SHA-1 / RSA-1024 certificates of the time [S].
- `WINRS_CODEPAGE=65001` before 2008 R2: reports say batch files then silently do nothing (WinRb/WinRM#232,
  ansible#21915, WinRb/WinRM#181) [S]; a refusal with 2150859072 (ERROR_WINRS_CODE_PAGE_NOT_SUPPORTED)
  is what DOMAIN.md and the issue describe [U]; whether `reg`/`type` work is [U]. Hence three behaviours:
  "refuse", "silent" (the shell is created, every command prints nothing and exits 0) and "works".
- Quotas before 2012: MaxShellsPerUser 5 [S: vagrant#7489, test-kitchen#656, for WinRM 2.0]; MaxConcurrentUsers
  5 [U]. WinRM 1.1's quota and IdleTimeout defaults have no public source [U]: the 1.1 eras reuse 2.0's (the
  MS-WSMV schema gives today's MaxConcurrentUsers 10, MaxShellsPerUser 30, IdleTimeout 180000).
  Fault codes 0x803381A5 / 0x803381AB [V wsmerror.h], subcode w:QuotaLimit [V MS-WSMV 3.1.4.5.2.1],
  WinRM 1.1 wording per MS-WSMV [U], WinRM 2.0 wording as quoted in vagrant#7489 [S].
- Access denied for a non-administrator: Code 5 with w:AccessDenied (WinRM 1.1/2.0) [U: shape], or
  2147942405 (0x80070005) with w:InternalError on later releases [S: wazuh-ansible#581]; some servers send
  a bare HTTP 401 after the logon instead [S: pywinrm#114, #188; which versions U]: the `denied401` switch.
- Basic authentication works for local accounts only [S: Microsoft's WinRM authentication docs]; how the
  401 looks on the wire is [U].
- Receive replies carry whatever output is ready, often several small rsp:Stream elements [V: pypsrp
  recordings]; the first reply to a command holds only what the process wrote so far. The Stream size
  (one pipe read, 4 KiB here) is [U]; a reply holds as many as fit the envelope.
- UAC filters the token of a *local* administrator logging on over the network unless
  LocalAccountTokenFilterPolicy=1 (Vista/2008 and later; 2003 has no UAC) [S].

"modern" is the simulator's permissive baseline (a WinRM 3.0-like service: UTF-8 shells, no quotas,
modern TLS); tests that are not about an era use it. Basic takes local accounts only there too, as in every
era: Microsoft documents no WinRM release whose Basic authentication takes a domain account.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODEPAGE_BEHAVIOURS", "ERAS", "ERA_NAMES", "MODERN", "Era", "era"]

CODEPAGE_BEHAVIOURS = ("refuse", "silent", "works")
ACCESS_DENIED = 5  # ERROR_ACCESS_DENIED, as WinRM 1.1/2.0 put it in WSManFault Code (shape [U])
ACCESS_DENIED_HRESULT = 0x80070005  # HRESULT_FROM_WIN32(5) = 2147942405


@dataclass(frozen=True, slots=True)
class Era:
    """What one Windows/WinRM generation does differently on the wire."""

    name: str
    winrm: str  # "1.1", "2.0", "3.0+"
    windows: frozenset[str]  # releases a profile of this era may name; empty: any
    ports: tuple[int, int]  # default (http, https) listener ports
    server_header: str  # HTTP `Server:` of the listener (HTTP.sys)
    legacy_tls: bool  # HTTPS: TLS 1.0 only, SHA-1 / RSA-1024 certificate
    codepage_65001: str  # one of CODEPAGE_BEHAVIOURS
    max_shells_per_user: int  # 0: no quota
    max_concurrent_users: int  # 0: no quota
    quota_wording: str  # "wsmv" (WinRM 1.1, MS-WSMV wording) or "winrm20"
    access_denied_code: int  # ACCESS_DENIED or ACCESS_DENIED_HRESULT
    basic_local_only: bool  # Basic refuses domain accounts
    uac_filters_local_admins: bool  # network logons of local administrators get a filtered token
    stream_chunk: int | None  # Receive: rsp:Stream elements of at most this many bytes; None: one per stream
    streams_per_reply: int  # at most this many rsp:Stream elements per Receive reply (0: as many as fit)
    shell_in_create_reply: bool  # CreateResponse carries rsp:Shell (WinRM 2.0+); 1.1 sends ResourceCreated only [U]
    compat_ports: tuple[int, int] | None = None  # WMF 2.0's optional compatibility listeners (80/443)
    quotas_confirmed: bool = True  # False: the shell quotas and IdleTimeout of this WinRM have no public source [U]


_LEGACY = {"2003", "2003 R2"}

ERAS: dict[str, Era] = {
    e.name: e
    for e in (
        Era("2003r2-winrm11", "1.1", frozenset(_LEGACY), (80, 443), "Microsoft-HTTPAPI/1.0", True, "refuse",
            5, 5, "wsmv", ACCESS_DENIED, True, False, 4096, 0, False, quotas_confirmed=False),
        Era("2008-winrm11", "1.1", frozenset({"2008"}), (80, 443), "Microsoft-HTTPAPI/2.0", True, "silent",
            5, 5, "wsmv", ACCESS_DENIED, True, True, 4096, 0, False, quotas_confirmed=False),
        Era("2003-winrm20", "2.0", frozenset(_LEGACY), (5985, 5986), "Microsoft-HTTPAPI/1.0", True, "silent",
            5, 5, "winrm20", ACCESS_DENIED, True, False, 4096, 0, True, compat_ports=(80, 443)),
        Era("2008-winrm20", "2.0", frozenset({"2008"}), (5985, 5986), "Microsoft-HTTPAPI/2.0", True, "silent",
            5, 5, "winrm20", ACCESS_DENIED, True, True, 4096, 0, True, compat_ports=(80, 443)),
        Era("2008r2-winrm20", "2.0", frozenset({"2008 R2"}), (5985, 5986), "Microsoft-HTTPAPI/2.0", True, "works",
            5, 5, "winrm20", ACCESS_DENIED, True, True, 4096, 0, True),
        Era("modern", "3.0+", frozenset(), (5985, 5986), "Microsoft-HTTPAPI/2.0", False, "works",
            0, 0, "winrm20", ACCESS_DENIED_HRESULT, True, False, None, 0, True),
    )
}
ERA_NAMES: tuple[str, ...] = tuple(ERAS)
MODERN = ERAS["modern"]


def era(name: str) -> Era:
    """The era called `name`; ValueError naming the known ones otherwise."""
    try:
        return ERAS[name]
    except KeyError:
        raise ValueError(f"unknown era {name!r}; known: {', '.join(ERA_NAMES)}") from None
