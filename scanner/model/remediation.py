"""What to do about a host: the advisory's text for its verdict, or for an ERROR the error's own hint.

Every report shows the same sentence, so it is decided here, from the records alone: the advisory's
per-verdict texts travel in the run's metadata (results.json), and an ERROR uses the hint its error
carries when the collector gave one, else the fallback text of its category below.
"""

from __future__ import annotations

from scanner.model.records import HostResult, RunMeta, Verdict

RESCAN = "then scan it again (cmaudit scan --rescan-failed RESULTS.json)."

# Keyed by the category's text, so a category a later cmaudit adds still finds "other".
ERROR_REMEDIATION: dict[str, str] = {
    "unreachable": "Check that the server is up, that its name resolves from the jump box and that its WinRM "
                   "listener answers on the inventory's port (80/443 for WinRM 1.1, 5985/5986 for 2.0; "
                   "`winrm enumerate winrm/config/listener` on the server) with no firewall in between; " + RESCAN,
    "timeout": "The server did not answer within the time budget: check its load and the network path, " + RESCAN
               + " A larger --timeout helps a slow WAN link.",
    "auth": "The credentials were rejected: check the account and its password or Kerberos ticket, that the "
            "account is not locked out and is a local administrator on the site server; " + RESCAN,
    "auth-skipped": "Not tried, to avoid locking the account out after repeated logon failures on other hosts: "
                    "fix that account's credentials, " + RESCAN,
    "access": "Logged on but not allowed: the account must be a local administrator on the site server, remote "
              "shell access must be allowed (AllowRemoteShellAccess) and the account must be able to read the "
              "SMS registry keys and the ConfigMgr Logs folder; " + RESCAN,
    "tls": "The TLS handshake failed: give the CA that issued the server's certificate with --ca-file, and for a "
           "Server 2003/2008 listener that speaks only TLS 1.0 allow legacy TLS for that host (README, Scanning "
           "a fleet); " + RESCAN,
    "protocol": "The reply was not what a WinRM service sends: check that the port is WinRM's (not IIS or another "
                "service) and that `winrm quickconfig` succeeds on the server; if it persists, send the --debug "
                "log to the cmaudit maintainers.",
    "interrupted": "The run was stopped before this host finished: " + RESCAN.removeprefix("then "),
    "local": "The jump box failed while handling this host (for example no space left for the evidence): fix the "
             "jump box, " + RESCAN,
    "internal": "A bug in cmaudit, not a problem of the server: run the scan again with --debug and send the log "
                "to the cmaudit maintainers.",
    "other": "Read the error message, fix its cause, " + RESCAN,
}


def category_hint(category: str) -> str:
    """What to do about an error of `category` when nothing more specific is known (every ERROR has a hint)."""
    return ERROR_REMEDIATION.get(category, ERROR_REMEDIATION["other"])


def error_hint(host: HostResult) -> str:
    """The hint the collector attached to the host's error, when it has one."""
    return host.error.hint.strip() if host.error is not None else ""


def remediation_for(host: HostResult, meta: RunMeta) -> str:
    """The short remediation for this host's verdict (ERROR: its hint, else its category's text); "" for none."""
    if host.verdict is Verdict.ERROR:
        hint = error_hint(host)
        if hint:
            return hint
        return category_hint(host.error.category.value if host.error is not None else "other")
    text = meta.verdict_remediation.get(host.verdict.value, "")
    if not text and host.verdict is Verdict.AFFECTED:
        return meta.remediation  # results written before per-verdict texts: the advisory's one fix
    return text
