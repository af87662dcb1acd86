"""`python -m bench [--json] [--only NAME,...] [--no-write] [options]`: run every bench/bench_*.py module's
`main(argv) -> int` and write bench/RESULTS.md from their JSON summaries.

Options not listed here go to every benchmark (each ignores the ones it does not know), e.g. `--hosts 250`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import bench
from bench.results import render

RESULTS = Path(__file__).with_name("RESULTS.md")


def _take(argv: list[str], flag: str, has_value: bool = False) -> tuple[list[str], str | bool | None]:
    if flag not in argv:
        return argv, None
    at = argv.index(flag)
    value = argv[at + 1] if has_value and at + 1 < len(argv) else True
    return argv[:at] + argv[at + (2 if has_value else 1):], value


def main(argv: list[str]) -> int:
    argv, as_json = _take(argv, "--json")
    argv, no_write = _take(argv, "--no-write")
    argv, only = _take(argv, "--only", has_value=True)
    wanted = set(str(only).split(",")) if isinstance(only, str) else None
    status = 0
    summaries: list[dict[str, Any]] = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_") or (wanted and info.name.removeprefix("bench_") not in wanted):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"== {info.name}", file=sys.stderr, flush=True)
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                code = module.main([*argv, "--json"])
        except SystemExit as exc:  # a benchmark's argparse refusing an option must not stop the others
            code = exc.code if isinstance(exc.code, int) else 1
        status = max(status, int(code or 0))
        for line in captured.getvalue().splitlines():
            if line.startswith("{"):
                summaries.append(json.loads(line))
                if as_json:
                    print(line, flush=True)
    page = render(summaries, argv)
    if not as_json:
        print(page)
    if not no_write and summaries:
        RESULTS.write_text(page, encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
