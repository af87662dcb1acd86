"""Reading the SMS registry keys in one batched `reg query` command line, and judging each key's answer.

Every key is a *checked* command (see scanner.winrm.markers): its section carries reg.exe's output or its
error text, and a marker when reg.exe exited non-zero. A key that failed is absent only when its error text
is the one reg.exe prints for a key that cannot exist (a probe of `HKLM\\SOFTWARE\\cmaudit-<nonce>`, asked
in the same batch, so a localised Windows is judged in its own words); any other failure (reg.exe's "Access
is denied.", in whatever language) is a key the account may not read: ERROR/access, never a silent
NOT_APPLICABLE.

REG_EXPAND_SZ values (a TraceFilename like `%ProgramFiles%\\...`) are expanded here, Wow64-aware:
ConfigMgr 2007 is a 32-bit program, so on 64-bit Windows its `%ProgramFiles%` is `Program Files (x86)`.
The folders come from the same batch (`ProgramFilesDir`, `CommonFilesDir` and their `(x86)` twins,
`SystemRoot`), never from guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from scanner.winrm.hotfix import registration
from scanner.winrm.markers import Section, Sink, checked, checked_names, marker, section
from scanner.winrm.regparse import RegKey, RegValue, find_key, normalise_key_path, parse_reg_query

NATIVE_ROOT = r"HKLM\SOFTWARE\Microsoft\SMS"
WOW64_ROOT = r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS"
SUBKEYS = {"setup": "Setup", "ident": "Identification", "tracing": r"Tracing\SMS_WSUS_SYNC_MANAGER"}
# Keys whose answer is a fact, not a condition of the audit: unreadable, they are "not known", never ERROR/access.
OPTIONAL_SUBKEYS = {"sql": "SQL Server"}  # sites with a site database have it; secondary sites do not
ROOTS = (("n", NATIVE_ROOT), ("w", WOW64_ROOT))
# ITMU's setup shares its PkgSource folder as PackageSrc (PackageSrc_N when taken): where ITMU and its catalog are.
SHARES = r"HKLM\SYSTEM\CurrentControlSet\Services\lanmanserver\Shares"
# The shell account's date format: how `dir` writes the dates of the catalog and of updatewuscatalog.exe.
INTERNATIONAL = r"HKCU\Control Panel\International"
EXTRA_KEYS = {"shares": SHARES, "intl": INTERNATIONAL}
_CURRENT = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion"
# section name -> (key, value): the folders an expanded value may name
FOLDERS = {
    "epf": (_CURRENT, "ProgramFilesDir"),
    "epf86": (_CURRENT, "ProgramFilesDir (x86)"),
    "ecf": (_CURRENT, "CommonFilesDir"),
    "ecf86": (_CURRENT, "CommonFilesDir (x86)"),
    "eroot": (r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion", "SystemRoot"),
}
_VARIABLE = re.compile(r"%([^%\r\n]{1,64})%")


def probe_key(nonce: str) -> str:
    """A key that cannot exist: what reg.exe says for it is this host's "not found" message."""
    return rf"HKLM\SOFTWARE\cmaudit-{nonce}"


def section_names() -> tuple[str, ...]:
    keys = [t + n for t, _ in ROOTS for n in (*SUBKEYS, *OPTIONAL_SUBKEYS)]
    return (*checked_names("probe", *keys, *FOLDERS, *EXTRA_KEYS), "end")


def registry_command(nonce: str) -> str:
    """One cmd line reading every key we need from both registry views (reg query is read-only)."""
    parts = checked(nonce, "probe", f'reg query "{probe_key(nonce)}"')
    for root_tag, root in ROOTS:
        for tag, sub in (SUBKEYS | OPTIONAL_SUBKEYS).items():
            parts += checked(nonce, root_tag + tag, f'reg query "{root}\\{sub}"')
    for tag, key in EXTRA_KEYS.items():
        parts += checked(nonce, tag, f'reg query "{key}"')
    for tag, (key, value) in FOLDERS.items():
        parts += checked(nonce, tag, f'reg query "{key}" /v "{value}"')
    parts.append(f"echo {marker(nonce, 'end')}")
    return " & ".join(parts)


