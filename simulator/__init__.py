"""A WinRM (WS-Management/WinRS) site-server simulator for tests and `make demo`.

It plays the Windows side, so it imports nothing from scanner/, inventory/ or reports/. `Fleet` and
`FleetHost` load on first use: `cmaudit --help` reads the fault grammar from simulator.faults, and that
should not load the whole simulator (its import time: bench/RESULTS.md) on every cmaudit start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.faults import FaultSpecError, HostFaults, parse_spec

if TYPE_CHECKING:
    from simulator.fleet import Fleet, FleetHost

__all__ = ["Fleet", "FleetHost", "HostFaults", "FaultSpecError", "parse_spec"]


def __getattr__(name: str) -> Any:
    if name in ("Fleet", "FleetHost"):
        from simulator import fleet

        return getattr(fleet, name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
