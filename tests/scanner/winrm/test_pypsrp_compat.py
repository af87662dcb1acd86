"""The pypsrp internals cmaudit overrides are all still there in the installed pypsrp."""

from __future__ import annotations

import pytest
from pypsrp.wsman import _TransportHTTP

from scanner.winrm.pypsrp_compat import missing_internals


def test_installed_pypsrp_has_every_overridden_internal():
    """An upgrade of pypsrp that renames or reshapes what cmaudit hooks into fails here, not in the field."""
    assert missing_internals() == []


def test_a_changed_internal_is_reported(monkeypatch: pytest.MonkeyPatch):
    """The check names what is missing or whose signature changed, so the failure says what to fix."""
    monkeypatch.delattr(_TransportHTTP, "_build_session")
    monkeypatch.setattr(_TransportHTTP, "_send_request", lambda self, request: b"")
    assert missing_internals() == ["_TransportHTTP._build_session", "_TransportHTTP._send_request('self', 'request')"]
