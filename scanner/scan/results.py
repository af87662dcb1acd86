"""Turn the runner's per-host outcomes and the run's settings into the shared result records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scanner import __version__
from scanner.advisory.loader import Advisory
from scanner.model.records import HostFailure, HostResult, RunMeta, RunResults, Verdict
from scanner.scan.host_job import HostOutcome
from scanner.scan.runner import HostRun

if TYPE_CHECKING:
    from scanner.model.host import Host

# Option names that can never be recorded, whatever a caller passes in.
SECRET_OPTION_NAMES = frozenset({"password", "passwd", "secret", "token", "key_password"})


def host_result(run: HostRun[Host, HostOutcome]) -> HostResult:
    """One HostResult: the judgement when the host was collected, else ERROR with the error category."""
    host = run.host
    common: dict[str, Any] = dict(
        host=host.name, address=host.address, port=host.port, scheme=host.scheme, tags=tuple(host.tags),
        started=run.started, finished=run.finished, seconds=round(run.seconds, 3), requests=run.requests,
        attempts=run.attempts,
    )
    if run.value is None:
        error = run.error
        return HostResult(
            verdict=Verdict.ERROR,
            reasons=(error.message if error is not None else "no result",),
            site_code=host.site_code,
            error=HostFailure(error.category, error.message, error.hint) if error is not None else None,
            **common,
        )
    outcome = run.value
    j = outcome.judgement
    return HostResult(
        verdict=j.verdict,
        reasons=j.reasons,
        evidence=j.evidence,
        build_name=j.build_name,
        window=j.window,
        facts=outcome.facts,
        site_code=outcome.facts.site_code or host.site_code,
        **common,
    )


def clean_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The run's options as recorded in results.json: JSON-friendly, secrets dropped."""
    cleaned: dict[str, Any] = {}
    for name, value in options.items():
        if name.lower() in SECRET_OPTION_NAMES or name.startswith("_") or callable(value):
            continue
        if value is None or isinstance(value, bool | int | float | str):
            cleaned[name] = value
        else:
            cleaned[name] = str(value)
    return cleaned


def run_meta(
    *,
    started: str,
    finished: str | None,
    advisory: Advisory,
    inventory_path: str | None,
    inventory_sha256: str | None,
    options: Mapping[str, Any],
    insecure: bool,
    interrupted: bool,
    run_id: str | None = None,
) -> RunMeta:
    return RunMeta(
        run_id=run_id or uuid.uuid4().hex,
        started=started,
        finished=finished,
        cmaudit_version=__version__,
        advisory_id=advisory.id,
        advisory_title=advisory.title,
        advisory_kb=advisory.kb,
        advisory_sha256=advisory.sha256,
        remediation=advisory.remediation,
        kb_url=advisory.kb_url,
        verdict_text=dict(advisory.verdict_text),
        verdict_remediation=dict(advisory.verdict_remediation),
        inventory_path=inventory_path,
        inventory_sha256=inventory_sha256,
        options=clean_options(options),
        insecure=insecure,
        interrupted=interrupted,
    )


def assemble(meta: RunMeta, runs: Sequence[HostRun[Host, HostOutcome]]) -> RunResults:
    return RunResults(meta=meta, hosts=tuple(host_result(r) for r in runs))
