"""A pypsrp release that reshapes a private piece cmaudit relies on changes nothing visible: cmaudit takes the
public path, says so in one debug line, and the host is still judged."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.shell import WinRS
from pypsrp.wsman import _TransportHTTP

from scanner.winrm import pypsrp_compat
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan

COMPAT_LOGGER = "scanner.winrm.pypsrp_compat"


@pytest.fixture(autouse=True)
def fresh_checks() -> Iterator[None]:
    """Every test sees the internals as its own (simulated) pypsrp has them, and leaves none behind."""
    pypsrp_compat.forget_checks()
    yield
    pypsrp_compat.forget_checks()


def _compat_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == COMPAT_LOGGER]


def _build_session_with_a_new_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pypsrp whose _build_session grew a parameter (its own send() still calls it without one)."""
    original = _TransportHTTP._build_session

    def _build_session(self: Any, proxy_settings: Any = None) -> Any:
        return original(self)

    monkeypatch.setattr(_TransportHTTP, "_build_session", _build_session)


def _winrs_keeping_its_selectors_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pypsrp whose WinRS keeps the shell's selectors under another name (behind a property)."""
    monkeypatch.setattr(WinRS, "_selector_set", property(lambda self: getattr(self, "_selectors", None),
                                                         lambda self, value: setattr(self, "_selectors", value)),
                        raising=False)


def test_a_changed_internal_is_named_with_its_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check names exactly the piece a changed pypsrp lacks, with what cmaudit does instead."""
    _build_session_with_a_new_parameter(monkeypatch)
    assert "pypsrp _TransportHTTP._build_session(self)" in pypsrp_compat.missing_internals()
    assert tuple(inspect.signature(_TransportHTTP._build_session).parameters) == ("self", "proxy_settings")


@pytest.mark.network
def test_a_changed_build_session_falls_back_to_pypsrps_own_requests_transport(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With pypsrp's _build_session reshaped, the requests transport runs as pypsrp builds it: the host is judged
    as before and the debug log says so once, however many hosts use it."""
    _build_session_with_a_new_parameter(monkeypatch)
    password = new_password()
    with caplog.at_level(logging.DEBUG, logger=COMPAT_LOGGER), \
            Fleet(hosts=2, password=password, machine_factory=healthy_machine, profiles=["h"] * 2) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=2, transport="requests")
    hosts = result.outcome.results.hosts
    assert [h.error for h in hosts] == [None, None] and all(h.facts.build == "4.00.6221.1000" for h in hosts)
    lines = _compat_lines(caplog)
    assert len(lines) == 1 and "_build_session" in lines[0] and "runs as pypsrp builds it" in lines[0]


@pytest.mark.network
def test_a_winrs_without_its_selector_attribute_falls_back_to_pypsrps_receive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With WinRS._selector_set gone as cmaudit knows it, Receive replies are read by pypsrp's own WinRS.receive:
    the host's build and log are read whole, and the debug log says so once."""
    _winrs_keeping_its_selectors_elsewhere(monkeypatch)
    password = new_password()
    with caplog.at_level(logging.DEBUG, logger=COMPAT_LOGGER), \
            Fleet(hosts=1, password=password, machine_factory=healthy_machine, profiles=["h"]) as fleet:
        result = scan(fleet, tmp_path, password, concurrency=1)
    host = result.outcome.results.hosts[0]
    assert host.error is None and host.facts.build == "4.00.6221.1000" and host.facts.logs
    lines = _compat_lines(caplog)
    assert len(lines) == 1 and "WinRS._selector_set" in lines[0] and "pypsrp's own WinRS.receive" in lines[0]