@dataclass(frozen=True, slots=True)
class KeyAnswer:
    """One key as reg.exe answered: the key, absent, or unreadable (with reg.exe's words)."""

    path: str
    key: RegKey | None
    denied: str | None = None  # the error text when the key exists for all we know but could not be read


@dataclass(frozen=True, slots=True)
class RegistryRead:
    """Every key of the batch, judged."""

    keys: dict[str, KeyAnswer]
    folders: dict[str, str] = field(default_factory=dict)  # section name -> folder (ProgramFilesDir, ...)
    extra: dict[str, KeyAnswer] = field(default_factory=dict)  # the OPTIONAL_SUBKEYS (per view) and EXTRA_KEYS
    not_found: str = ""  # reg.exe's words for a key that does not exist, on this host

    @property
    def denied(self) -> list[KeyAnswer]:
        """The keys the audit needs that exist but could not be read (optional ones are facts, not conditions)."""
        return [answer for answer in self.keys.values() if answer.denied is not None]


def _absent(answer: Section, not_found: Section) -> bool:
    """A failed query whose words are reg.exe's "not found" (the probe's, else the English text)."""
    if not_found.failed and not_found.message:
        return answer.message == not_found.message
    return "unable to find" in answer.message


def _key_answer(sections: Mapping[str, Sink], name: str, path: str, codec: str, not_found: Section) -> KeyAnswer:
    answer = section(sections, name, codec)
    key = find_key(parse_reg_query(answer.text), path)
    failed = answer.failed or (key is None and bool(answer.message))  # reg.exe 3.0's exit code is [U]
    denied = None
    if key is None and failed and not _absent(answer, not_found):
        denied = " ".join(answer.text.split()) or "reg.exe failed without a message"
    return KeyAnswer(path, key, denied)


def read_registry(sections: Mapping[str, Sink], codec: str) -> RegistryRead:
    """Judge each key's section; the output is in the shell's code page (`codec`)."""
    not_found = section(sections, "probe", codec)
    keys: dict[str, KeyAnswer] = {}
    extra: dict[str, KeyAnswer] = {}
    for root_tag, root in ROOTS:
        for tag, sub in SUBKEYS.items():
            keys[root_tag + tag] = _key_answer(sections, root_tag + tag, f"{root}\\{sub}", codec, not_found)
        for tag, sub in OPTIONAL_SUBKEYS.items():
            extra[root_tag + tag] = _key_answer(sections, root_tag + tag, f"{root}\\{sub}", codec, not_found)
    for tag, path in EXTRA_KEYS.items():
        extra[tag] = _key_answer(sections, tag, path, codec, not_found)
    folders: dict[str, str] = {}
    for tag, (key_path, value_name) in FOLDERS.items():
        found = find_key(parse_reg_query(section(sections, tag, codec).text), key_path)
        value = found.get(value_name) if found is not None else None
        if value is not None and value.text.strip():
            folders[tag] = value.text.strip().rstrip("\\")
    return RegistryRead(keys, folders, extra, not_found.message if not_found.failed else "")


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    root: str | None
    setup: RegKey | None
    ident: RegKey | None
    tracing: RegKey | None
    site_database: bool | None = None  # the view's SMS\SQL Server key: found, absent, or not readable


def pick_registry(read: RegistryRead) -> RegistryFacts:
    """Choose the registry view ConfigMgr lives in: the one whose Setup key has a build (Wow64 first)."""
    found: list[RegistryFacts] = []
    for tag, root in (("w", WOW64_ROOT), ("n", NATIVE_ROOT)):
        setup = read.keys[tag + "setup"].key
        if setup is not None:
            sql = read.extra.get(tag + "sql")
            database = None if sql is None or sql.denied is not None else sql.key is not None
            found.append(RegistryFacts(root, setup, read.keys[tag + "ident"].key, read.keys[tag + "tracing"].key,
                                       database))
    for facts in found:
        assert facts.setup is not None
        if facts.setup.text("Full Version") or facts.setup.text("Version"):
            return facts
    return found[0] if found else RegistryFacts(None, None, None, None)


