"""Site-server profiles as an auditor meets them: registry, logs, Windows flavour, verdict, fleet mix."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime

import pytest

from simulator.profiles import PROFILE_NAMES, VERDICTS, expected_verdict, load_machine, load_profile, mixed_fleet
from simulator.vm import VirtualMachine

REQUIRED = {
    "x64-2003", "localized-log", "crashed-log", "unknown-build", "secondary-site", "pre-june-success",
    "stale-catalog", "hotfix-waiting",
    "rtm-affected", "sp1-affected", "sp1-recovered", "sp1-healthy", "sp2", "no-legacy-sync", "x64-wow6432",
    "custom-path", "rolled-log", "utf16-log", "missing-log", "sms2003", "no-configmgr", "sp1-other-failure",
}
NOT_FOUND = b"ERROR: The system was unable to find the specified registry key or value.\r\n"
NOT_FOUND_3 = b"Error:  The system was unable to find the specified registry key or value\r\n"  # reg.exe 3.0
KNOWN_BUILDS = {"4.00.5931.0000": "RTM", "4.00.6221.1000": "SP1", "4.00.6487.2000": "SP2"}


def sms_root(machine: VirtualMachine) -> str:
    """Where an auditor finds the SMS keys: Wow6432Node on 64-bit Windows."""
    return r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS" if machine.is_64bit else r"HKLM\SOFTWARE\Microsoft\SMS"


def reg_value(machine: VirtualMachine, key: str, name: str) -> str | None:
    """A value read back through `reg query /v`, parsed from whichever reg.exe format the host prints."""
    result = machine.run(f'reg query "{key}" /v "{name}"')
    if result.exit_code:
        assert (result.stdout, result.stderr) == (b"", NOT_FOUND_3 if machine.windows.reg_exe_3 else NOT_FOUND)
        return None
    line = result.stdout.decode("cp437").split("\r\n")[-3]
    separator = "\t" if machine.windows.reg_exe_3 else "    "
    assert line.startswith("    ")
    return line[4:].split(separator, 2)[2]


def test_required_profiles_exist() -> None:
    """Every kind of site server the issue lists has a profile."""
    assert REQUIRED <= set(PROFILE_NAMES)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_states_a_verdict(name: str) -> None:
    """Each profile names the verdict cmaudit should reach, and all six verdicts are covered."""
    assert expected_verdict(name) in VERDICTS
    assert {expected_verdict(n) for n in PROFILE_NAMES} == set(VERDICTS)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_reg_query_output_matches_the_profiles_windows(name: str) -> None:
    """`reg query` prints the reg.exe 3.0 banner and tabs on 2003, blank line and four spaces on 2008+."""
    machine = load_machine(name, "SITESRV01")
    result = machine.run(r'reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v ProductName')
    assert result.exit_code == 0
    if machine.windows_version.startswith("2003"):
        assert result.stdout.startswith(b"\r\n! REG.EXE VERSION 3.0\r\n\r\nHKEY_LOCAL_MACHINE\\")
        assert b"    ProductName\tREG_SZ\tMicrosoft Windows Server 2003" in result.stdout
    else:
        assert result.stdout.startswith(b"\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\")
        assert b"    ProductName    REG_SZ    Windows Server" in result.stdout
    assert machine.run("hostname").stdout == b"SITESRV01\r\n"


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_registry_and_log_tell_the_profiles_story(name: str) -> None:
    """Reading the keys and log the way an auditor would leads to the profile's expected verdict."""
    machine = load_machine(name, "SITESRV01")
    root = sms_root(machine)
    setup = machine.run(f'reg query "{root}\\Setup"')
    if setup.exit_code:
        assert setup.stderr == (NOT_FOUND_3 if machine.windows.reg_exe_3 else NOT_FOUND)
        assert expected_verdict(name) == "NOT_APPLICABLE"
        return
    build = reg_value(machine, f"{root}\\Setup", "Full Version")
    secondary = (reg_value(machine, f"{root}\\Setup", "Type") == "0x2"
                 and machine.run(f'reg query "{root}\\SQL Server"').exit_code == 1)
    trace = reg_value(machine, f"{root}\\Tracing\\SMS_WSUS_SYNC_MANAGER", "TraceFilename")
    texts: list[str] = []
    if trace is not None:
        older = trace[:-1] + "_"
        for path in (older, trace):
            result = machine.run(f'type "{path}"', codepage=65001)
            if result.exit_code == 0:
                texts.append(result.stdout.decode("latin-1"))  # tokens are ASCII; the log may be ANSI
            else:
                assert result.stderr == b"The system cannot find the file specified.\r\n"
    catalog = re.findall(r"^(\d\d)/(\d\d)/(\d{4}) .* wsusscn2\.cab\r?$", machine.run(
        r'dir "C:\Program Files\Microsoft Updates Inventory Tool\PkgSource"').stdout.decode("latin-1"), re.MULTILINE)
    old_catalog = any((y, m, d) < ("2008", "06", "10") for m, d, y in catalog)
    assert oracle(build, texts, secondary, old_catalog) == expected_verdict(name)


