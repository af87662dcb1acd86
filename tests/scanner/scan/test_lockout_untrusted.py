"""Only a proven logon opens the gate: a first host that is no WinRM listener, or takes the password without an
answer, never lets a wrong password reach more than --max-auth-failures hosts, counted on the servers' side."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.model.records import ErrorCategory
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password
from tests.support.rogues import (
    STRAY_FAULT,
    Reply,
    Rogue,
    challenge_then,
    http_reply,
    rogue,
    tls_context,
    web_page,
)
from tests.support.scans import Scan, scan, write_inventory

pytestmark = pytest.mark.network

FLEET = 40
LIMIT = 3


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def ntlm_fleet(password: str) -> Iterator[Fleet]:
    with Fleet(hosts=FLEET, password=password, machine_factory=healthy_machine, profiles=["h"] * FLEET, tls=True,
               auth="ntlm") as fleet:
        yield fleet


@pytest.fixture(scope="module")
def basic_fleet(password: str) -> Iterator[Fleet]:
    """Basic over HTTPS with a local account (WinRM's Basic takes no domain account)."""
    with Fleet(hosts=FLEET, password=password, machine_factory=healthy_machine, profiles=["h"] * FLEET, tls=True,
               auth="basic", username="auditor") as fleet:
        yield fleet


def _wrong(fleet: Fleet) -> int:
    return sum(h.counters.wrong_passwords for h in fleet.hosts)


def _rogue_first(fleet: Fleet, found: Rogue, tmp_path: Path, *, auth: str) -> Path:
    """The fleet's inventory with the rogue listener as its first host."""
    with fleet.write_inventory(tmp_path / "fleet.csv").open(encoding="utf-8", newline="") as fh:
        fleet_rows = list(csv.DictReader(fh))
    first = {key: "" for key in fleet_rows[0]} | found.row("rogue", auth=auth, scheme="https")
    return write_inventory(tmp_path / "hosts.csv", [first, *fleet_rows])


def _scan(fleet: Fleet, inventory: Path, tmp_path: Path, password: str, **overrides: Any) -> Scan:
    settings: dict[str, Any] = dict(username=fleet.username, concurrency=32, max_auth_failures=LIMIT, insecure=True,
                                    timeout=20.0)
    settings.update(overrides)
    return scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": password}, **settings)


ROGUES_NTLM: list[Any] = [
    pytest.param(web_page(), {}, id="a-web-page-to-any-post"),
    pytest.param(web_page(500, STRAY_FAULT, "application/soap+xml;charset=UTF-8"), {}, id="a-fault-to-no-request"),
    pytest.param(challenge_then(http_reply(504)), {"retries": 2}, id="504-to-the-authenticate-with-retries"),
    pytest.param(challenge_then(None), {"timeout": 4.0}, id="no-answer-to-the-authenticate"),
]


@pytest.mark.parametrize(("answer", "options"), ROGUES_NTLM)
@pytest.mark.parametrize("workers", [pytest.param(1, id="one-process"), pytest.param(2, id="two-workers")])
def test_a_rogue_first_host_never_opens_the_gate_for_ntlm(ntlm_fleet: Fleet, password: str, tmp_path: Path,
                                                          answer: Callable[[bytes], Reply], options: dict[str, Any],
                                                          workers: int) -> None:
    """40 healthy NTLM hosts over HTTPS behind a first host that answers anything but a proof: a wrong password
    reaches at most 3 servers in all (the rogue's password-carrying requests included)."""
    before = _wrong(ntlm_fleet)
    with rogue(answer, tls=tls_context()) as found:
        inventory = _rogue_first(ntlm_fleet, found, tmp_path, auth="ntlm")
        result = _scan(ntlm_fleet, inventory, tmp_path, "wrong-" + password, workers=workers, **options)
    seen = _wrong(ntlm_fleet) - before
    assert seen + found.passwords <= LIMIT, (seen, found.passwords)
    hosts = result.outcome.results.hosts
    assert sum(h.error is not None and h.error.category is ErrorCategory.AUTH_SKIPPED for h in hosts) >= FLEET - LIMIT
    if workers == 1:  # one process takes hosts in inventory order: the rogue went first (workers race for it)
        assert found.requests > 0


@pytest.mark.parametrize("answer", [
    pytest.param(web_page(), id="a-web-page-to-any-post"),
    pytest.param(web_page(500, STRAY_FAULT, "application/soap+xml;charset=UTF-8"), id="a-fault-to-no-request"),
])
def test_a_rogue_first_host_never_opens_the_gate_for_basic(basic_fleet: Fleet, password: str, tmp_path: Path,
                                                           answer: Callable[[bytes], Reply]) -> None:
    """Basic needs no logon before a reply: a page or a stray fault from the first host proves nothing, and the
    password it was sent counts against the allowance."""
    before = _wrong(basic_fleet)
    with rogue(answer, tls=tls_context()) as found:
        inventory = _rogue_first(basic_fleet, found, tmp_path, auth="basic")
        _scan(basic_fleet, inventory, tmp_path, "wrong-" + password)
    seen = _wrong(basic_fleet) - before
    assert found.passwords == 1 and seen + found.passwords <= LIMIT, (seen, found.passwords)


def test_the_right_password_behind_a_rogue_first_host_still_scans_the_fleet(ntlm_fleet: Fleet, password: str,
                                                                            tmp_path: Path) -> None:
    """The rogue costs the right password nothing: the next host proves it, and every fleet host is judged."""
    with rogue(web_page(), tls=tls_context()) as found:
        inventory = _rogue_first(ntlm_fleet, found, tmp_path, auth="ntlm")
        result = _scan(ntlm_fleet, inventory, tmp_path, password)
    hosts = result.outcome.results.hosts
    assert hosts[0].error is not None and hosts[0].error.category is ErrorCategory.PROTOCOL
    assert all(h.error is None for h in hosts[1:])
    assert not result.outcome.results.meta.rejected_passwords


@pytest.mark.parametrize("answer", [
    pytest.param(challenge_then(http_reply(504)), id="504-to-the-authenticate"),
    pytest.param(challenge_then(None), id="no-answer-to-the-authenticate"),
])
def test_passwords_without_an_answer_count_against_the_allowance(tmp_path: Path, answer: Callable[[bytes], Reply]
                                                                 ) -> None:
    """Six listeners that take NTLM's AUTHENTICATE and never give a verdict, --retries 2: at most 3 passwords go
    out in all, no host retries one, and the run says once why the rest were not tried."""
    with contextlib.ExitStack() as stack:
        rogues = [stack.enter_context(rogue(answer)) for _ in range(6)]
        inventory = write_inventory(tmp_path / "hosts.csv", [r.row(f"h{i}", auth="ntlm", scheme="http")
                                                             for i, r in enumerate(rogues)])
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": new_password()}, retries=2,
                      max_auth_failures=LIMIT, concurrency=32, timeout=4.0)
    assert sum(r.passwords for r in rogues) <= LIMIT
    hosts = result.outcome.results.hosts
    assert all(h.attempts <= 1 for h in hosts)
    skipped = [h for h in hosts if h.error is not None and h.error.category is ErrorCategory.AUTH_SKIPPED]
    assert len(skipped) == 6 - LIMIT
    assert all("took it without an answer" in h.error.message for h in skipped if h.error)
    assert result.stdout.startswith("PASSWORD UNCONFIRMED: the password for LAB\\auditor went to 3 host(s) without "
                                    "an answer")
    assert result.outcome.exit_status == 2


def test_a_401_to_the_first_logon_leg_is_no_rejected_password(tmp_path: Path) -> None:
    """Listeners answering NTLM's first message (no password in it) with a bare 401 refused no password: at
    --max-auth-failures 1 every host is still tried, no banner says PASSWORD REJECTED, nothing is counted."""
    with contextlib.ExitStack() as stack:
        refuse = http_reply(401, headers=(("WWW-Authenticate", "Negotiate"),))
        rogues = [stack.enter_context(rogue(lambda token: refuse)) for _ in range(4)]
        inventory = write_inventory(tmp_path / "hosts.csv", [r.row(f"h{i}", auth="ntlm", scheme="http")
                                                             for i, r in enumerate(rogues)])
        result = scan(inventory, tmp_path / "run", {"CMAUDIT_PASSWORD": new_password()}, max_auth_failures=1)
    assert all(r.requests >= 1 and r.passwords == 0 for r in rogues)
    hosts = result.outcome.results.hosts
    assert all(h.error is not None and h.error.category is ErrorCategory.AUTH for h in hosts)
    assert not result.outcome.results.meta.rejected_passwords and "PASSWORD" not in result.stdout