def package_sources(read: RegistryRead) -> tuple[str, ...] | None:
    """ITMU's PkgSource folders from the PackageSrc shares (None: the share list could not be read)."""
    answer = read.extra.get("shares")
    if answer is None or answer.denied is not None:
        return None
    if answer.key is None:
        return ()
    folders = []
    for value in answer.key.values:
        if not value.name.casefold().startswith("packagesrc"):
            continue
        lines = value.data if isinstance(value.data, tuple) else (value.text,)
        folders += [line[5:].strip().rstrip("\\") for line in lines if line.casefold().startswith("path=")]
    return tuple(dict.fromkeys(f for f in folders if f))


def environment(read: RegistryRead, root: str | None) -> dict[str, str]:
    """The variables a REG_EXPAND_SZ value of ConfigMgr may use, as a 32-bit process on this host sees them."""
    folders = read.folders
    wow64 = root == WOW64_ROOT
    program_files = folders.get("epf86") if wow64 and "epf86" in folders else folders.get("epf")
    common = folders.get("ecf86") if wow64 and "ecf86" in folders else folders.get("ecf")
    env = {
        "PROGRAMFILES": program_files,
        "PROGRAMFILES(X86)": folders.get("epf86"),
        "PROGRAMW6432": folders.get("epf"),
        "COMMONPROGRAMFILES": common,
        "COMMONPROGRAMFILES(X86)": folders.get("ecf86"),
        "SYSTEMROOT": folders.get("eroot"),
        "WINDIR": folders.get("eroot"),
        "SYSTEMDRIVE": folders["eroot"][:2] if len(folders.get("eroot", "")) >= 2 else None,
    }
    return {name: value for name, value in env.items() if value}


def expanded(value: RegValue | None, env: dict[str, str]) -> str | None:
    """A value's text; REG_EXPAND_SZ with its `%VARIABLE%`s replaced (unknown ones stay, and are refused later)."""
    if value is None:
        return None
    text = value.text
    if value.type != "REG_EXPAND_SZ":
        return text
    return _VARIABLE.sub(lambda m: env.get(m.group(1).upper(), m.group(0)), text)


@dataclass(frozen=True, slots=True)
class SavedRegistry:
    """What a `reg query` output saved on a site server says (for `cmaudit check --registry`); None: not in it."""

    setup_found: bool | None = None
    build: str | None = None
    site_type: str | None = None
    site_database: bool | None = None
    hotfix: tuple[str, ...] | None = None


_REGISTRATION_ROOTS = ("\\SOFTWARE\\MICROSOFT\\UPDATES", "\\SOFTWARE\\WOW6432NODE\\MICROSOFT\\UPDATES",
                       "\\CURRENTVERSION\\UNINSTALL")


def read_saved_registry(text: str, kb: str) -> SavedRegistry:
    """`reg query HKLM\\SOFTWARE\\Microsoft\\SMS /s` (and of the Updates key) as saved by hand: the build, the
    site's role, the registrations naming `kb`. Either reg.exe's format; keys it does not list stay unknown."""
    keys = parse_reg_query(text)
    paths = [normalise_key_path(k.path) for k in keys]
    saved = SavedRegistry()
    for root in (WOW64_ROOT, NATIVE_ROOT):
        setup = find_key(keys, f"{root}\\Setup")
        if setup is None:
            continue
        base = normalise_key_path(root) + "\\"
        listed_root = any(p.startswith(base) and not p.startswith(base + "SETUP") for p in paths)
        database = find_key(keys, f"{root}\\SQL Server") is not None or (None if not listed_root else False)
        saved = SavedRegistry(True, setup.text("Full Version") or None, setup.text("Type"), database)
        break
    if any(root in p for p in paths for root in _REGISTRATION_ROOTS):
        wanted = [k for k in keys if any(root in normalise_key_path(k.path) for root in _REGISTRATION_ROOTS)
                  and kb in (k.path + " ".join(v.text for v in k.values))]
        saved = replace(saved, hotfix=tuple(dict.fromkeys(registration(k) for k in wanted)))
    return saved
