"""Windows SSPI, faked: a domain-joined Windows jump box where cmaudit runs as a logged-on account.

Real SSPI cannot run here (Linux has none; under wine its msv1_0 crashes, so the Windows test run turns it off).
What cmaudit relies on is pyspnego's rule: given no credential on Windows, it logs on through SSPI as the account
the process runs as; given one (a password, NTLM hashes), it uses that. `logged_on_as` makes cmaudit see
Windows (`uses_sspi`) and that account (`logged_on_account`), and replaces `spnego.client` with one that, for a
call with no credential, logs on with the logged-on account's own secret (the simulator's NTLM account); every
other call goes to pyspnego as it is. The calls are recorded, so a test can see what cmaudit handed over.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import spnego

import scanner.winrm.kerberos as kerberos


@dataclass
class LoggedOn:
    """The account the faked Windows session runs as, and what cmaudit asked pyspnego for."""

    account: str
    single_sign_on: list[dict[str, Any]] = field(default_factory=list)  # calls with no credential (SSPI's own)
    with_credentials: int = 0  # calls from cmaudit that carried a credential


def _patch_everywhere(monkeypatch: pytest.MonkeyPatch, original: object, replacement: object) -> None:
    """Replace `original` in every scanner module that imported it by name (and in its own module)."""
    name = getattr(original, "__name__", "")
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("scanner.") and getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, replacement)


@contextmanager
def logged_on_as(monkeypatch: pytest.MonkeyPatch, account: str, secret: str) -> Iterator[LoggedOn]:
    """Windows with `account` logged on (its password `secret`, known to SSPI only); see the module doc."""
    session = LoggedOn(account)
    real_client = spnego.client

    def client(username: Any = None, password: str | None = None, *args: Any, **kwargs: Any) -> Any:
        if not sys._getframe(1).f_globals.get("__name__", "").startswith("scanner."):
            return real_client(username, password, *args, **kwargs)  # pyspnego's own inner contexts
        if username is None and password is None:  # SSPI with the logon session's own credential
            session.single_sign_on.append(dict(kwargs))
            return real_client(account, secret, *args, **kwargs)
        session.with_credentials += 1
        return real_client(username, password, *args, **kwargs)

    _patch_everywhere(monkeypatch, kerberos.uses_sspi, lambda: True)
    _patch_everywhere(monkeypatch, kerberos.logged_on_account, lambda: account)
    monkeypatch.setattr(spnego, "client", client)
    yield session
