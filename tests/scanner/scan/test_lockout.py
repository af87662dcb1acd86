"""A wrong password reaches at most --max-auth-failures hosts, counted by the servers themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.model.records import ErrorCategory, Verdict
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan

pytestmark = pytest.mark.network

FLEET = 40


@pytest.fixture(scope="module")
def password() -> str:
    return new_password()


@pytest.fixture(scope="module")
def fleet(password: str):
    with Fleet(hosts=FLEET, password=password, machine_factory=healthy_machine, profiles=["h"] * FLEET) as fleet:
        yield fleet


def _wrong_passwords(fleet: Fleet) -> list[int]:
    return [h.counters.wrong_passwords for h in fleet.hosts]


@pytest.mark.parametrize("workers", [pytest.param(1, id="one-process"), pytest.param(2, id="two-workers")])
def test_a_wrong_password_reaches_at_most_the_limit(fleet: Fleet, password: str, tmp_path: Path,
                                                    workers: int) -> None:
    """40 healthy hosts at --concurrency 32, a wrong password, --max-auth-failures 3: the servers see at most
    3 failed logons in total, and every other host says it was not tried to protect the account."""
    before = _wrong_passwords(fleet)
    result = scan(fleet, tmp_path, "wrong-" + password[::-1], concurrency=32, max_auth_failures=3, workers=workers)
    seen = [after - b for after, b in zip(_wrong_passwords(fleet), before, strict=True)]
    assert sum(seen) <= 3 and max(seen) <= 1
    hosts = result.outcome.results.hosts
    rejected = [h for h in hosts if h.error is not None and h.error.category is ErrorCategory.AUTH]
    skipped = [h for h in hosts if h.error is not None and h.error.category is ErrorCategory.AUTH_SKIPPED]
    assert len(rejected) == sum(seen) and len(rejected) + len(skipped) == FLEET
    assert all("not tried: protects LAB\\auditor from a lockout" in h.error.message for h in skipped if h.error)
    assert all(h.requests == 0 for h in skipped)


def test_the_right_password_scans_every_host(fleet: Fleet, password: str, tmp_path: Path) -> None:
    """With the right password the gate holds nobody back for long: every host is judged, none rejected."""
    before = _wrong_passwords(fleet)
    result = scan(fleet, tmp_path, password, concurrency=32, max_auth_failures=3)
    assert _wrong_passwords(fleet) == before
    assert all(h.verdict is not Verdict.ERROR for h in result.outcome.results.hosts)
