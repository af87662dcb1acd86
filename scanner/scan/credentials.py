"""Where a host's password comes from, and which transports may carry it.

Password order (first found wins), never argv, never written anywhere:
  1. the environment variable the inventory names for this host (`password_env`),
  2. CMAUDIT_PASSWORD,
  3. the system keyring, service "cmaudit", the account's user name (optional: without the `keyring`
     package, or with any keyring error, this step finds nothing),
  4. a prompt, only on a terminal and only when the caller allows it and gives one (the CLI's getpass).
Keyring and prompt answers are cached per user name for the process, so a fleet of 300 hosts under one
account prompts once. Certificate auth needs no password, nor does Kerberos/Negotiate without a user
name (the jump box's ticket, keytab or, on Windows, the logged-on admin's SSPI identity), so neither is
looked up.

Which transports may carry a password is scanner.winrm.transport_policy's job.
"""

from __future__ import annotations

import hmac
import importlib
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import NoReturn

from scanner.model.host import Host

DEFAULT_PASSWORD_ENV = "CMAUDIT_PASSWORD"
KEYRING_SERVICE = "cmaudit"
_NO_PASSWORD_AUTH = ("certificate",)
_TICKET_AUTH = ("kerberos", "negotiate")


class Secret:
    """A password that cannot leak by accident: redacted in repr/str/format, refuses to be pickled."""

    __slots__ = ("_value",)
    __hash__ = None  # type: ignore[assignment]  # compared in constant time, never used as a key

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself, for the one call that hands it to the WinRM client."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is never pickled: passwords are not written anywhere")


class PasswordResolver:
    """Looks passwords up in the documented order; one instance per run, shared by its worker threads."""

    def __init__(
        self,
        *,
        default_env: str = DEFAULT_PASSWORD_ENV,
        use_keyring: bool = True,
        interactive: bool = False,
        environ: Mapping[str, str] | None = None,
        prompt: Callable[[str], str] | None = None,
        is_terminal: Callable[[], bool] | None = None,
    ) -> None:
        self.default_env = default_env
        self.use_keyring = use_keyring
        self.interactive = interactive
        self._environ = environ
        self._prompt = prompt  # None: never prompt (only scanner.cli talks to the terminal)
        self._is_terminal = is_terminal or stdin_is_terminal
        self._lock = threading.Lock()
        self._cache: dict[str, Secret | None] = {}
        self.sources: dict[str, str] = {}  # user name -> where its password came from (never the password)

    def secret(self, host: Host, *, username: str | None = None) -> Secret | None:
        """The password for `host` (logging in as `username`, default the inventory's), or None."""
        user = username if username is not None else host.username
        if host.auth in _NO_PASSWORD_AUTH or (host.auth in _TICKET_AUTH and not user):
            return None
        environ = self._environ if self._environ is not None else os.environ
        for name in (host.password_env, self.default_env):
            if name and environ.get(name):
                self.sources[user or ""] = f"environment variable {name}"
                return Secret(environ[name])
        key = user or ""
        with self._lock:  # one prompt per user even when many worker threads ask at once
            if key not in self._cache:
                self._cache[key] = self._lookup(user)
            return self._cache[key]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _lookup(self, user: str | None) -> Secret | None:
        if user and self.use_keyring:
            found = keyring_password(user)
            if found:
                self.sources[user] = f"keyring service {KEYRING_SERVICE!r}"
                return Secret(found)
        if self.interactive and self._prompt is not None and self._is_terminal():
            try:
                answer = self._prompt(f"Password for {user or 'the WinRM account'} (cmaudit): ")
            except EOFError:
                return None
            if answer:
                self.sources[user or ""] = "prompt"
                return Secret(answer)
        return None


def keyring_password(username: str) -> str | None:
    """The keyring's password for `username`; None when keyring is absent, locked or fails in any way."""
    try:
        keyring = importlib.import_module("keyring")
        found = keyring.get_password(KEYRING_SERVICE, username)
    except Exception:  # noqa: BLE001 - any backend failure means "not found"; its text may hold secrets
        return None
    return found if isinstance(found, str) and found else None


def stdin_is_terminal() -> bool:
    """Whether a password prompt could be answered (never under a scheduler or a pipe)."""
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin (a scheduler)
        return False
