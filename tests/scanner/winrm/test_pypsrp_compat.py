"""A pypsrp release that reshapes a private piece cmaudit relies on changes nothing visible: cmaudit takes the
public path, says so in one debug line, and the host is still judged."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.wsman import _TransportHTTP

from scanner.model.errors import HostError
from scanner.model.host import Host
from scanner.winrm import pypsrp_compat
from scanner.winrm.session import HostSession, SessionOptions
from simulator.fleet import Fleet
from tests.support import pypsrp_changes
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
    pypsrp_changes.build_session_with_a_new_parameter(monkeypatch.setattr)


def _winrs_keeping_its_selectors_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    pypsrp_changes.winrs_keeping_its_selectors_elsewhere(monkeypatch.setattr)


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
    lines = [line for line in _compat_lines(caplog) if "_build_session" in line]
    assert len(lines) == 1 and "runs as pypsrp builds it" in lines[0]


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
    lines = [line for line in _compat_lines(caplog) if "WinRS._selector_set" in line]
    assert len(lines) == 1 and "pypsrp's own WinRS.receive" in lines[0]


@pytest.mark.parametrize("change", [pytest.param(None, id="as-installed"),
                                    pytest.param("build_session", id="build-session-reshaped")])
@pytest.mark.parametrize(("host", "missing"), [
    pytest.param(Host(name="sms01", address="127.0.0.1", port=5986, scheme="https", auth="certificate"),
                 "client certificate", id="certificate-without-files"),
    pytest.param(Host(name="sms01", address="127.0.0.1", port=5986, scheme="https", auth="credssp"),
                 "password", id="credssp-without-password"),
])
def test_an_incomplete_requests_auth_is_refused_at_set_up_on_every_path(monkeypatch: pytest.MonkeyPatch,
                                                                        change: str | None, host: Host,
                                                                        missing: str) -> None:
    """A certificate host without its certificate files (or CredSSP without a password) is refused when its session
    is set up, naming what is missing, also when pypsrp's session is built its own lazy way: never an
    "unexpected reply" at the first request that blames the server."""
    if change is not None:
        pypsrp_changes.CHANGES[change](monkeypatch.setattr)
    with pytest.raises(HostError) as refused:
        HostSession(host, SessionOptions(username="LAB\\auditor"))
    assert missing in refused.value.message and refused.value.category.value == "other"
