"""A WinRM (WS-Management/WinRS) site-server simulator for tests and `make demo`.

It plays the Windows side, so it imports nothing from scanner/, inventory/ or reports/.
"""

from __future__ import annotations

from simulator.faults import FaultSpecError, HostFaults, parse_spec
from simulator.fleet import Fleet, FleetHost

__all__ = ["Fleet", "FleetHost", "HostFaults", "FaultSpecError", "parse_spec"]
