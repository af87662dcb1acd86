"""results.jsonl: one JSON object per host, one host per line, for a SIEM or a log pipeline.

Each line stands alone (Splunk, Elastic, Sentinel ingest line by line): the host's record exactly as
in results.json, plus the run it belongs to and what to do about it. Fields, in this order:

    schema            "cmaudit-host" (schema_version 1)
    run_id, run_started, audit, advisory, kb
    ...               every field of the host in results.json (host, address, port, verdict, reasons,
                      evidence, facts, error, waiver, needs_action, timings)
    waived            true while a waiver in force covers the verdict
    remediation       the short remediation for the verdict (for ERROR: the error's hint)

UTF-8, LF line ends, hosts needing action first; a newline inside server text is escaped by JSON,
so a line is always one host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reports.atomic import atomic_write_bytes
from reports.base import action_order, results_beside, with_results_path
from scanner.model.records import HostResult, RunResults, host_to_dict
from scanner.model.remediation import remediation_for

SCHEMA = "cmaudit-host"
SCHEMA_VERSION = 1


def host_line(host: HostResult, results: RunResults, results_path: str | None = None) -> dict[str, Any]:
    """One host's object: the run's identity first, then the host as results.json has it; the remediation names
    `results_path` (the results.json beside the file) where it says to scan again."""
    meta = results.meta
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run_id": meta.run_id,
        "run_started": meta.started,
        "audit": meta.audit,
        "advisory": meta.advisory_id,
        "kb": meta.advisory_kb,
        **host_to_dict(host),
        "waived": host.waived,
        "remediation": with_results_path(remediation_for(host, meta), results_path),
    }


class JsonlReporter:
    name = "jsonl"
    filename = "results.jsonl"

    def render(self, results: RunResults, *, results_path: str | None = None) -> bytes:
        lines = (json.dumps(host_line(h, results, results_path), ensure_ascii=False, separators=(",", ":"), default=str)
                 for h in action_order(results.hosts))
        return "".join(line + "\n" for line in lines).encode("utf-8", errors="replace")

    def write(self, results: RunResults, path: Path) -> None:
        atomic_write_bytes(path, self.render(results, results_path=results_beside(path)))
