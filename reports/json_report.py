"""results.json: the records as JSON, the source every other report can be rebuilt from."""

from __future__ import annotations

import json
from pathlib import Path

from reports.atomic import atomic_write_bytes
from scanner.model.records import RunResults, results_to_dict


class JsonReporter:
    """Pretty enough to read and diff (one-space indent), compact enough for 5,000 hosts."""

    name = "json"
    filename = "results.json"

    def render(self, results: RunResults) -> bytes:
        # default=str: an option value such as a Path must not cost us the whole results file
        text = json.dumps(results_to_dict(results), indent=1, ensure_ascii=False, default=str)
        return (text + "\n").encode("utf-8", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        atomic_write_bytes(path, self.render(results))
