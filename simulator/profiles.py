"""Site-server profiles: TOML data files (`simulator/profiles/*.toml`) turned into virtual machines.

A profile names its Windows release and architecture, the registry values ConfigMgr (or SMS) left,
the wsyncmgr.log scenario to generate, and the verdict cmaudit should reach for it, so that scanner
tests can assert without re-deriving the advisory logic. Parsed profiles and generated logs are cached
per process: a fleet of a thousand hosts costs a handful of logs in memory.

A profile file holds:
    description, expected_verdict (a Verdict name), weight (share in mixed_fleet; 0: named only),
    windows ("2003" | "2003 R2" | "2008" | "2008 R2"), arch ("x86" | "x64"), timezone_bias (minutes);
    era (a simulator.eras name: how its WinRM service behaves; default "modern"), listener ("https" for a
    host whose only WinRM listener is HTTPS, whatever the fleet's transport), deny (registry keys and
    files whose ACL refuses the audit account);
    [registry.'HKLM\\...'] tables of values: a string is REG_SZ, an integer REG_DWORD, a list
    REG_MULTI_SZ, `{ type = "REG_...", data = ... }` anything (REG_BINARY as hex); "{hostname}" in a
    string becomes the host's name;
    [log] (absent: no log file): path, scenario (loggen.Scenario), seed, encoding (cp1252, utf-8,
    utf-16-le, utf-16-be; UTF-16 gets a BOM), rolled (older part becomes .lo_), crashed (half a line, then
    NULs), language, install_dir, itmu_dir, and optionally start, days, sync_every_days,
    quiet_tail_days, target_bytes;
    locale ("en-US", "nb-NO", "de-DE": the shell account's date format, which `dir` uses; default en-US);
    site_database (the SMS\\SQL Server key; default: present when Setup\\Type is 1, a primary in the SMS 2.0
    coding); [itmu] (default: installed under [log] itmu_dir, shared as PackageSrc, when the log's scenario
    has legacy syncs): installed, share, catalog_written (local time of wsusscn2.cab; default 2008-06-11 03:12,
    or the log's start when later); [hotfix]: installed (a local time: KB 951376 registered under Updates and
    Uninstall, updatewuscatalog.exe replaced then), program_version (an invented version: none is public).
The log's STATMSG `SYS=` is `<site code>SMS01` for every host of a profile (so hosts share one log).
Site files and registry keys besides the logs: simulator/sitefiles.py.
"""

from __future__ import annotations

import ntpath
import random
import tomllib
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from simulator.eras import ERAS, era
from simulator.filesystem import FileSystem
from simulator.loggen import LANGUAGES, LogSpec, Scenario, generate_cached
from simulator.registry import Registry, RegType
from simulator.sitefiles import (
    LOCALES,
    add_hotfix,
    add_international,
    add_itmu,
    add_program,
    add_shares,
    add_site_database,
    add_windows_hotfixes,
)
from simulator.vm import VirtualMachine
from simulator.windows import WINDOWS_VERSIONS

VERDICTS = ("AFFECTED", "AT_RISK", "RECOVERED", "NOT_AFFECTED", "NOT_APPLICABLE", "UNKNOWN")
ENCODINGS = ("cp1252", "utf-8", "utf-16-le", "utf-16-be")
_BOMS = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-8": b""}


