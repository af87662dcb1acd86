"""The account file behind pyspnego's NTLM acceptor, given to the acceptor only, never to a client.

pyspnego's NTLM acceptor reads its accounts from the file named by the process-wide NTLM_USER_FILE
variable, and so does pyspnego's NTLM *client* when it has no password: a simulator that set the
variable made every client in the same process (a scan under test, `cmaudit demo`) log on with the
simulator's own account, without being given any credential. So the variable is never set. Instead
pyspnego's one lookup of it (`spnego._ntlm._get_credential_file`) is wrapped once: while the simulator
runs an acceptor step inside `NtlmStore.scope()` (a context variable, so only that call on that thread
sees it) the lookup answers the fleet's own file; everywhere else it behaves exactly as before.

Each fleet has its own file (0600, in a 0700 temp dir, removed on close) in the smbpasswd form pyspnego
reads, so it holds the LM/NT hashes of the account and never the password itself.
`missing_internals()` names every private piece of pyspnego the simulator's NTLM side relies on (this store,
and simulator.auth's reading of NTLM and SPNEGO messages); a fleet refuses to start without one
(SimulatorUnavailable, naming them), and the test suite skips what needs a fleet, with that reason.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["NtlmStore", "SimulatorUnavailable", "missing_internals"]

# (module, names): pyspnego's private pieces the simulator uses (pyproject bounds pyspnego to the tested series)
PRIVATE_PIECES = (
    ("spnego._ntlm", ("_get_credential_file", "_NTLMCredential")),
    ("spnego._ntlm_raw.crypto", ("lmowfv1", "ntowfv1")),
    ("spnego._ntlm_raw.messages", ("Authenticate", "AvId", "NTClientChallengeV2")),
    ("spnego._spnego", ("NegTokenInit", "NegTokenResp", "unpack_token")),
)


class SimulatorUnavailable(ImportError):
    """The installed pyspnego lacks private pieces the simulator relies on (named in the message)."""

_active_store: contextvars.ContextVar[str | None] = contextvars.ContextVar("cmaudit_simulator_ntlm_store",
                                                                          default=None)
_install_lock = threading.Lock()
_installed = False


def _ntlm_module() -> Any:
    import spnego._ntlm

    return spnego._ntlm


def _install_lookup() -> None:
    """Wrap pyspnego's NTLM_USER_FILE lookup once per process (idempotent, thread-safe)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        module = _ntlm_module()
        original: Callable[[], str | None] = module._get_credential_file

        def scoped_credential_file() -> str | None:
            path = _active_store.get()
            return path if path is not None else original()

        module._get_credential_file = scoped_credential_file
        _installed = True


def missing_internals() -> list[str]:
    """The private pyspnego pieces of PRIVATE_PIECES the installed version lacks (empty when all is there)."""
    missing = []
    for module_name, names in PRIVATE_PIECES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        missing += [f"{module_name}.{name}" for name in names if getattr(module, name, None) is None]
    return missing


def check_internals() -> None:
    """Refuse to run a fleet on a pyspnego without the pieces the simulator needs, naming them."""
    missing = missing_internals()
    if missing:
        raise SimulatorUnavailable(f"the simulator needs pyspnego's private {', '.join(missing)}, which the "
                                   "installed pyspnego lacks: install the release series pyproject names")


class NtlmStore:
    """One fleet's NTLM accounts, in a private file only this fleet's acceptors are shown."""

    def __init__(self, accounts: Sequence[tuple[str, str]]) -> None:
        """`accounts`: (principal as DOMAIN\\user or user, password) pairs."""
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

        _install_lookup()
        self._dir: str | None = tempfile.mkdtemp(prefix="cmaudit-sim-")  # mkdtemp makes it 0700
        self.path = os.path.join(self._dir, "ntlm_users")
        lines = sorted({f"{principal}:1000:{lmowfv1(password).hex().upper()}:{ntowfv1(password).hex().upper()}"
                        ":[U]:LCT-00000000\n" for principal, password in accounts})
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(lines)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Within this block (this thread/task only) pyspnego's NTLM acceptor reads this fleet's accounts."""
        if self._dir is None:
            raise RuntimeError("the NTLM account store is closed")
        token = _active_store.set(self.path)
        try:
            yield
        finally:
            _active_store.reset(token)

    def close(self) -> None:
        folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
