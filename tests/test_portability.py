"""cmaudit runs on Windows jump boxes too: the code that runs there uses nothing POSIX-only."""

from __future__ import annotations

import ast

import pytest

from tests.paths import REPO

ROOT = REPO
# Everything that runs on the jump box: the inventory readers, the scanner and the reports.
MODULES = sorted(p for package in ("inventory", "scanner", "reports") for p in (ROOT / package).rglob("*.py"))
POSIX_ONLY_MODULES = {"fcntl", "termios", "tty", "pwd", "grp", "resource", "posix", "pty", "crypt"}
POSIX_ONLY_CALLS = {("os", name) for name in ("getuid", "geteuid", "getgid", "fork", "setsid", "killpg", "chown",
                                             "getpgid", "mkfifo", "uname")} | {("signal", "SIGALRM"),
                                                                             ("signal", "alarm")}


@pytest.mark.parametrize("module", [pytest.param(m, id=m.relative_to(ROOT).as_posix()) for m in MODULES])
def test_no_posix_only_calls(module):
    """No import or call that does not exist on Windows (getpass and pathlib pick the platform's way)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {alias.name.split(".")[0] for alias in node.names} & POSIX_ONLY_MODULES
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in POSIX_ONLY_MODULES
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in POSIX_ONLY_CALLS, f"{module.name}:{node.lineno}"
