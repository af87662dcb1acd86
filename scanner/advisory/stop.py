"""Abandoning a judgement: the host's deadline passed or the run is stopping.

Judging is pure and usually takes milliseconds, but it runs in a worker thread that Python cannot kill:
a hostile log must not keep a process alive after its host timed out or after Ctrl-C. The engine's loops
call `Stopper.check()` (which asks the caller's `should_stop` every few calls), its big steps call
`Stopper.poll()` (which always asks); either raises `Abandoned` when the answer is yes.
"""

from __future__ import annotations

from collections.abc import Callable

ShouldStop = Callable[[], bool]


class Abandoned(Exception):
    """Judging stopped before a verdict: the caller asked (deadline passed, run stopping)."""


class Stopper:
    """Asks `should_stop` on the first check and every `every`-th after it; None never stops."""

    __slots__ = ("_calls", "_every", "_should_stop")

    def __init__(self, should_stop: ShouldStop | None = None, every: int = 32) -> None:
        self._should_stop, self._every, self._calls = should_stop, every, every - 1

    def check(self) -> None:
        """In a loop: ask now and then (asking costs a call into the scan's deadline logic)."""
        if self._should_stop is None:
            return
        self._calls += 1
        if self._calls >= self._every:
            self.poll()

    def poll(self) -> None:
        """Between the big steps (each a linear pass over the logs): ask now."""
        self._calls = 0
        if self._should_stop is not None and self._should_stop():
            raise Abandoned("judging abandoned")


NEVER = Stopper()