class ProfileError(ValueError):
    """A profile file that does not say what a machine needs; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class LogPlan:
    path: str
    spec: LogSpec
    encoding: str
    rolled: bool
    crashed: bool = False  # the server died mid-write: a half line, then NUL padding


@dataclass(frozen=True, slots=True)
class ItmuPlan:
    pkgsource: str
    share: bool  # registered as the PackageSrc share
    catalog_written: datetime  # wsusscn2.cab's last write, local time


@dataclass(frozen=True, slots=True)
class HotfixPlan:
    installed: datetime  # local time
    program_version: str  # updatewuscatalog.exe's version after it (invented: no public source gives it)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    expected_verdict: str
    weight: int
    windows: str
    is_64bit: bool
    registry: tuple[tuple[str, str, RegType, Any], ...]  # (key, value name, type, data)
    log: LogPlan | None
    install_dir: str | None = None
    era: str = "modern"
    listener: str | None = None  # "https": the host listens on HTTPS only
    deny: tuple[str, ...] = ()  # registry keys (HKLM\...) and files the audit account may not read
    locale: str = "en-US"
    site_database: bool = False
    itmu: ItmuPlan | None = None
    hotfix: HotfixPlan | None = None


def _profile_dir() -> Any:
    return resources.files("simulator").joinpath("profiles")


def _names() -> tuple[str, ...]:
    return tuple(sorted(
        entry.name[: -len(".toml")] for entry in _profile_dir().iterdir() if entry.name.endswith(".toml")
    ))


PROFILE_NAMES: tuple[str, ...] = _names()


def _typed(where: str, name: str, raw: Any) -> tuple[RegType, Any]:
    """TOML value -> (type, data): strings are REG_SZ, integers REG_DWORD, lists REG_MULTI_SZ,
    `{ type = "...", data = ... }` anything (REG_BINARY data as a hex string)."""
    if isinstance(raw, dict):
        try:
            reg_type = RegType(raw["type"])
            data = raw["data"]
        except (KeyError, ValueError) as exc:
            raise ProfileError(f"{where}: value {name!r} needs a known `type` and `data`") from exc
        if reg_type is RegType.REG_BINARY:
            data = bytes.fromhex(str(data))
        elif reg_type is RegType.REG_MULTI_SZ:
            data = tuple(str(item) for item in data)
        return reg_type, data
    if isinstance(raw, bool):
        raise ProfileError(f"{where}: value {name!r}: booleans are not registry data")
    if isinstance(raw, int):
        return RegType.REG_DWORD, raw
    if isinstance(raw, list):
        return RegType.REG_MULTI_SZ, tuple(str(item) for item in raw)
    return RegType.REG_SZ, str(raw)


def _log_plan(where: str, raw: dict[str, Any], site_code: str, bias: int) -> LogPlan:
    try:
        scenario = Scenario(raw["scenario"])
        path = str(raw["path"])
    except (KeyError, ValueError) as exc:
        raise ProfileError(f"{where}: [log] needs `path` and a known `scenario`") from exc
    encoding = raw.get("encoding", "cp1252")
    if encoding not in ENCODINGS:
        raise ProfileError(f"{where}: [log] encoding must be one of {', '.join(ENCODINGS)}")
    spec_fields: dict[str, Any] = {
        key: raw[key] for key in ("seed", "start", "days", "sync_every_days", "quiet_tail_days", "target_bytes",
                                  "install_dir", "itmu_dir", "language", "quoted_catalog") if key in raw
    }
    if spec_fields.get("language", "en") not in LANGUAGES:
        raise ProfileError(f"{where}: [log] language must be one of {', '.join(LANGUAGES)}")
    if "start" in spec_fields and not isinstance(spec_fields["start"], date):
        raise ProfileError(f"{where}: [log] start must be a TOML date")
    spec = LogSpec(scenario=scenario, site_code=site_code or "XXX", server=f"{site_code or 'SMS'}SMS01",
                   bias=bias, **spec_fields)
    return LogPlan(path, spec, encoding, bool(raw.get("rolled", False)), bool(raw.get("crashed", False)))


@cache
def load_profile(name: str) -> Profile:
    """The parsed profile `name` (one of PROFILE_NAMES)."""
    if name not in PROFILE_NAMES:
        raise ProfileError(f"unknown profile {name!r}; known: {', '.join(PROFILE_NAMES)}")
    where = f"simulator/profiles/{name}.toml"
    data = tomllib.loads(_profile_dir().joinpath(f"{name}.toml").read_text(encoding="utf-8"))
    try:
        verdict = data["expected_verdict"]
        windows = data["windows"]
        arch = data["arch"]
    except KeyError as exc:
        raise ProfileError(f"{where}: missing key {exc.args[0]!r}") from exc
    if verdict not in VERDICTS:
        raise ProfileError(f"{where}: expected_verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    if windows not in WINDOWS_VERSIONS:
        raise ProfileError(f"{where}: windows {windows!r} is not one of {', '.join(WINDOWS_VERSIONS)}")
    if arch not in ("x86", "x64"):
        raise ProfileError(f"{where}: arch must be x86 or x64")
    era_name = str(data.get("era", "modern"))
    if era_name not in ERAS:
        raise ProfileError(f"{where}: era {era_name!r} is not one of {', '.join(ERAS)}")
    if era(era_name).windows and windows not in era(era_name).windows:
        raise ProfileError(f"{where}: era {era_name} does not run on Windows {windows}")
    listener = data.get("listener")
    if listener not in (None, "http", "https"):
        raise ProfileError(f"{where}: listener must be http or https")
    deny = data.get("deny", [])
    if not isinstance(deny, list) or not all(isinstance(item, str) for item in deny):
        raise ProfileError(f"{where}: deny must be a list of registry keys and file paths")
    values: list[tuple[str, str, RegType, Any]] = []
    site_code = ""
    install_dir = None
    for key, entries in data.get("registry", {}).items():
        for value_name, raw in entries.items():
            reg_type, value = _typed(f"{where} [registry.'{key}']", value_name, raw)
            values.append((key, value_name, reg_type, value))
            if value_name.casefold() == "site code":
                site_code = str(value)
            if value_name.casefold() == "installation directory":
                install_dir = str(value)
    bias = int(data.get("timezone_bias", 0))
    log = _log_plan(where, data["log"], site_code, bias) if "log" in data else None
    profile = Profile(name, str(data.get("description", "")), verdict, int(data.get("weight", 1)), windows,
                      arch == "x64", tuple(values), log, install_dir, era_name, listener, tuple(deny))
    return _site_files(where, data, profile)


def _site_files(where: str, data: dict[str, Any], profile: Profile) -> Profile:
    """The locale, the site database key, ITMU and the hotfix a profile names (or its defaults)."""
    locale = str(data.get("locale", "en-US"))
    if locale not in LOCALES:
        raise ProfileError(f"{where}: locale must be one of {', '.join(LOCALES)}")
    primary = any(key.endswith("\\SMS\\Setup") and value_name == "Type" and value == 1
                  for key, value_name, _t, value in profile.registry)
    database = data.get("site_database", primary)
    if not isinstance(database, bool):
        raise ProfileError(f"{where}: site_database must be true or false")
    return replace(profile, locale=locale, site_database=database, itmu=_itmu(where, data.get("itmu", {}), profile.log),
                   hotfix=_hotfix(where, data.get("hotfix")))


def _itmu(where: str, raw: Any, log: LogPlan | None) -> ItmuPlan | None:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: [itmu] must be a table")
    if not raw.get("installed", log is not None and log.spec.scenario is not Scenario.NO_LEGACY):
        return None
    default = log.spec.itmu_dir if log else "C:\\Program Files\\Microsoft Updates Inventory Tool"
    folder = str(raw.get("dir") or default)
    written = raw.get("catalog_written")
    if written is None:
        start = log.spec.start if log else date(2008, 6, 11)
        written = datetime.combine(max(start, date(2008, 6, 11)), datetime.min.time()) + timedelta(hours=3, minutes=12)
    if not isinstance(written, datetime):
        raise ProfileError(f"{where}: [itmu] catalog_written must be a TOML local date-time")
    return ItmuPlan(folder + "\\PkgSource", bool(raw.get("share", True)), written)


def _hotfix(where: str, raw: Any) -> HotfixPlan | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("installed"), datetime):
        raise ProfileError(f"{where}: [hotfix] needs `installed`, a TOML local date-time")
    return HotfixPlan(raw["installed"], str(raw.get("program_version", "4.0.6221.1179")))


def expected_verdict(profile: str) -> str:
    """The verdict cmaudit should reach for a host of this profile (a `Verdict` name)."""
    return load_profile(profile).expected_verdict


@lru_cache(maxsize=64)
def _log_files(plan: LogPlan) -> tuple[tuple[str, bytes, datetime], ...]:
    """(path, bytes, mtime) of the log, split into wsyncmgr.lo_ + wsyncmgr.log when it rolled over."""
    log = generate_cached(plan.spec)

    def encode(text: str) -> bytes:
        return _BOMS.get(plan.encoding, b"") + text.encode(plan.encoding, "replace")

    if plan.crashed:
        cut = log.text.rstrip("\r\n").rfind("\r\n") + 2  # start of the last line
        cut += (len(log.text) - cut) // 2
        return ((plan.path, encode(log.text[:cut]) + bytes(8192), log.last_write),)
    if not plan.rolled or log.tail_offset >= len(log.text):
        return ((plan.path, encode(log.text), log.last_write),)
    stem, _ext = ntpath.splitext(plan.path)
    return (
        (stem + ".lo_", encode(log.text[: log.tail_offset]), log.head_last_write),
        (plan.path, encode(log.text[log.tail_offset:]), log.last_write),
    )


def _base_registry(registry: Registry, profile: Profile, hostname: str) -> None:
    """What every Windows host has and an auditor might read: its release and its name."""
    windows = WINDOWS_VERSIONS[profile.windows]
    current = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
    registry.set_value(current, "ProductName", RegType.REG_SZ, windows.product_name)
    registry.set_value(current, "CurrentVersion", RegType.REG_SZ, windows.current_version)
    registry.set_value(current, "CurrentBuildNumber", RegType.REG_SZ, windows.build)
    registry.set_value(current, "CSDVersion", RegType.REG_SZ, windows.csd_version)
    registry.set_value(current, "SystemRoot", RegType.REG_SZ, windows.windows_dir)
    name_key = r"HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName"
    registry.set_value(name_key, "ComputerName", RegType.REG_SZ, hostname.upper())
    environment = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment"
    registry.set_value(environment, "PROCESSOR_ARCHITECTURE", RegType.REG_SZ, "AMD64" if profile.is_64bit else "x86")
    set_program_folders(registry, profile.is_64bit)


def set_program_folders(registry: Registry, is_64bit: bool) -> None:
    """The folders `%ProgramFiles%` and `%CommonProgramFiles%` come from; a 32-bit program on 64-bit Windows
    reads the (x86) ones through Wow6432Node."""
    current = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion"
    registry.set_value(current, "ProgramFilesDir", RegType.REG_SZ, "C:\\Program Files")
    registry.set_value(current, "CommonFilesDir", RegType.REG_SZ, "C:\\Program Files\\Common Files")
    if is_64bit:
        registry.set_value(current, "ProgramFilesDir (x86)", RegType.REG_SZ, "C:\\Program Files (x86)")
        registry.set_value(current, "CommonFilesDir (x86)", RegType.REG_SZ, "C:\\Program Files (x86)\\Common Files")
        wow = r"HKLM\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion"
        registry.set_value(wow, "ProgramFilesDir", RegType.REG_SZ, "C:\\Program Files (x86)")
        registry.set_value(wow, "CommonFilesDir", RegType.REG_SZ, "C:\\Program Files (x86)\\Common Files")


def _base_files(fs: FileSystem, profile: Profile, installed: datetime) -> None:
    windows = WINDOWS_VERSIONS[profile.windows]
    system32 = f"{windows.windows_dir}\\system32"
    for folder in ("C:\\Program Files\\Common Files", f"{windows.windows_dir}\\Temp"):
        fs.add_dir(folder, installed)
    if profile.is_64bit:
        fs.add_dir("C:\\Program Files (x86)\\Common Files", installed)
    for program, size in (("cmd.exe", 389_120), ("reg.exe", 57_344), ("findstr.exe", 28_672),
                          ("find.exe", 11_776), ("hostname.exe", 9_728)):
        fs.add_file(f"{system32}\\{program}", b"MZ" + bytes(size - 2), installed)
    if windows.is_2003:
        fs.add_file("C:\\boot.ini", b"[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)"
                    b"\\WINDOWS\r\n", installed)


def load_machine(profile: str, hostname: str, *, log_size: int | None = None) -> VirtualMachine:
    """A fresh virtual host of `profile` named `hostname`; `log_size` (bytes) overrides the log's size."""
    spec = load_profile(profile)
    installed = datetime(2008, 1, 15, 10, 42)
    registry = Registry()
    _base_registry(registry, spec, hostname)
    for key, name, reg_type, data in spec.registry:
        if isinstance(data, str):
            data = data.replace("{hostname}", hostname.upper())
        registry.set_value(key, name, reg_type, data)
    fs = FileSystem(installed)
    _base_files(fs, spec, installed)
    if spec.install_dir:
        fs.add_dir(f"{spec.install_dir}\\bin\\i386", installed)
        fs.add_file(f"{spec.install_dir}\\Logs\\sitecomp.log",
                    b"Site Component Manager started.  $$<SMS_SITE_COMPONENT_MANAGER><01-15-2008 10:45:02.113+420>"
                    b"<thread=1812 (0x714)>\r\n", installed + timedelta(minutes=3))
    _add_site_files(registry, fs, spec, installed)
    if spec.log is not None:
        plan = spec.log
        if log_size is not None:
            plan = replace(plan, spec=_resized(plan.spec, log_size))
        for path, data, mtime in _log_files(plan):
            fs.add_file(path, data, mtime)
    machine = VirtualMachine(hostname, WINDOWS_VERSIONS[spec.windows], spec.is_64bit, registry, fs, era=spec.era,
                             listener=spec.listener)
    for target in spec.deny:
        machine.deny(target)
    return machine


