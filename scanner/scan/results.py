"""Turn the runner's per-host outcomes and the run's settings into the shared result records."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner import __version__
from scanner.advisory.loader import Advisory
from scanner.config.waivers import load_waivers
from scanner.model.errors import UsageError
from scanner.model.host import AUTH_METHODS
from scanner.model.options import ENV_NAME_RULE, is_env_name
from scanner.model.records import HostFacts, HostFailure, HostResult, Judgement, RunMeta, RunResults, Verdict, Waiver
from scanner.model.remediation import category_hint
from scanner.model.results_file import ResultsFileError, load_results, recorded_file, shown_path
from scanner.model.run_match import host_key, match_key, result_names, shared_names
from scanner.scan.credentials import DEFAULT_PASSWORD_ENV
from scanner.scan.runner import HostRun

if TYPE_CHECKING:
    from scanner.model.host import Host

# Option names that can never be recorded, whatever a caller passes in.
SECRET_OPTION_NAMES = frozenset({"password", "passwd", "secret", "token", "key_password"})


def judged_result(host: Host, facts: HostFacts, judgement: Judgement) -> HostResult:
    """A collected and judged host's record, as its job answers it (the runner's timings come with host_result)."""
    return HostResult(
        host=host.name, address=host.address, port=host.port, scheme=host.scheme, tags=tuple(host.tags),
        verdict=judgement.verdict,
        reasons=judgement.reasons,
        evidence=judgement.evidence,
        build_name=judgement.build_name,
        window=judgement.window,
        facts=facts,
        site_code=facts.site_code or host.site_code,
    )


def host_result(run: HostRun[Host, HostResult]) -> HostResult:
    """One HostResult with the run's timings: the job's record when the host was judged, else ERROR with the
    error category."""
    timing: dict[str, Any] = dict(started=run.started, finished=run.finished, seconds=round(run.seconds, 3),
                                  requests=run.requests, attempts=run.attempts)
    if run.value is not None:
        return replace(run.value, **timing)
    host, error = run.host, run.error
    return HostResult(
        host=host.name, address=host.address, port=host.port, scheme=host.scheme, tags=tuple(host.tags),
        verdict=Verdict.ERROR,
        reasons=(error.message if error is not None else "no result",),
        site_code=host.site_code,
        error=HostFailure(error.category, error.message, error.hint or category_hint(error.category.value))
        if error is not None else None,
        **timing,
    )


def clean_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The run's options as recorded in results.json: JSON-friendly, secrets dropped."""
    cleaned: dict[str, Any] = {}
    for name, value in options.items():
        if name.lower() in SECRET_OPTION_NAMES or name.startswith("_") or callable(value):
            continue
        if value is None or isinstance(value, bool | int | float | str):
            cleaned[name] = value
        elif isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
            cleaned[name] = list(value)  # --hosts/--tag/--site as the JSON list they are
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
        # absolute: the history tells two inventories of one name apart by it (and a rescan finds it again)
        inventory_path=os.path.abspath(inventory_path) if inventory_path else None,
        inventory_sha256=inventory_sha256,
        options=clean_options(options),
        insecure=insecure,
        interrupted=interrupted,
    )


def load_earlier_run(path: Path, advisory_id: str) -> RunResults:
    """The results.json `--rescan-failed` names; one-line UsageError when unreadable or of another advisory."""
    try:
        earlier = load_results(path)
    except ResultsFileError as exc:
        raise UsageError(f"--rescan-failed: {exc}") from None
    if earlier.meta.advisory_id and earlier.meta.advisory_id != advisory_id:
        raise UsageError(f"--rescan-failed: {path} is an audit of {earlier.meta.advisory_id}, not {advisory_id}")
    return earlier


def rescan_waivers(earlier: RunResults, path: Path) -> tuple[Waiver, ...]:
    """`--rescan-failed` without `--waivers`: the waivers file the earlier run read, read and validated again now.

    Never the waivers the results file remembers: a waiver withdrawn from the file since must not waive, and a
    results file is not where an owner accepts a risk. The file gone is a UsageError (exit 64), before any host.
    """
    recorded = earlier.meta.waiver_file
    if recorded is None:
        return ()
    found = recorded_file(recorded)
    if found is None:
        raise UsageError(f"--rescan-failed: {path} was judged with the waivers file {shown_path(recorded)}, which is "
                         "not there any more; give --waivers FILE (an empty file for none)")
    return load_waivers(found)


MAX_USERNAME = 1024  # the inventory's bound for a user name


@dataclass(frozen=True, slots=True)
class RecordedAccount:
    """The account an earlier run logged on with, as its results file records it (never a password)."""

    username: str | None
    auth: str
    password_env: str


def recorded_account(earlier: RunResults, path: Path) -> RecordedAccount:
    """The earlier run's user name, auth method and password variable for `--rescan-failed` to reuse, each checked as
    the command line checks it; anything else is a UsageError naming the file (exit 64)."""
    options = earlier.meta.options

    def refuse(key: str, rule: str) -> UsageError:
        return UsageError(f"--rescan-failed: {path}: meta.options.{key}: {rule}; give --{key.replace('_', '-')}")

    username, auth = options.get("username"), options.get("auth", "ntlm")
    password_env = options.get("password_env", DEFAULT_PASSWORD_ENV)
    if username is not None and (not isinstance(username, str) or not 0 < len(username) <= MAX_USERNAME
                                 or not username.isprintable()):
        raise refuse("username", f"expected 1 to {MAX_USERNAME} printable characters")
    if auth not in AUTH_METHODS:
        raise refuse("auth", f"expected one of {', '.join(AUTH_METHODS)}")
    if not is_env_name(password_env):
        raise refuse("password_env", ENV_NAME_RULE)
    return RecordedAccount(username=username, auth=str(auth), password_env=str(password_env))


def hosts_to_rescan(earlier: RunResults, hosts: Sequence[Host]) -> tuple[Host, ...]:
    """The inventory's hosts that were ERROR or UNKNOWN in `earlier` (matched as `cmaudit report` matches
    runs: by name and port, and by address too for a name held twice), in inventory order."""
    shared = shared_names(result_names(earlier.hosts), [(h.name, h.port) for h in hosts])
    failed = {host_key(h, shared) for h in earlier.hosts if h.verdict.is_incomplete}
    return tuple(h for h in hosts if match_key(h.name, h.address, h.port, shared) in failed)


def merge_rescan(earlier: RunResults, rescanned: RunResults, path: Path) -> RunResults:
    """The earlier run with the hosts scanned again replaced by their new results (the newest result per
    host wins, as `cmaudit report` merges), in the earlier run's order (waivers are the caller's to apply)."""
    shared = shared_names(result_names(earlier.hosts), result_names(rescanned.hosts))
    fresh = {host_key(h, shared): h for h in rescanned.hosts}
    hosts = [fresh.pop(host_key(h, shared), h) for h in earlier.hosts]
    kept = len(earlier.hosts) - (len(rescanned.hosts) - len(fresh))
    hosts.extend(fresh.values())
    m = earlier.meta
    meta = replace(rescanned.meta, partial=m.partial,
                   selection=(*rescanned.meta.selection, f"--rescan-failed {path}"),
                   merged_from=(f"{path}: run {m.run_id}, {m.finished or m.started}, "
                                f"{kept} of {len(earlier.hosts)} hosts kept",))
    return RunResults(meta=meta, hosts=tuple(hosts))
