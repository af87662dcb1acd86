"""The scan's three steps on their own: plan (read_inputs, settle_logons), execute, publish_run."""

from __future__ import annotations

import pytest

from scanner.history import database
from scanner.model.errors import UsageError
from scanner.model.records import ErrorCategory, RunResults, Verdict
from scanner.publish.publish_run import publish_run
from scanner.scan.execute import execute
from scanner.scan.plan import read_inputs, settle_logons
from scanner.scan.settings import ScanSettings
from tests.support.scans import new_password
from tests.support.weekly_runs import run


def _settings(inventory, tmp_path, **overrides) -> ScanSettings:
    values = dict(inventory=inventory, output=tmp_path / "run", username="LAB\\auditor", timeout=20.0, retries=0,
                  concurrency=4, backoff_base=0.05, grace=0.5, connect_timeout=2.0, operation_timeout=2, quiet=True,
                  interactive=True)
    values.update(overrides)
    return ScanSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("content", "overrides", "says"), [
    pytest.param("address,port\n,5985\n", {}, "hosts.csv", id="no-host-column"),
    pytest.param("host\nsms01\n", {"host_patterns": ("sms99",)}, "no host matches", id="nothing-chosen"),
    pytest.param("host\nsms01\n", {"waivers": "waivers.toml"}, "waivers.toml", id="bad-waivers"),
])
def test_read_inputs_refuses_bad_input_before_any_prompt_or_folder(tmp_path, content, overrides, says):
    """A bad inventory, a selection that matches nothing or a broken waivers file is one UsageError naming the
    file, raised by the plan's first half: no password was asked for and no run folder was made."""
    inventory = tmp_path / "hosts.csv"
    inventory.write_text(content, encoding="utf-8")
    if "waivers" in overrides:
        (tmp_path / "waivers.toml").write_text("[[waiver]]\nhost = 'sms01'\n", encoding="utf-8")
        overrides = {"waivers": tmp_path / "waivers.toml"}
    asked: list[str] = []
    with pytest.raises(UsageError) as refused:
        inputs = read_inputs(_settings(inventory, tmp_path, **overrides))
        with settle_logons(inputs, environ={}, prompt=lambda text: asked.append(text) or "pw"):
            pass
    assert says in str(refused.value)
    assert asked == [] and not (tmp_path / "run").exists()


@pytest.fixture
def fleet_of_three(tmp_path):
    """Three simulated site servers, the last one stopped; their inventory and the password."""
    from simulator import Fleet

    password = new_password()
    with Fleet(hosts=3, scenario="sp1-healthy", password=password) as fleet:
        inventory = fleet.write_inventory(tmp_path / "hosts.csv")
        fleet.stop_host(2)
        yield fleet, inventory, password


def test_execute_answers_every_host_of_the_plan(tmp_path, fleet_of_three):
    """The execute step returns a result for every host planned, in the inventory's spelling: the reachable
    ones judged, the stopped one ERROR unreachable; nothing is written but the run folder."""
    fleet, inventory, password = fleet_of_three
    inputs = read_inputs(_settings(inventory, tmp_path, username=fleet.username))
    with settle_logons(inputs, environ={"CMAUDIT_PASSWORD": password}) as plan:
        executed = execute(plan, install_signal_handlers=False)
    hosts = {h.host: h for h in executed.results.hosts}
    assert sorted(hosts) == sorted(h.name for h in inputs.hosts) and len(hosts) == 3
    stopped = hosts[fleet.hosts[2].name]
    assert stopped.verdict is Verdict.ERROR and stopped.error is not None
    assert stopped.error.category is ErrorCategory.UNREACHABLE
    assert [hosts[h.name].verdict for h in fleet.hosts[:2]] == [Verdict.NOT_AFFECTED] * 2
    assert not executed.results.meta.interrupted
    assert not (tmp_path / "run" / "results.json").exists()  # writing is the publish step's


def test_publish_run_says_a_failed_history_and_still_writes_the_reports(tmp_path, monkeypatch):
    """A history step that fails is one problem note; results.json and every report are written all the same."""
    def refused(db_path, *_args, **_kwargs):
        raise database.HistoryError(db_path, "history database error: database is locked")

    monkeypatch.setattr(database, "record_run", refused)
    results: RunResults = run(2)
    published = publish_run(results, tmp_path / "out", history=tmp_path / "h.sqlite3", keep_runs=None, mail=None,
                            install_signal_handlers=False)
    problems = [n.text for n in published.notes if n.problem]
    assert any(text.startswith("history not updated:") and "database is locked" in text for text in problems)
    assert published.internal_error is None and not published.stopped and published.changes is None
    assert set(published.paths) == {"json", "jsonl", "csv", "html", "junit"}
    assert all(path.is_file() for path in published.paths.values())
