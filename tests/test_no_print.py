"""Only `scanner.cli` talks to the terminal: every layer below it returns its notes or logs them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import REPO

CLI = REPO / "scanner" / "cli"
# Everything below the command line: the scanner's layers, the inventory readers, the reports, the simulator.
MODULES = sorted(p for package in ("inventory", "scanner", "reports", "simulator")
                 for p in (REPO / package).rglob("*.py") if not p.is_relative_to(CLI))
STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}
TERMINAL_MODULES = {"getpass", "pprint"}  # getpass writes its prompt to the terminal itself


def terminal_writes(source: str) -> list[str]:
    """`line: what` for each print, sys.stdout/stderr use or terminal module in `source`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{line}: print()")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sys" \
                and node.attr in STREAMS:
            found.append(f"{line}: sys.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and {a.name for a in node.names} & STREAMS:
            found.append(f"{line}: from sys import a stream")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = {a.name for a in node.names} if isinstance(node, ast.Import) else {node.module or ""}
            found += [f"{line}: import {name}" for name in names if name.split(".")[0] in TERMINAL_MODULES]
    return found


@pytest.mark.parametrize("module", [pytest.param(m, id=m.relative_to(REPO).as_posix()) for m in MODULES])
def test_nothing_below_the_cli_writes_to_the_terminal(module: Path) -> None:
    """No print, no sys.stdout/sys.stderr and no getpass outside scanner/cli: the CLI decides what is shown."""
    assert terminal_writes(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("source", [
    pytest.param("print('x')\n", id="print"),
    pytest.param("import sys\nsys.stderr.write('x')\n", id="sys-stderr"),
    pytest.param("import sys\nout = sys.stdout\n", id="sys-stdout"),
    pytest.param("from sys import stderr\n", id="from-sys"),
    pytest.param("import getpass\n", id="getpass"),
])
def test_the_check_sees_each_kind_of_terminal_write(source: str) -> None:
    """The scan above is not vacuous: each way of reaching the terminal is found."""
    assert terminal_writes(source)
