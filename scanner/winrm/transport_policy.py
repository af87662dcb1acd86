"""Which auth/scheme combinations may carry a password, and the message encryption each needs.

Basic never over HTTP, CredSSP only over HTTPS (both allowed with --insecure, which the run records),
certificate auth only over HTTPS with a certificate and key. NTLM/Negotiate/Kerberos over HTTP are fine
because the scan requires WinRM message encryption there (`message_encryption` says which pypsrp
setting to use).
"""

from __future__ import annotations

from scanner.model.errors import UsageError
from scanner.model.host import Host, is_ip_address


def validate_transport(host: Host, *, insecure: bool) -> None:
    """Refuse auth/scheme combinations that would expose the password; raise UsageError naming the host."""
    where = f"{host.name} ({host.source})" if host.source else host.name
    if host.auth == "certificate":
        if host.scheme != "https":
            raise UsageError(f"{where}: certificate auth needs https (a client certificate is a TLS feature)")
        if not (host.cert_pem and host.cert_key_pem):
            raise UsageError(f"{where}: certificate auth needs cert_pem and cert_key_pem")
    if host.scheme == "https" or insecure:
        return
    if host.auth == "basic":
        raise UsageError(f"{where}: Basic auth over http would send the password in clear text; "
                         "use https (or --insecure)")
    if host.auth == "credssp":
        raise UsageError(f"{where}: CredSSP delegates the password and is only allowed over https "
                         "(or --insecure)")


def message_encryption(host: Host) -> str:
    """pypsrp's `encryption` setting: over http, encryption is required ("always"); TLS covers https."""
    if host.scheme == "https":
        return "auto"
    return "never" if host.auth in ("basic", "certificate") else "always"


def kerberos_problem(host: Host) -> tuple[str, str] | None:
    """(message, hint) when Kerberos cannot work for this host whatever the credentials: the SPN is built
    from the inventory's host *name* (`address` only says where to connect), and an IP address has none."""
    if host.auth == "kerberos" and is_ip_address(host.name):
        return ("Kerberos to an IP address has no SPN",
                "put the server's DNS name in `host` (the IP may stay in `address`), or use --auth ntlm")
    return None


def transport_notes(host: Host) -> tuple[str, ...]:
    """Things that will not stop the scan but may make it fail, for the dry run."""
    notes: list[str] = []
    problem = kerberos_problem(host)
    if problem is not None:
        notes.append(f"{host.name} ({host.source}): {problem[0]}: cmaudit scan will not try it; {problem[1]}")
    return tuple(notes)
