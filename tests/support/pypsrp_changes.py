"""Simulated pypsrp releases that reshape a private piece cmaudit relies on (scanner.winrm.pypsrp_compat).

Each change is one a patch release could make without changing anything on the wire. A test applies one with
its monkeypatch; as a pytest plugin (`pytest -p tests.support.pypsrp_changes`, with CMAUDIT_PYPSRP_CHANGE naming
one or more changes, comma-separated) this module applies them for the whole run, which is how
tests/test_pypsrp_changes.py shows the WinRM tests green under each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from pypsrp.shell import WinRS
from pypsrp.wsman import _TransportHTTP

from scanner.winrm import pypsrp_compat

ENV = "CMAUDIT_PYPSRP_CHANGE"
Setattr = Callable[..., None]  # monkeypatch.setattr


def build_session_with_a_new_parameter(patch: Setattr) -> None:
    """A pypsrp whose _TransportHTTP._build_session grew a parameter (its own send() still calls it without)."""
    original = _TransportHTTP._build_session

    def _build_session(self: Any, proxy_settings: Any = None) -> Any:
        return original(self)

    patch(_TransportHTTP, "_build_session", _build_session)


def winrs_keeping_its_selectors_elsewhere(patch: Setattr) -> None:
    """A pypsrp whose WinRS keeps the shell's selectors under another name (behind a property)."""
    patch(WinRS, "_selector_set", property(lambda self: getattr(self, "_selectors", None),
                                           lambda self, value: vars(self).__setitem__("_selectors", value)),
          raising=False)


CHANGES: dict[str, Callable[[Setattr], None]] = {
    "build_session": build_session_with_a_new_parameter,
    "selector_set": winrs_keeping_its_selectors_elsewhere,
}


def active() -> list[str]:
    """The changes this run simulates (the plugin's environment variable), or none."""
    return [name for name in os.environ.get(ENV, "").split(",") if name]


_patch = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    """The plugin's hook: apply the changes CMAUDIT_PYPSRP_CHANGE names before any test module is collected."""
    for name in active():
        CHANGES[name](_patch.setattr)
    pypsrp_compat.forget_checks()


def pytest_unconfigure(config: pytest.Config) -> None:
    _patch.undo()
    pypsrp_compat.forget_checks()


def needs_internal(name: str) -> pytest.MarkDecorator:
    """Skip a test of the path that uses pypsrp's internal `name` when the installed pypsrp does not have it as
    cmaudit knows it: cmaudit takes the fallback then, which tests/scanner/winrm/test_pypsrp_compat.py covers."""
    internal = pypsrp_compat.INTERNALS[name]
    return pytest.mark.skipif(not pypsrp_compat.usable(name),
                              reason=f"tests the path through {internal.what}, which the installed pypsrp does not "
                                     f"have as cmaudit knows it (fallback: {internal.fallback})")
