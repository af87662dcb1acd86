"""report.junit.xml: the audit as a JUnit test report, for CI servers and dashboards that read one.

One <testsuite> per run, one <testcase> per host (name: the inventory name, classname:
`cmaudit.<advisory>.<site code>`), so Jenkins, GitLab, Azure DevOps and the like show a host's trend
like a test's:

    AFFECTED, AT_RISK          <failure type="VERDICT" message="why">reasons and remediation</failure>
    ERROR, UNKNOWN             <error type="ERROR/category" message="why">...</error>
    waived, NOT_APPLICABLE     <skipped message="..."/>
    RECOVERED, NOT_AFFECTED    passed (no child)

Server text may hold characters XML 1.0 cannot carry (control characters, lone surrogates from a
broken log): they become U+FFFD, so the file always parses. ElementTree escapes the rest.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from reports.atomic import atomic_write_bytes
from reports.base import action_order, results_beside, why_text, with_results_path
from scanner.model.records import HostResult, RunResults, Verdict
from scanner.model.remediation import remediation_for
from scanner.model.times import parse_utc

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_MESSAGE = 500  # characters of the message attribute; the element text has the rest


def xml_text(value: str | None) -> str:
    """Text XML 1.0 can hold: characters it forbids become U+FFFD."""
    return _NOT_XML.sub("\ufffd", value or "")


def outcome(host: HostResult) -> str:
    """"skipped", "failure", "error" or "passed": how a CI server should count this host."""
    if host.waived or host.verdict is Verdict.NOT_APPLICABLE:
        return "skipped"
    if host.verdict.is_finding:
        return "failure"
    if host.verdict.is_incomplete:
        return "error"
    return "passed"


def _testcase(parent: ET.Element, host: HostResult, results: RunResults, results_path: str | None) -> str:
    meta = results.meta
    site = host.facts.site_code or host.site_code or "no-site"
    case = ET.SubElement(parent, "testcase", {
        "name": xml_text(host.host if host.port in (80, 443, 5985, 5986) else f"{host.host}:{host.port}"),
        "classname": xml_text(f"cmaudit.{meta.advisory_id}.{site}"),
        "time": f"{max(host.seconds, 0.0):.3f}",
    })
    kind = outcome(host)
    why = why_text(host, meta)
    if kind == "skipped":
        if host.waived and host.waiver is not None:
            w = host.waiver
            message = f"{host.verdict.value} waived until {w.expires} by {w.owner}: {w.reason}"
        else:
            message = f"{host.verdict.value}: {why}"
        ET.SubElement(case, "skipped", {"message": xml_text(message[:MAX_MESSAGE])})
    elif kind in ("failure", "error"):
        kind_type = host.verdict.value
        if host.error is not None:
            kind_type += f"/{host.error.category.value}"
        detail = [*host.reasons]
        if host.error is not None:
            detail.append(f"{host.error.category.value}: {host.error.message}")
        remedy = with_results_path(remediation_for(host, meta), results_path)
        if remedy:
            detail.append(f"Remediation: {remedy}")
        if host.waiver is not None and host.waiver.expired:
            detail.append(f"Waiver expired on {host.waiver.expires} ({host.waiver.owner}): {host.waiver.reason}")
        element = ET.SubElement(case, kind, {"type": xml_text(kind_type),
                                             "message": xml_text(f"{host.verdict.value}: {why}"[:MAX_MESSAGE])})
        element.text = xml_text("\n".join(detail))
    return kind


def render_junit(results: RunResults, *, results_path: str | None = None) -> bytes:
    """The JUnit XML; `results_path` (the results.json beside it) replaces `RESULTS.json` in the hints."""
    meta = results.meta
    name = f"cmaudit {meta.audit or meta.inventory_path or ''} {meta.advisory_id}".replace("  ", " ").strip()
    suites = ET.Element("testsuites", {"name": xml_text(name)})
    started, finished = parse_utc(meta.started), parse_utc(meta.finished)
    suite = ET.SubElement(suites, "testsuite", {"name": xml_text(name), "id": "0"})
    properties = ET.SubElement(suite, "properties")
    for key, value in (("run_id", meta.run_id), ("advisory", meta.advisory_id), ("kb", meta.advisory_kb),
                       ("audit", meta.audit or ""), ("inventory", meta.inventory_path or ""),
                       ("cmaudit_version", meta.cmaudit_version), ("insecure", str(meta.insecure).lower()),
                       ("interrupted", str(meta.interrupted).lower())):
        ET.SubElement(properties, "property", {"name": key, "value": xml_text(value)})
    tally: Counter[str] = Counter(_testcase(suite, h, results, results_path) for h in action_order(results.hosts))
    seconds = (finished - started).total_seconds() if started and finished else sum(h.seconds for h in results.hosts)
    counts = {"tests": str(len(results.hosts)), "failures": str(tally["failure"]), "errors": str(tally["error"]),
              "skipped": str(tally["skipped"]), "time": f"{max(seconds, 0.0):.3f}"}
    suite.attrib.update(counts)
    if started is not None:
        suite.set("timestamp", started.strftime("%Y-%m-%dT%H:%M:%S"))
    suites.attrib.update(counts)
    buffer = io.BytesIO()
    ET.indent(suites, space=" ")
    ET.ElementTree(suites).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue() + b"\n"


class JunitReporter:
    name = "junit"
    filename = "report.junit.xml"

    def render(self, results: RunResults, *, results_path: str | None = None) -> bytes:
        return render_junit(results, results_path=results_path)

    def write(self, results: RunResults, path: Path) -> None:
        atomic_write_bytes(path, self.render(results, results_path=results_beside(path)))
