"""A wrong password reaches at most --max-auth-failures hosts, counted by the servers themselves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reports.console import exit_status
from reports.merge import load_results
from scanner.model.records import ErrorCategory, RejectedPassword, RunResults, Verdict, Waiver
from simulator.fleet import Fleet
from tests.support.fleet import healthy_machine, new_password, scan
from tests.support.samples import meta, simple

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
    said = f"the password for LAB\\auditor was rejected by {len(rejected)} host(s); {len(skipped)} not tried to " \
           "protect the account"
    assert result.stdout.startswith(f"PASSWORD REJECTED: {said}.")
    assert result.outcome.exit_status == 2
    saved = (tmp_path / "run" / "results.json").read_text(encoding="utf-8")
    assert json.loads(saved.splitlines()[3].rstrip(",").split(": ", 1)[1]) == [said]  # after schema and version
    assert load_results(tmp_path / "run" / "results.json").meta.rejected_passwords == (
        RejectedPassword("LAB\\auditor", len(rejected), len(skipped)),)  # `cmaudit report` says it again
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert html.index(said) < html.index('id="summary"')


def test_the_right_password_scans_every_host(fleet: Fleet, password: str, tmp_path: Path) -> None:
    """With the right password the gate holds nobody back for long: every host is judged, none rejected."""
    before = _wrong_passwords(fleet)
    result = scan(fleet, tmp_path, password, concurrency=32, max_auth_failures=3)
    assert _wrong_passwords(fleet) == before
    assert all(h.verdict is not Verdict.ERROR for h in result.outcome.results.hosts)


def test_a_rejected_password_leaves_the_audit_incomplete_whatever_the_waivers() -> None:
    """A waiver that covers ERROR hosts does not turn a run with a rejected password into a complete audit."""
    every_error = Waiver(host="*", reason="r", owner="o", expires="2099-01-01", verdicts=("ERROR",))
    hosts = tuple(replace(simple(f"h{i}", Verdict.ERROR, "r"), waiver=every_error) for i in range(3))
    clean = RunResults(meta=meta(), hosts=hosts)
    assert exit_status(clean) == 0
    rejected = RunResults(meta=replace(meta(), rejected_passwords=(RejectedPassword("LAB\\auditor", 1, 2),)),
                          hosts=hosts)
    assert exit_status(rejected) == 2
