"""`reg query` output from Server 2003 and 2008+ reads into the same values."""

from __future__ import annotations

import pytest

from scanner.winrm.regparse import find_key, parse_reg_query

SETUP = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SMS\Setup"

REG_2008 = (
    "\r\n"
    f"{SETUP}\r\n"
    "    Full Version    REG_SZ    4.00.6221.1000\r\n"
    "    Installation Directory    REG_SZ    C:\\Program Files\\Microsoft Configuration Manager\r\n"
    "    Type    REG_DWORD    0x1\r\n"
    "    Log Root    REG_EXPAND_SZ    %ProgramFiles%\\SMS\r\n"
    "    Servers    REG_MULTI_SZ    A\\0B\\0\r\n"
    "    Empty    REG_SZ    \r\n"
    "    (Default)    REG_SZ    \r\n"
    "\r\n"
)

REG_2003 = (
    "\r\n! REG.EXE VERSION 3.0\r\n\r\n"
    f"{SETUP}\r\n"
    "    Full Version\tREG_SZ\t4.00.6221.1000\r\n"
    "    Installation Directory\tREG_SZ\tC:\\Program Files\\Microsoft Configuration Manager\r\n"
    "    Type\tREG_DWORD\t0x1\r\n"
    "    Log Root\tREG_EXPAND_SZ\t%ProgramFiles%\\SMS\r\n"
    "    Servers\tREG_MULTI_SZ\tA\\0B\\0\\0\r\n"
    "    Empty\tREG_SZ\t\r\n"
    "    <NO NAME>\tREG_SZ\t\r\n"
    "\r\n"
)


@pytest.mark.parametrize("text", [pytest.param(REG_2008, id="2008-spaces"), pytest.param(REG_2003, id="2003-tabs")])
def test_both_reg_exe_forms_give_the_same_values(text: str) -> None:
    """The build, install path, site type and other value types read the same from either Windows version."""
    key = find_key(parse_reg_query(text), r"HKLM\Software\Microsoft\SMS\Setup")
    assert key is not None
    assert key.text("full version") == "4.00.6221.1000"
    assert key.text("Installation Directory") == r"C:\Program Files\Microsoft Configuration Manager"
    assert key.get("Type") is not None and key.get("Type").data == 1  # type: ignore[union-attr]
    assert key.text("Log Root") == r"%ProgramFiles%\SMS"
    assert key.get("Servers").data == ("A", "B")  # type: ignore[union-attr]
    assert key.text("Empty") == ""
    assert key.text("") == ""


def test_several_keys_and_error_chatter() -> None:
    """Each key block keeps its own values; reg.exe error lines and junk never become values."""
    text = (
        "ERROR: The system was unable to find the specified registry key or value.\r\n"
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Identification\r\n"
        "    Site Code    REG_SZ    P01\r\n"
        "garbage line without indentation\r\n"
        "    not a value line\r\n"
        "\r\n"
        "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_WSUS_SYNC_MANAGER\r\n"
        "    TraceFilename    REG_SZ    D:\\SMS\\Logs\\wsyncmgr.log\r\n"
        "    MaxFileSize    REG_DWORD    0x280000\r\n"
    )
    keys = parse_reg_query(text)
    assert [k.path.rsplit("\\", 1)[1] for k in keys] == ["Identification", "SMS_WSUS_SYNC_MANAGER"]
    assert keys[0].text("Site Code") == "P01" and len(keys[0].values) == 1
    assert keys[1].get("MaxFileSize").data == 2621440  # type: ignore[union-attr]
    assert find_key(keys, r"HKLM\SOFTWARE\Microsoft\SMS\Setup") is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("    Full Version    REG_SZ    1\r\n", id="value-before-key"),
        pytest.param("HKEY_LOCAL_MACHINE\\X\r\n    " + "A" * 100_000 + "    REG_SZ    x\r\n", id="huge-line"),
        pytest.param("\x00\x00\ufffd\r\n\t\t\r\n", id="binary-junk"),
    ],
)
def test_hostile_output_never_crashes(text: str) -> None:
    """Garbage from a hostile server parses to nothing rather than raising."""
    keys = parse_reg_query(text)
    assert all(not k.values for k in keys)