def oracle(build: str | None, texts: list[str], secondary: bool = False, old_catalog: bool = False) -> str:
    """A deliberately small re-statement of the verdict rules, to prove each profile's data is coherent."""
    if secondary or (build is not None and not build.startswith("4.00.")):
        return "NOT_APPLICABLE"
    fixed = build is not None and build >= "4.00.6487"
    outcomes: list[tuple[bool, bool, str]] = []  # (succeeded, 954474 signature, GMTDATE's year-month-day)
    signature = None
    for line in "".join(texts).splitlines():
        if "ID=6709 " in line:
            signature = False
        elif signature is not None and all(t in line for t in ("0x80004005", "DeploymentAction", "CreateUpdateNode")):
            signature = True
        elif signature is not None and re.search(r"ID=671[01] ", line):
            day = datetime.strptime(re.search(r"GMTDATE=\w{3} (\w{3} \d\d) [\d:.]+ (\d{4})", line).expand(r"\1 \2"),
                                    "%b %d %Y").strftime("%Y-%m-%d")
            outcomes.append(("ID=6710 " in line, signature, day))
            signature = None
    if outcomes:
        ok, sig, day = outcomes[-1]
        if ok and (day < "2008-06-10" or old_catalog) and not fixed:
            return "AT_RISK"  # a success before the June 2008 catalog, or on an older one, proves nothing
        if ok:
            return "RECOVERED" if any(s for _, s, _ in outcomes) else "NOT_AFFECTED"
        if sig:
            return "AFFECTED"
        return "NOT_AFFECTED" if fixed else "AT_RISK"
    if fixed or (build is not None and texts):
        return "NOT_AFFECTED"
    return "AT_RISK" if build is not None else "UNKNOWN"


@pytest.mark.parametrize("name", ["x64-wow6432", "sp2", "x64-2003"])
def test_64_bit_hosts_keep_configmgr_keys_under_wow6432node(name: str) -> None:
    """On 64-bit Windows the SMS keys exist only under Wow6432Node; 2008's reg.exe also finds them with /reg:32."""
    machine = load_machine(name, "X64SRV")
    assert machine.is_64bit
    assert machine.run(r"reg query HKLM\SOFTWARE\Microsoft\SMS\Setup").exit_code == 1
    assert machine.run(r"reg query HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS\Setup").exit_code == 0
    view32 = machine.run(r'reg query HKLM\SOFTWARE\Microsoft\SMS\Setup /v "Full Version" /reg:32')
    if machine.windows.reg_exe_3:  # reg.exe 3.0 has no /reg switch
        assert (view32.stderr, view32.exit_code) == (b'ERROR: Invalid syntax.\r\nType "REG QUERY /?" for usage.\r\n', 1)
    else:
        assert b"4.00." in view32.stdout


def test_custom_path_log_is_found_only_through_traceFilename() -> None:
    """The custom-path host has no log under its installation directory; TraceFilename names the real one."""
    machine = load_machine("custom-path", "SFOSMS01")
    install = reg_value(machine, r"HKLM\SOFTWARE\Microsoft\SMS\Setup", "Installation Directory")
    trace = reg_value(machine, r"HKLM\SOFTWARE\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER", "TraceFilename")
    assert install == r"D:\SCCM" and trace == r"E:\ConfigMgrLogs\wsyncmgr.log"
    assert machine.run(rf'type "{install}\Logs\wsyncmgr.log"').exit_code == 1
    assert b"CreateUpdateNode" in machine.run(f'type "{trace}"').stdout


def test_rolled_log_keeps_the_failure_in_the_older_file() -> None:
    """wsyncmgr.lo_ holds the older half with the 954474 failure; wsyncmgr.log continues after it."""
    machine = load_machine("rolled-log", "PDXSMS01")
    logs = r"C:\Program Files\Microsoft Configuration Manager\Logs"
    older = machine.files[rf"{logs}\wsyncmgr.lo_"]
    newer = machine.files[rf"{logs}\wsyncmgr.log"]
    assert b"CreateUpdateNode" in older and b"CreateUpdateNode" not in newer
    assert b"ID=6709" not in newer
    stamp = re.compile(rb"<(\d\d)-(\d\d)-(\d{4}) (\d\d:\d\d:\d\d\.\d{3})")
    last_old = stamp.findall(older)[-1]
    first_new = stamp.findall(newer)[0]
    assert (last_old[2], last_old[0], last_old[1], last_old[3]) < (first_new[2], first_new[0], first_new[1],
                                                                    first_new[3])
    max_size = reg_value(machine, r"HKLM\SOFTWARE\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER", "MaxFileSize")
    assert max_size is not None and len(older) <= int(max_size, 16) * 1.1


