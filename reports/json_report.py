"""results.json: the records as JSON, the source every other report can be rebuilt from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reports.atomic import atomic_write_bytes
from scanner.model.records import RunResults, results_to_dict

# default=str: an option value such as a Path must not cost us the whole results file.
# No indent: json's indenting encoder is pure Python (~1 ms of CPU per host on a 5,000-host run, more than
# writing every other report); without it the C encoder does the work.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonReporter:
    """One top-level key per line and one host per line: readable, and a diff of two runs shows which hosts
    changed, line by line (`jq .` pretty-prints it fully)."""

    name = "json"
    filename = "results.json"

    def render(self, results: RunResults) -> bytes:
        doc = results_to_dict(results)
        lines = ["{"]
        last = len(doc) - 1
        for index, (key, value) in enumerate(doc.items()):
            comma = "," if index < last else ""
            lines.append(f" {_ENCODER.encode(str(key))}: {_value(value)}{comma}")
        lines.append("}")
        return ("\n".join(lines) + "\n").encode("utf-8", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        atomic_write_bytes(path, self.render(results))


def _value(value: Any) -> str:
    """A list of objects one per line (the hosts), anything else on the key's line."""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return "[\n  " + ",\n  ".join(_ENCODER.encode(item) for item in value) + "\n ]"
    return _ENCODER.encode(value)