def _value(spec: Profile, name: str) -> str | None:
    """A registry value the profile names, by value name (the first key holding it)."""
    return next((str(v) for _k, value_name, _t, v in spec.registry if value_name.casefold() == name.casefold()), None)


def _add_site_files(registry: Registry, fs: FileSystem, spec: Profile, installed: datetime) -> None:
    """The keys and files besides the logs an audit looks at (simulator/sitefiles.py)."""
    add_international(registry, spec.locale)
    setup = next((key for key, _name, _t, _v in spec.registry if key.endswith("\\SMS\\Setup")), None)
    site_code = _value(spec, "Site Code") or ""
    if setup is not None and spec.site_database:
        add_site_database(registry, setup[: -len("\\Setup")], site_code)
    add_shares(registry, site_code, spec.itmu.pkgsource if spec.itmu and spec.itmu.share else None)
    if spec.itmu is not None:
        add_itmu(fs, spec.itmu.pkgsource, spec.itmu.catalog_written)
    if WINDOWS_VERSIONS[spec.windows].is_2003:
        add_windows_hotfixes(registry)
    build, hotfix = _value(spec, "Full Version"), spec.hotfix
    if not spec.install_dir or not build or build.count(".") != 3:
        return
    version = ".".join(str(int(part)) for part in build.split("."))
    add_program(fs, spec.install_dir, hotfix.program_version if hotfix else version,
                hotfix.installed if hotfix else installed)
    if hotfix is not None:
        add_hotfix(registry, spec.is_64bit, "951376", hotfix.installed)


def _resized(spec: LogSpec, size: int) -> LogSpec:
    return replace(spec, target_bytes=max(1, size))


def mixed_fleet(n: int) -> list[str]:
    """Profile names for `n` hosts: every profile once `n` allows, the rest by weight, in a fixed shuffle.

    A profile of weight 0 is in no mixed fleet: it is scanned only where a test (or `--profiles`) names it.
    """
    if n <= 0:
        return []
    weights = {name: w for name in PROFILE_NAMES if (w := load_profile(name).weight) > 0}
    ranked = sorted(weights, key=lambda name: (-weights[name], name))
    if n <= len(ranked):
        counts = dict.fromkeys(ranked[:n], 1)
    else:
        counts = dict.fromkeys(ranked, 1)
        extra = n - len(ranked)
        total = sum(weights.values())
        shares = {name: extra * weights[name] / total for name in ranked}
        for name in ranked:
            counts[name] += int(shares[name])
        left = n - sum(counts.values())
        for name in sorted(ranked, key=lambda name: (-(shares[name] % 1), name))[:left]:
            counts[name] += 1
    fleet = [name for name in ranked for _ in range(counts.get(name, 0))]
    random.Random(f"cmaudit-fleet-{n}").shuffle(fleet)
    return fleet
