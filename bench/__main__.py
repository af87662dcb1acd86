"""`python -m bench [--json]`: run every bench/bench_*.py module's `main(argv) -> int`."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    status = 0
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"bench.{info.name}")
            try:
                code = module.main(argv)
            except SystemExit as exc:  # a benchmark's argparse refusing an option must not stop the others
                code = exc.code if isinstance(exc.code, int) else 1
            status = max(status, int(code or 0))
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
