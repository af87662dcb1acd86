"""Hostile and random command lines never crash or hang the virtual cmd.exe."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import programs
from simulator.machine import CommandResult
from simulator.profiles import load_machine

MACHINE = load_machine("sp1-affected", "FUZZ01")
LOG = r'"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"'
PIECES = [
    "reg", "query", "type", "findstr", "dir", "echo", "cmd", "/c", "/v", "/s", "/ve", "/n", "/i", '/c:"', '"', "&",
    "&&", "||", "|", ">", ">>", "<", "2>&1", "nul", "^", "%", "%COMPUTERNAME%", r"HKLM\SOFTWARE\Microsoft\SMS", LOG,
    "*", "?", "..", "C:", " ", "\t", "[", "]", "$", "/b", "@", "(", "0", "2>", "ver", "hostname", "\u00e9", "\x00",
    "\r\n", "/reg:32", "/r", "/x", "/m", "x*x*y",
]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=14),
    codepage=st.sampled_from([437, 850, 1252, 65001, 12345]),
)
def test_random_command_lines_get_an_answer(parts: list[str], codepage: int) -> None:
    """Any mix of cmd syntax, programs and junk returns a CommandResult with bytes and an exit code."""
    result = MACHINE.run(" ".join(parts), codepage)
    assert isinstance(result, CommandResult)
    assert isinstance(result.stdout, bytes) and isinstance(result.stderr, bytes)
    assert isinstance(result.exit_code, int)


def test_output_is_capped_for_a_line_that_types_the_log_many_times(monkeypatch) -> None:
    """A line naming the same log 80 times gets output up to the cap, not unbounded memory."""
    monkeypatch.setattr(programs, "MAX_OUTPUT_BYTES", 1_000_000)
    line = "type" + f" {LOG}" * 80
    assert len(line) < 8191
    result = MACHINE.run(line)
    assert len(result.stdout) + len(result.stderr) == 1_000_000
