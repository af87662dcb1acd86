"""cmaudit's errors, as one documented tree.

    CmauditError                 anything cmaudit raises on purpose; str() is one line for the user
    +-- UsageError               bad options or unreadable input files -> exit 64
    |   +-- InventoryError       an inventory file/line that cannot be read (carries file, line)
    |   +-- AdvisoryFileError    an advisory TOML that fails validation (carries file, key)
    |   +-- LogFileError         a log file given to `cmaudit check` that cannot be read
    |   +-- KerberosSetupError   Kerberos unusable from this jump box before any host is contacted: no gssapi,
    |                            no or expired ticket, password refused by the KDC (carries reason, hint)
    +-- HostError                one host could not be collected (carries host, category, fault code and a
        |                        hint an admin can act on); becomes that host's ERROR verdict, never aborts
        |                        the fleet. `password_rejected`: the one kind of failure the logon gate
        |                        counts
        +-- HostUnreachable      refused, reset, DNS, no WinRM listener at that port
        +-- HostTimeout          connect/read timeout or the per-host deadline
        +-- HostAuthFailed       logon failed: credentials rejected, or Kerberos could not get or use a ticket
        |                        (never retried; only `password_rejected` ones count towards a lockout)
        +-- HostAccessDenied     logged on, but not allowed: not an administrator, remote shells disabled,
        |                        a registry key or log file the account may not read (never retried)
        +-- HostTLSError         the TLS handshake failed: certificate, or a TLS 1.0-only listener
        +-- HostProtocolError    malformed XML, unexpected WSMan fault, HTTP 5xx, oversize reply, quotas
        +-- HostInterrupted      the run was stopped before or while this host was scanned
        +-- HostAuthSkipped      not tried: protects the account, whose password K hosts rejected
        +-- HostLocalError       the jump box failed (cannot save the evidence): not the host's fault
        +-- HostInternalError    a bug in cmaudit while handling this host: never blamed on the server

pypsrp/requests exceptions are translated into HostError in exactly one place (scanner/winrm/faults.py),
and only around the network exchange.
"""

from __future__ import annotations

from scanner.model.records import ErrorCategory


class CmauditError(Exception):
    """Base of everything cmaudit raises on purpose."""


class UsageError(CmauditError):
    """Bad usage or unreadable input: printed as one line, exit status 64."""


class InventoryError(UsageError):
    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class AdvisoryFileError(UsageError):
    def __init__(self, path: str, key: str | None, message: str) -> None:
        self.path, self.key, self.message = path, key, message
        where = f"{path} [{key}]" if key else path
        super().__init__(f"{where}: {message}")


class LogFileError(UsageError):
    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}")


class KerberosSetupError(UsageError):
    """Kerberos cannot work from this jump box: one line with the reason and what to do about it."""

    def __init__(self, reason: str, *, hint: str = "", password_rejected: bool = False) -> None:
        self.reason, self.hint, self.password_rejected = reason, hint, password_rejected
        super().__init__(f"{reason} (hint: {hint})" if hint else reason)


class HostError(CmauditError):
    """A host that could not be collected; `retryable` marks transient failures, `hint` says what an admin
    can do, `password_rejected` marks the one kind of failure that counts towards an account lockout."""

    category: ErrorCategory = ErrorCategory.OTHER
    retryable: bool = False
    password_rejected: bool = False

    def __init__(self, host: str, message: str, *, fault_code: int | None = None,
                 retryable: bool | None = None, hint: str = "", password_rejected: bool | None = None) -> None:
        self.host, self.message, self.fault_code, self.hint = host, message, fault_code, hint
        if retryable is not None:
            self.retryable = retryable
        if password_rejected is not None:
            self.password_rejected = password_rejected
        super().__init__(f"{host}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled with every field: results cross from --workers processes to the parent."""
        return (type(self), (self.host, self.message), dict(self.__dict__))

    def again(self, *, message: str | None = None, hint: str | None = None) -> HostError:
        """The same error (class, code, retry and breaker flags) with another message or hint."""
        return type(self)(self.host, self.message if message is None else message, fault_code=self.fault_code,
                          retryable=self.retryable, hint=self.hint if hint is None else hint,
                          password_rejected=self.password_rejected)


class HostUnreachable(HostError):
    category = ErrorCategory.UNREACHABLE
    retryable = True


class HostTimeout(HostError):
    category = ErrorCategory.TIMEOUT
    retryable = True


class HostAuthFailed(HostError):
    category = ErrorCategory.AUTH
    retryable = False
    password_rejected = True  # unless the translation knows better (a Kerberos ticket refused, no password given)


class HostAccessDenied(HostError):
    category = ErrorCategory.ACCESS
    retryable = False


class HostTLSError(HostError):
    category = ErrorCategory.TLS
    retryable = False


class HostProtocolError(HostError):
    category = ErrorCategory.PROTOCOL
    retryable = False


class HostInterrupted(HostError):
    category = ErrorCategory.INTERRUPTED
    retryable = False


class HostAuthSkipped(HostError):
    category = ErrorCategory.AUTH_SKIPPED
    retryable = False


def lockout_protection(account: object, why: str) -> str:
    """Why a host was never tried, in the words the scan (HostAuthSkipped) and doctor both use; `why` says what
    tripped the account ("3 host(s) in a row rejected its password: cm1, cm2, cm3")."""
    who = "the account" if account is None else str(account)
    return f"not tried: protects {who} from a lockout ({why})"


class HostLocalError(HostError):
    category = ErrorCategory.LOCAL
    retryable = False


class HostInternalError(HostError):
    category = ErrorCategory.INTERNAL
    retryable = False
