"""The wsyncmgr.log generator: server log format, consistent times, the scenarios' evidence, size control."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from simulator.loggen import SIGNATURE_954474, ZERO_SUMMARY, LogSpec, Scenario, generate

LINE_RE = re.compile(
    r"^(?P<text>.*?)  \$\$<SMS_WSUS_SYNC_MANAGER><(?P<stamp>\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3})(?P<bias>[+-]\d{3})>"
    r"<thread=(?P<tid>\d+) \(0x(?P<hex>[0-9A-F]+)\)>$"
)
GMT_RE = re.compile(r"GMTDATE=(\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{3} \d{4}) ")


def parsed(spec: LogSpec) -> list[re.Match[str]]:
    text = generate(spec).text
    assert text.endswith("\r\n")
    lines = text[:-2].split("\r\n")
    matches = [LINE_RE.match(line) for line in lines]
    bad = [line for line, match in zip(lines, matches, strict=True) if match is None]
    assert not bad, bad[:3]
    return [m for m in matches if m is not None]


def local_time(match: re.Match[str]) -> datetime:
    return datetime.strptime(match["stamp"], "%m-%d-%Y %H:%M:%S.%f")


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
def test_every_line_is_in_server_log_format_with_consistent_thread(scenario: Scenario) -> None:
    """Each line is `text  $$<SMS_WSUS_SYNC_MANAGER><date+bias><thread=N (0xN)>` with matching hex thread."""
    for match in parsed(LogSpec(scenario)):
        assert int(match["tid"]) == int(match["hex"], 16)


@pytest.mark.parametrize("bias", [pytest.param(420, id="pdt"), pytest.param(-120, id="cest"),
                                  pytest.param(0, id="utc")])
def test_gmtdate_agrees_with_the_bias(bias: int) -> None:
    """Every STATMSG's GMTDATE equals the line's local time plus the bias (UTC = local + bias)."""
    checked = 0
    for match in parsed(LogSpec(Scenario.AFFECTED, bias=bias)):
        assert int(match["bias"]) == bias
        gmt = GMT_RE.search(match["text"])
        if gmt is None:
            continue
        assert datetime.strptime(gmt.group(1), "%a %b %d %H:%M:%S.%f %Y") - local_time(match) == timedelta(
            minutes=bias)
        checked += 1
    assert checked > 50


def test_times_never_go_backwards_and_stay_in_the_advisory_window() -> None:
    """Timestamps are non-decreasing and the default log covers June 2008."""
    times = [local_time(m) for m in parsed(LogSpec(Scenario.RECOVERED))]
    assert times == sorted(times)
    assert times[0].date() >= date(2008, 5, 1) and times[-1].date() <= date(2008, 7, 31)


def legacy_outcomes(spec: LogSpec) -> list[tuple[str, bool]]:
    """(ending STATMSG id, 954474 signature seen) for every legacy sync attempt, in order."""
    outcomes: list[tuple[str, bool]] = []
    current: bool | None = None
    for match in parsed(spec):
        text = match["text"]
        if "ID=6709 " in text:
            current = False
        elif current is not None and "0x80004005" in text and "DeploymentAction" in text and "CreateUpdateNode" in text:
            current = True
        elif current is not None and ("ID=6710 " in text or "ID=6711 " in text):
            outcomes.append((text.split("ID=")[1][:4], current))
            current = None
    return outcomes


@pytest.mark.parametrize(
    ("scenario", "last", "signature_seen"),
    [
        pytest.param(Scenario.AFFECTED, ("6711", True), True, id="affected"),
        pytest.param(Scenario.RECOVERED, ("6710", False), True, id="recovered"),
        pytest.param(Scenario.HEALTHY, ("6710", False), False, id="healthy"),
        pytest.param(Scenario.OTHER_FAILURE, ("6711", False), False, id="other-failure"),
    ],
)
def test_legacy_sync_outcomes_follow_the_scenario(scenario: Scenario, last: tuple[str, bool],
                                                  signature_seen: bool) -> None:
    """The last legacy sync ends as the scenario says; the 954474 error appears only where it should."""
    outcomes = legacy_outcomes(LogSpec(scenario))
    assert len(outcomes) > 10
    assert outcomes[-1] == last
    assert any(sig for _, sig in outcomes) is signature_seen
    text = generate(LogSpec(scenario)).text
    assert (SIGNATURE_954474 in text) is signature_seen
    assert (ZERO_SUMMARY in text) is signature_seen


def test_affected_log_holds_the_advisory_sequence() -> None:
    """A failing legacy sync shows the lines of the advisory in their order."""
    text = generate(LogSpec(Scenario.AFFECTED)).text
    at = text.rindex(SIGNATURE_954474)
    section = text[text.rindex("Performing legacy sync", 0, at): text.index("ID=6711", at)]
    order = ["Performing legacy sync", "STATMSG: ID=6709", "updatewuscatalog.exe", "Processing security catalog",
             "Initializing catalog", "Preprocessing updates...", SIGNATURE_954474, ZERO_SUMMARY]
    positions = [section.index(item) for item in order]
    assert positions == sorted(positions)


def test_site_without_sms2003_clients_has_no_legacy_sync() -> None:
    """The no-legacy scenario has syncs (6701/6702) but no 6709/6710/6711 and no legacy prose."""
    text = generate(LogSpec(Scenario.NO_LEGACY)).text
    assert "ID=6701 " in text and "ID=6702 " in text and "Wakeup for a polling cycle" in text
    for token in ("ID=6709 ", "ID=6710 ", "ID=6711 ", "Performing legacy sync", "Security updates summary"):
        assert token not in text


def test_same_spec_gives_same_bytes_and_seed_changes_them() -> None:
    """Generation is deterministic for a spec and varies with the seed."""
    assert generate(LogSpec(Scenario.HEALTHY, seed=7)).text == generate(LogSpec(Scenario.HEALTHY, seed=7)).text
    assert generate(LogSpec(Scenario.HEALTHY, seed=7)).text != generate(LogSpec(Scenario.HEALTHY, seed=8)).text


@pytest.mark.parametrize(
    ("target", "low", "high"),
    [
        pytest.param(300_000, 150_000, 600_000, id="default-few-hundred-kb"),
        pytest.param(4_000_000, 3_000_000, 6_000_000, id="multi-mb"),
    ],
)
def test_size_follows_the_target(target: int, low: int, high: int) -> None:
    """The log's size follows target_bytes, so multi-MB logs like real ones are one parameter away."""
    assert low <= len(generate(LogSpec(Scenario.AFFECTED, target_bytes=target)).text) <= high


def test_quiet_tail_has_only_polling_cycles() -> None:
    """With a quiet tail (a rolled-over log's newer file), no sync happens after the tail offset."""
    log = generate(LogSpec(Scenario.AFFECTED, start=date(2008, 5, 12), days=36, sync_every_days=7,
                           quiet_tail_days=5))
    head, tail = log.text[: log.tail_offset], log.text[log.tail_offset:]
    assert SIGNATURE_954474 in head and "ID=6709" not in tail and "Starting Sync" not in tail
    assert tail.startswith("Wakeup for a polling cycle")
    assert log.head_last_write < log.last_write
