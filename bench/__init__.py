"""Benchmarks, run on demand (`make bench`, `python -m bench [--json]`), never in `make test`."""
