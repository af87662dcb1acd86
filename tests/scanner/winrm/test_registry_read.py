"""Judging each registry key's answer (present, absent, denied) and expanding REG_EXPAND_SZ values, Wow64-aware."""

from __future__ import annotations

import pytest

from scanner.winrm.collect import log_paths
from scanner.winrm.markers import FAILED, MarkerSplitter, marker
from scanner.winrm.registry import (
    WOW64_ROOT,
    environment,
    expanded,
    pick_registry,
    read_registry,
    section_names,
)
from scanner.winrm.regparse import RegValue

NONCE = "ab12"
NOT_FOUND_3 = "Error:  The system was unable to find the specified registry key or value\r\n"
NOT_FOUND = "ERROR: The system was unable to find the specified registry key or value.\r\n"


def output(sections: dict[str, str], failed: set[str], not_found: str = NOT_FOUND) -> MarkerSplitter:
    """The registry batch's output as cmd would print it: every key a section, failures marked."""
    text = f"{marker(NONCE, 'probe')}\r\n{not_found}{marker(NONCE, 'probe' + FAILED)}\r\n"
    for name in ("nsetup", "nident", "ntracing", "wsetup", "wident", "wtracing", "epf", "epf86", "eroot"):
        text += f"{marker(NONCE, name)}\r\n"
        text += sections.get(name, not_found)
        if name in failed or name not in sections:
            text += f"{marker(NONCE, name + FAILED)}\r\n"
    text += f"{marker(NONCE, 'end')}\r\n"
    split = MarkerSplitter(NONCE, section_names(), 1 << 20)
    split.feed(text.encode("cp437"))
    split.close()
    return split


def key(path: str, *values: tuple[str, str, str]) -> str:
    lines = "".join(f"    {name}    {kind}    {data}\r\n" for name, kind, data in values)
    return f"\r\n{path}\r\n{lines}\r\n"


SETUP_W = key(r"HKEY_LOCAL_MACHINE\SOFTWARE\Wow6432Node\Microsoft\SMS\Setup",
              ("Full Version", "REG_SZ", "4.00.6221.1000"), ("Type", "REG_DWORD", "0x1"),
              ("Installation Directory", "REG_EXPAND_SZ", r"%ProgramFiles%\Microsoft Configuration Manager"))
FOLDERS = {
    "epf": key(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion",
               ("ProgramFilesDir", "REG_SZ", r"C:\Program Files")),
    "epf86": key(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion",
                 ("ProgramFilesDir (x86)", "REG_SZ", r"C:\Program Files (x86)")),
    "eroot": key(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion",
                 ("SystemRoot", "REG_SZ", r"C:\WINDOWS")),
}


def test_absent_keys_match_the_probe_and_present_ones_parse() -> None:
    """Keys reg.exe answers with the probe's "not found" words are absent; the Wow64 Setup key is found."""
    read = read_registry(output({"wsetup": SETUP_W, **FOLDERS}, set()).sections, "cp437")
    assert read.denied == []
    assert read.keys["nsetup"].key is None and read.keys["wsetup"].key is not None
    assert pick_registry(read).root == WOW64_ROOT


@pytest.mark.parametrize("text", [pytest.param("ERROR: Access is denied.\r\n", id="2008"),
                                  pytest.param("Error:  Access is denied.\r\n", id="reg-3.0"),
                                  pytest.param("FEHLER: Zugriff verweigert\r\n", id="german")])
def test_any_other_failure_is_a_denied_key(text: str) -> None:
    """A key that failed with words other than the probe's (in any language) is reported as unreadable."""
    read = read_registry(output({"wsetup": text, **FOLDERS}, {"wsetup"}).sections, "cp437")
    assert [(a.path, a.denied) for a in read.denied] == [(WOW64_ROOT + r"\Setup", " ".join(text.split()))]


def test_reg_exe_3_not_found_words_are_absent() -> None:
    """reg.exe 3.0's "Error:  ... key or value" (no period, two spaces) is "absent" on a 2003 host."""
    read = read_registry(output({}, set(), NOT_FOUND_3).sections, "cp437")
    assert read.denied == [] and all(a.key is None for a in read.keys.values())


@pytest.mark.parametrize(("root", "expected"), [
    pytest.param(WOW64_ROOT, r"C:\Program Files (x86)\Microsoft Configuration Manager", id="32-bit-view"),
    pytest.param(r"HKLM\SOFTWARE\Microsoft\SMS", r"C:\Program Files\Microsoft Configuration Manager", id="native"),
])
def test_expansion_is_wow64_aware(root: str, expected: str) -> None:
    """%ProgramFiles% is Program Files (x86) for ConfigMgr's keys under Wow6432Node, Program Files otherwise."""
    read = read_registry(output({"wsetup": SETUP_W, **FOLDERS}, set()).sections, "cp437")
    value = RegValue("Installation Directory", "REG_EXPAND_SZ", r"%ProgramFiles%\Microsoft Configuration Manager")
    env = environment(read, root)
    assert expanded(value, env) == expected
    assert expanded(RegValue("X", "REG_EXPAND_SZ", r"%SystemRoot%\Temp"), env) == r"C:\WINDOWS\Temp"
    assert expanded(RegValue("X", "REG_SZ", r"%SystemRoot%\Temp"), env) == r"%SystemRoot%\Temp"  # REG_SZ stays


def test_log_path_from_an_expanded_install_dir_and_an_unknown_variable() -> None:
    """Without TraceFilename the log is <expanded Installation Directory>\\Logs; a variable cmaudit cannot expand
    is reported, never passed to cmd."""
    read = read_registry(output({"wsetup": SETUP_W, **FOLDERS}, set()).sections, "cp437")
    reg = pick_registry(read)
    path, problem = log_paths(reg, environment(read, reg.root))
    assert path == r"C:\Program Files (x86)\Microsoft Configuration Manager\Logs\wsyncmgr.log" and problem is None
    path, problem = log_paths(reg, {})
    assert path is None and problem is not None and "could not expand" in problem