@pytest.mark.parametrize(
    ("codepage", "codec"),
    [pytest.param(65001, "utf-8", id="utf8"), pytest.param(437, "cp437", id="oem"),
     pytest.param(1252, "cp1252", id="ansi")],
)
def test_utf16_log_is_typed_in_the_shell_code_page(codepage: int, codec: str) -> None:
    """The UTF-16LE log has a BOM on disk and comes out of `type` converted to the requested code page."""
    machine = load_machine("utf16-log", "SINSMS01")
    path = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"
    raw = machine.files[path]
    assert raw.startswith(b"\xff\xfe")
    result = machine.run(f'type "{path}"', codepage=codepage)
    assert result.stdout == raw[2:].decode("utf-16-le").encode(codec, "replace")
    assert b"Error 0x80004005, unexpected DeploymentAction for update 1293995" in result.stdout


def test_missing_log_profile_has_tracing_but_no_file() -> None:
    """The missing-log host names a log in the registry that `type` and `dir` cannot find."""
    machine = load_machine("missing-log", "ATLSMS01")
    trace = reg_value(machine, r"HKLM\SOFTWARE\Microsoft\SMS\Tracing\SMS_WSUS_SYNC_MANAGER", "TraceFilename")
    result = machine.run(f'type "{trace}"')
    assert (result.stdout, result.stderr, result.exit_code) == (
        b"", b"The system cannot find the file specified.\r\n", 1)
    assert machine.run(f'dir "{trace}"').stderr == b"File Not Found\r\n"


def test_localized_log_keeps_tokens_but_not_english_prose() -> None:
    """The Norwegian server's log has the STATMSG ids and the 954474 tokens, but none of the English sentences."""
    machine = load_machine("localized-log", "OSLSMS01")
    data = machine.files[r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"]
    assert b"Performing legacy sync" not in data and b"Security updates summary" not in data
    assert b"ID=6709 " in data and b"ID=6711 " in data
    assert b"Feil 0x80004005, uventet DeploymentAction for oppdatering 1293995. Returnert fra CreateUpdateNode" in data
    assert "Utf\u00f8rer synkronisering av eldre enheter".encode("cp1252") in data


def test_crashed_log_ends_in_a_half_line_and_nuls() -> None:
    """The crashed host's log stops mid-line and is padded with NULs, as after a power loss."""
    machine = load_machine("crashed-log", "DENSMS01")
    data = machine.files[r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"]
    body = data.rstrip(b"\x00")
    assert len(data) - len(body) == 8192
    assert not body.endswith(b"\r\n") and b"$$<SMS_WSUS_SYNC_MANAGER>" in body.rsplit(b"\r\n", 1)[0][-200:]


def test_ansi_log_is_typed_byte_for_byte() -> None:
    """`type` of an 8-bit log returns the file's exact bytes."""
    machine = load_machine("sp1-affected", "CENSMS01")
    path = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"
    assert machine.run(f'type "{path}"', codepage=65001).stdout == machine.files[path]


def test_log_size_can_be_raised_to_several_megabytes() -> None:
    """`log_size` makes the generated log as large as real multi-MB logs."""
    machine = load_machine("sp1-healthy", "FRASMS01", log_size=3_000_000)
    sizes = [len(data) for path, data in machine.files.items() if path.endswith("wsyncmgr.log")]
    assert sizes and sizes[0] > 2_000_000


def test_mixed_fleet_is_deterministic_weighted_and_complete() -> None:
    """The fleet mix is the same every time, holds every weighted profile once large enough (a profile of weight 0
    only where named), favours common sites."""
    assert mixed_fleet(200) == mixed_fleet(200)
    assert len(mixed_fleet(37)) == 37
    named_only = {n for n in PROFILE_NAMES if load_profile(n).weight == 0}
    assert named_only == {"pre-june-success", "stale-catalog", "hotfix-waiting", "secondary-site"}
    assert set(mixed_fleet(len(PROFILE_NAMES))) == set(PROFILE_NAMES) - named_only
    small = mixed_fleet(5)
    assert len(set(small)) == 5
    counts = Counter(mixed_fleet(1000))
    assert counts.most_common(1)[0][0] == "sp1-affected"
    assert counts["sp1-affected"] > 5 * counts["utf16-log"]
    assert mixed_fleet(0) == []


def test_a_thousand_hosts_load_quickly_and_share_logs() -> None:
    """Loading a 1000-host fleet takes seconds, not minutes: hosts of one profile share one log in memory."""
    started = time.perf_counter()
    fleet = mixed_fleet(1000)
    machines = [load_machine(name, f"HOST{i:04d}") for i, name in enumerate(fleet)]
    assert time.perf_counter() - started < 20
    first, second = [m for m, name in zip(machines, fleet, strict=True) if name == "sp1-affected"][:2]
    path = r"C:\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.log"
    assert first.files[path] is second.files[path]
    assert first.run("hostname").stdout != second.run("hostname").stdout


def test_unknown_profile_is_a_clear_error() -> None:
    """Asking for a profile that does not exist names the known ones."""
    with pytest.raises(ValueError, match="unknown profile 'nope'.*sp1-affected"):
        load_machine("nope", "X")
