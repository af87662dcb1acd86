"""Functions stay small enough to review: none outside scanner/cli over 60 lines or radon complexity 20.

A long if/elif ladder is a decision and belongs in a table (STYLE.md, "Decisions are tables"); a long function
is several jobs. scanner/cli wires the layers together and is exempt, as the style guide says.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Function

from tests.paths import REPO

CLI = REPO / "scanner" / "cli"
MODULES = sorted(p for package in ("scanner", "inventory", "reports", "simulator", "bench")
                 for p in (REPO / package).rglob("*.py") if not p.is_relative_to(CLI))
MAX_LINES = 60
MAX_COMPLEXITY = 20  # radon's cyclomatic complexity: 21 and above is its rank D


def _functions(blocks: list[Function]) -> Iterator[Function]:
    """Every function radon measured: top-level ones, methods and the closures inside them."""
    for block in blocks:
        if isinstance(block, Function):
            yield block
            yield from _functions(block.closures)
        else:  # a class: its methods, and the classes nested in it
            yield from _functions(block.methods)
            yield from _functions(block.inner_classes)


def oversized(source: str) -> list[str]:
    """`line name: why` for each function of `source` longer than MAX_LINES or more complex than MAX_COMPLEXITY."""
    found = [f"{f.lineno} {f.name}: complexity {f.complexity}" for f in _functions(cc_visit(source))
             if f.complexity > MAX_COMPLEXITY]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_LINES:
                found.append(f"{node.lineno} {node.name}: {lines} lines")
    return sorted(found)


@pytest.mark.parametrize("module", [pytest.param(m, id=m.relative_to(REPO).as_posix()) for m in MODULES])
def test_no_function_is_too_long_or_too_complex(module: Path) -> None:
    """Every function below the CLI (and in the simulator and the benchmarks) is at most 60 lines, complexity 20."""
    assert oversized(module.read_text(encoding="utf-8")) == []


def _ladder(branches: int) -> str:
    """A function of `branches` ifs in a row: radon's complexity branches + 1."""
    return "def ladder(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(branches)) \
        + "    return -1\n"


_LONG = "def long():\n" + "    x = 1\n" * 60
_NESTED = "class C:\n    def method(self):\n        def inner(x):\n" + "".join(
    f"            if x == {i}:\n                return {i}\n" for i in range(20)) + "            return -1\n" \
    "        return inner\n"


@pytest.mark.parametrize(("source", "expected"), [
    pytest.param(_ladder(20), "1 ladder: complexity 21", id="complexity-21"),
    pytest.param(_LONG, "1 long: 61 lines", id="61-lines"),
    pytest.param(_NESTED, "complexity", id="closure-in-method"),
])
def test_the_check_sees_an_oversized_function(source: str, expected: str) -> None:
    """The scan above is not vacuous: a 21-branch ladder, a 61-line body and a complex closure are found."""
    assert any(expected in line for line in oversized(source))


def test_twenty_branches_and_sixty_lines_pass() -> None:
    """The limits themselves are allowed: complexity 20 and 60 lines are not reported."""
    assert oversized(_ladder(19)) == []
    assert oversized("def long():\n" + "    x = 1\n" * 59) == []
