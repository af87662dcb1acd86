"""bench/RESULTS.md from the benchmarks' JSON summaries: figures, the machine, and what limits each figure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def _fleet(r: dict[str, Any]) -> list[str]:
    o, c = r["options"], r["cmaudit"]
    out = [f"Options: {o['hosts']} hosts, concurrency {o['concurrency']}, {o['auth']}, {o['fleet']} fleet; simulator "
           "in its own process; limit = ceil(N/C) x HTTP requests per host x latency. Client CPU = the scanning "
           "process and its worker processes (user + system). Pinning: with --workers 1 the scanner and the "
           "simulator are kept on separate cores (os.sched_setaffinity); where the workers need every core "
           "(this machine has " + str(r["machine"].get("cores_usable")) + ") both share them.", "",
           "| latency ms | --workers | wall s | limit s | wall / limit | client CPU ms/host | simulator CPU s "
           "| HTTP requests/host | WS-Man requests/host | peak MB per worker | errors | pinning (scanner; simulator) |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for row in r.get("runs", []):
        peaks = ", ".join(str(x) for x in row["worker_peak_mb"]) or "(in process)"
        out.append(f"| {row['latency_ms']:g} | {row['workers']} | {row['wall_s']:.2f} | {row['limit_s']:.2f} | "
                   f"**{row['wall_over_limit']}** | {row['client_cpu_ms_per_host']} | {row['simulator_cpu_s']:.1f} | "
                   f"{row['http_requests_per_host']} | {row['wsman_requests_per_host']} | {peaks} | {row['errors']} | "
                   f"{row['scanner_pinned']}; {row['simulator_pinned']} |")
    if "peer" in r:
        p = r["peer"]
        out += ["", f"Peer (pywinrm + ThreadPoolExecutor({o['peer_threads']}), {o['latency_ms']:g} ms, every core): "
                    f"wall {p['wall_s']:.2f} s, {p['http_requests_per_host']:.1f} HTTP requests/host, client CPU "
                    f"{p['scanner_cpu_s']:.1f} s, errors {p['errors']}. **cmaudit (--workers 1) / peer wall = "
                    f"{r.get('cmaudit_over_peer')}** (target <= 0.5)."]
        best = min((row for row in r.get("runs", []) if row["latency_ms"] == o["latency_ms"]),
                   key=lambda row: row["wall_s"], default=None)
        if best is not None:
            out.append(f"Best cmaudit run at {o['latency_ms']:g} ms (--workers {best['workers']}) / peer wall = "
                       f"**{round(best['wall_s'] / p['wall_s'], 3)}**.")
    proj = r.get("projection") or {}
    if proj:
        out += ["", f"- **Projection for 4+ cores** (each worker on a core of its own, the simulator on cores of "
                    f"its own): wall / limit ~ max(limit, client CPU of the --workers 1 run / workers) x the "
                    f"overhead the one-process run showed over its own floor ({r.get('projection_overhead')}) / "
                    f"limit = **{proj.get('4')} with 4 workers, {proj.get('8')} with 8** (target <= 1.3 at 1,000 "
                    f"hosts, 20 ms, C=64). The simulator needs {c['simulator_cpu_s']:.1f} s of CPU for the fleet, "
                    f"so it must be spread over >= {r.get('simulator_cores_needed')} cores to stay under the limit "
                    "(one Python process is one core)."]
    load = r.get("load_average", {})
    out.append(f"- Load average (1, 5, 15 min) before / after: {load.get('before')} / {load.get('after')} "
               "(other engineers' tests share this machine: wall times are noisy, CPU times much less so).")
    return out


def _memory(r: dict[str, Any]) -> list[str]:
    o = r["options"]
    out = [f"Options: {o['log_mb']:g} MB wsyncmgr.log per host (hosts without ConfigMgr have none); each scan in "
           "a fresh child process; peak = the child's VmHWM (its own high-water mark).", "",
           "| hosts | concurrency | peak RSS MB | baseline MB | wall s | log MB collected | errors | environment |",
           "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in r["rows"]:
        cells = [row["hosts"], row["concurrency"]] + [row.get(k, "-") for k in (
            "peak_mb", "baseline_mb", "wall_s", "log_mb_collected", "errors")] + [row.get("env") or "default"]
        out.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    out += ["", f"- **Peak RSS {r['peak_mb']} MB** for {o['hosts']} hosts at concurrency {o['concurrency']}.",
            f"- 4x the hosts: peak x{r['hosts_x4_peak_ratio']}; 4x the concurrency: peak x"
            f"{r['concurrency_x4_peak_ratio']}. "
            + ("The peak follows the concurrency, not the host count: logs are streamed per host, judged, "
               "written gzip to disk and dropped."
               if (r["hosts_x4_peak_ratio"] or 9) <= 1.15 < (r["concurrency_x4_peak_ratio"] or 0) else
               "The peak is not flat in the host count here (see the pinned-allocator row for why)."),
            f"- With glibc's mmap threshold pinned (MALLOC_MMAP_THRESHOLD_=131072) the same scan peaks at "
            f"{r.get('peak_mb_pinned_malloc')} MB: the difference is heap fragmentation, not data kept (glibc "
            "raises its mmap threshold after a multi-MB block is freed, so later log buffers land in the "
            "per-thread arenas). cmaudit could pin it itself at start-up (mallopt) on glibc."]
    return out


def _parser(r: dict[str, Any]) -> list[str]:
    out = ["| case | MB | ms | MB/s |", "|---|---:|---:|---:|"]
    out += [f"| {row['name']} | {row['mb']} | {row['ms']} | {row['mb_per_s']} |" for row in r["rows"]]
    out += ["", f"- grep -c / engine = {r['grep_over_engine']} (target: within {r['target']}x: "
                f"{'met' if r['target_met'] else 'missed'}). grep runs as a subprocess, so its figure includes "
                "process start-up; the engine's includes reading the file."]
    if "long_lines_grep_over_engine" in r:
        out.append(f"- 32 MB of long lines without timestamps: grep -c / engine = {r['long_lines_grep_over_engine']} "
                   f"(target: within {r['target']}x: {'met' if r['long_lines_target_met'] else 'missed'}); "
                   "judging it used to be quadratic (79 s for 33.6 MB).")
    return out


def _reports(r: dict[str, Any]) -> list[str]:
    out = ["| format | hosts | seconds | MB |", "|---|---:|---:|---:|"]
    out += [f"| {row['name']} | {row['hosts']} | {row['seconds']} | {row['mb']} |" for row in r["rows"]]
    return out


def _cpu(r: dict[str, Any]) -> list[str]:
    o, v = r["options"], r["variants"]
    out = [f"Options: {o['hosts']} hosts scanned one at a time (concurrency 1), {o['auth']}, {o['fleet']} fleet; "
           f"each scan in a fresh child process, CPU = that process's user + system time (every thread) for the "
           f"scan, after a 5-host warm-up; median of {o['repeat']} interleaved runs. Simulator: "
           f"{r.get('simulator_pinned')}; scanner: {v.get('after', {}).get('scanner_pinned')} "
           "(os.sched_setaffinity). \"before\" is commit "
           f"`{str(o['baseline'])[:10]}` (main before issue 15), extracted with git archive.", "",
           "| scanner | client CPU ms/host | runs | M instructions/host (callgrind) | HTTP requests/host "
           "| WS-Man requests/host | errors |",
           "|---|---:|---|---:|---:|---:|---:|"]
    for name in ("before", "after", "after, requests transport"):
        row = v.get(name)
        if row is None or "cpu_ms_per_host" not in row:
            out.append(f"| {name} | (not measured: {row.get('failed') if row else 'no baseline'}) | | | | | |")
            continue
        instructions = row.get("minstr_per_host", row.get("instructions_failed", "not counted"))
        out.append(f"| {name} | {row['cpu_ms_per_host']} | {', '.join(str(x) for x in row['cpu_ms_per_host_runs'])}"
                   f" | {instructions} | {row['http_requests_per_host']} | {row['wsman_requests_per_host']} "
                   f"| {row['errors']} |")
    if "after_over_before" in r:
        out += ["", f"- **after / before = {r['after_over_before']}** (target <= 0.5: "
                    f"{'met' if r['after_over_before'] <= 0.5 else 'missed'}). Verdicts that differ between before "
                    f"and after: {r.get('verdicts_changed')} of {o['hosts']} (main's own fixes since the baseline, "
                    "e.g. REG_EXPAND_SZ install paths now expanded, judge some hosts differently)."]
        if "instructions_after_over_before" in r:
            out.append(f"- Instructions after / before = **{r['instructions_after_over_before']}** (valgrind's "
                       f"callgrind, {o.get('cg_hosts')} hosts, counting on for the measured scan only: a count a busy "
                       "machine does not move, where CPU time moves by 10-20% between runs here).")
    own = r.get("own_transport_over_requests", r.get("lean_over_requests"))  # the second: its name before issue 19
    if own is not None:
        same = r.get("own_transport_same_verdicts", r.get("lean_same_verdicts"))
        out.append(f"- cmaudit's own HTTP transport alone (same scanner, pypsrp's requests transport instead): "
                   f"**{own}** of its CPU, one HTTP request fewer per host; identical verdicts "
                   f"for every host: {same}. The rest of the gain: the NT hash once per "
                   "password; the base64 of Receive replies kept out of the XML parser and decoded with pybase64; "
                   "envelopes written by scanner/winrm/envelope.py; evidence gzip through ISA-L; a log decoded to "
                   "text only when its command failed; results.json through json's C encoder.")
    load = r.get("load_average", {})
    out.append(f"- Load average (1, 5, 15 min) before / after: {load.get('before')} / {load.get('after')} "
               f"on {r['machine'].get('nproc')} cores (other engineers' tests share this machine).")
    out += ["", "HTTP client CPU per keep-alive POST (2 KB request, 150 KB reply, loopback):", "",
            "| client | CPU ms/POST (median) | min |", "|---|---:|---:|"]
    out += [f"| {row['name']} | {row['cpu_ms_per_post']} | {row.get('cpu_ms_per_post_min', '')} |"
            for row in r.get("http_clients", [])]
    out += ["", "gzip of a 330 KB wsyncmgr.log (the evidence kept per host):", "",
            "| library | level | CPU ms | ratio | KB |", "|---|---:|---:|---:|---:|"]
    out += [f"| {row.get('library', 'zlib')} | {row['level']} | {row['cpu_ms']} | {row['ratio']} | {row['kb']} |"
            for row in r.get("gzip", [])]
    return out + ["", *COMPONENT_NOTES]


# Figures measured by hand (callgrind, timeit, -X importtime) while the pieces were built; they explain choices made
# in scanner/ and simulator/ and live here rather than in the modules' docstrings.
COMPONENT_NOTES = [
    "Component figures behind the scanner's choices (measured once, by hand, on this machine):",
    "",
    "- HTTP client of cmaudit's own transport (keep-alive POSTs with a 150 KB reply, instructions per POST under "
    "callgrind): http.client 358k (nearly all of them email.parser's header parsing and HTTPMessage look-ups); h11 "
    "(pure Python) 1,159k; httptools 334k, of which 307k are copies of the body (llhttp hands it over in pieces, "
    "which are joined) and 27k the parsing; hand-written framing 252k (32k of Python, Content-Length replies "
    "only). httptools was chosen: llhttp parses what a possibly hostile server sends, strictly.",
    "- Envelope writing (scanner/winrm/envelope.py): ElementTree's `tostring` takes ~55 us for a Receive envelope "
    "(~8.6 envelopes per host), ~595,000 instructions; `serialize` ~150,000 (3.5-4x less CPU time).",
    "- Receive replies (scanner/winrm/winrs.py): the standard library's base64 decode of a 330 KB wsyncmgr.log's "
    "stream text takes ~1 ms of CPU, the largest single cost of a host after the network, hence pybase64 and the "
    "stream text lifted out of the XML parser's way.",
    "- NTLM (scanner/winrm/ntlm.py): pyspnego derives the LM hash with pure-Python DES, about 1.3 ms of CPU per "
    "host when it is given the password; the scan hands it the hashes, computed once per password.",
    "- Log search (scanner/advisory/logs/buffer.py): `bytes.find` of an 8-byte needle absent from 32 MB of 16 KB "
    "lines takes ~10 ms (timeit), of one byte (memchr) ~0.5 ms, hence the search for a needle's rarest byte first.",
    "- Start-up (simulator/__init__.py): importing the whole simulator takes 120-160 ms (`python -X importtime`), "
    "its fault grammar alone (all of it that `cmaudit --help` loads) ~11 ms.",
]


def _logon_gate(r: dict[str, Any]) -> list[str]:
    o = r["options"]
    out = [f"Options: {o['hosts']} hosts, concurrency {o['concurrency']}, {o['auth']}, {o['latency_ms']:g} ms per "
           f"request; the right password, the gate off (--max-auth-failures 0, every host at once, as before the "
           f"gate) and on ({o.get('max_auth_failures', 5)}), interleaved, fastest of {o['repeat']}. One logon = "
           f"{r['one_logon_s']:g} s (NTLM's requests before the first WS-Man reply x latency).", "",
           "| --workers | gate off: wall s | gate on: wall s | cost of the gate s | other hosts held s | errors |",
           "|---:|---:|---:|---:|---:|---:|"]
    for row in r.get("runs", []):
        out.append(f"| {row['workers']} | {row['gate_off_wall_s']:.2f} | {row['gate_on_wall_s']:.2f} | "
                   f"**{row['cost_s']:+.2f}** | {row.get('held_s', 0):.2f} | {row['errors']} |")
    wrong = r.get("wrong_password", {})
    if wrong:
        out += ["", "A wrong password, counted by the servers (--workers 1): " + "; ".join(
            f"gate {gate} (--max-auth-failures {w['max_auth_failures']}): {w['failed_logons_on_servers']} failed "
            f"logons on {w['hosts_that_saw_it']} hosts" for gate, w in wrong.items()) + "."]
    hung = r.get("hung_first") or {}
    if hung:
        out += ["", f"The patience rule's cost: {hung['hosts']} hosts, the first {hung['hung']} hung (requests read, "
                    f"never answered), the right password, --timeout {hung['timeout_s']:g}, no retries: wall "
                    f"{hung['off']['wall_s']:.1f} s with the gate off, **{hung['on']['wall_s']:.1f} s** on "
                    f"(--max-auth-failures {hung['on']['max_auth_failures']}): the hung hosts hold the account's "
                    "places until their deadline, since cmaudit cannot tell when their password will leave."]
    return out


_SECTIONS = {"cpu": ("0. Client CPU per host, before and after", _cpu),
             "fleet": ("1. Fleet throughput against the latency limit, and 2. against a peer", _fleet),
             "memory": ("3. Memory", _memory), "parser": ("4. Parser", _parser),
             "reports": ("5. Reports (CSV + HTML + JSON for a large fleet)", _reports),
             "logon_gate": ("6. Logon gate: what it costs a right password, what it saves a wrong one", _logon_gate)}


def render(results: Sequence[dict[str, Any]], argv: Sequence[str], when: datetime | None = None) -> str:
    """The Markdown page: date, machine, command, then one section per benchmark (raw JSON at the end)."""
    machine: dict[str, Any] = next((r["machine"] for r in results if "machine" in r), {})
    lines = ["# Benchmark results", "",
             f"Measured {when or datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{' '.join(['python -m bench', *argv])}`.",
             f"Machine: {machine.get('nproc')} cores ({machine.get('cpu')}), Python {machine.get('python')}, "
             f"{machine.get('platform')}.", ""]
    order = {name: i for i, name in enumerate(_SECTIONS)}
    for r in sorted(results, key=lambda r: order.get(r.get("benchmark", ""), 99)):
        title, fn = _SECTIONS.get(r.get("benchmark", ""), (str(r.get("benchmark")), None))
        lines += [f"## {title}", ""]
        if fn is not None:
            try:
                lines += fn(r)
            except (KeyError, TypeError, ValueError) as exc:
                lines.append(f"(could not render: {type(exc).__name__}: {exc})")
        lines.append("")
    lines += ["## Raw figures", "", "```json"] + [json.dumps(r, sort_keys=True) for r in results] + ["```", ""]
    return "\n".join(lines)
