"""A simulated pyspnego release that moved the private modules cmaudit and its simulator import.

As a pytest plugin (`pytest -p tests.support.pyspnego_moved`) it loads pyspnego as installed, then makes every
later import of those modules fail, as after a release that moved them: pyspnego itself keeps working (it holds
its own references), cmaudit's NTLM hashing falls back to the password, and tests that need the simulator skip
naming the pieces (tests/test_library_changes.py).
"""

from __future__ import annotations

import sys

import pytest
import spnego  # noqa: F401 - pyspnego loads its own modules before they are hidden

from simulator.ntlm_store import PRIVATE_PIECES

HIDDEN = sorted({module for module, _names in PRIVATE_PIECES} | {"spnego._ntlm_raw.crypto"})
_patch = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    for module in HIDDEN:
        _patch.setitem(sys.modules, module, None)  # `import` of it now raises ImportError


def pytest_unconfigure(config: pytest.Config) -> None:
    _patch.undo()
