"""reg query and the cmd.exe shell of the virtual Windows host, as an auditor sees them over WinRS."""

from __future__ import annotations

from datetime import datetime

import pytest

from simulator.filesystem import FileSystem
from simulator.registry import Registry, RegType
from simulator.vm import VirtualMachine
from simulator.windows import WINDOWS_VERSIONS

SETUP = r"HKLM\SOFTWARE\Microsoft\SMS\Setup"
NOT_FOUND = b"ERROR: The system was unable to find the specified registry key or value.\r\n"
NOT_FOUND_3 = b"Error:  The system was unable to find the specified registry key or value\r\n"  # reg.exe 3.0


def make_machine(windows: str = "2008", is_64bit: bool = False) -> VirtualMachine:
    registry = Registry()
    registry.set_value(SETUP, "Full Version", RegType.REG_SZ, "4.00.6221.1000")
    install = r"C:\Program Files\Microsoft Configuration Manager"
    registry.set_value(SETUP, "Installation Directory", RegType.REG_SZ, install)
    registry.set_value(SETUP, "Type", RegType.REG_DWORD, 1)
    registry.set_value(SETUP, "Servers", RegType.REG_MULTI_SZ, ("SMS01", "SMS02"))
    registry.set_value(SETUP, "Path", RegType.REG_EXPAND_SZ, r"%SystemRoot%\system32")
    registry.set_value(SETUP, "Blob", RegType.REG_BINARY, b"\x01\xab")
    registry.set_value(r"HKLM\SOFTWARE\Microsoft\SMS\Identification", "Site Code", RegType.REG_SZ, "CEN")
    registry.set_value(r"HKLM\SOFTWARE\Wow6432Node\Vendor", "Mode", RegType.REG_SZ, "32-bit view")
    return VirtualMachine("SMS01", WINDOWS_VERSIONS[windows], is_64bit, registry, FileSystem(datetime(2008, 6, 11)))


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        pytest.param(
            "2003 R2",
            b"\r\n! REG.EXE VERSION 3.0\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Setup\r\n"
            b"    Full Version\tREG_SZ\t4.00.6221.1000\r\n\r\n",
            id="2003-reg-3.0-tabs",
        ),
        pytest.param(
            "2008",
            b"\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Setup\r\n"
            b"    Full Version    REG_SZ    4.00.6221.1000\r\n\r\n",
            id="2008-four-spaces",
        ),
    ],
)
def test_query_one_value_in_the_windows_version_format(windows: str, expected: bytes) -> None:
    """`reg query KEY /v NAME` prints exactly what that Windows release's reg.exe prints."""
    result = make_machine(windows).run(f'reg query {SETUP} /v "Full Version"')
    assert (result.stdout, result.stderr, result.exit_code) == (expected, b"", 0)


@pytest.mark.parametrize(
    ("windows", "lines"),
    [
        pytest.param("2003", [
            b"    Type\tREG_DWORD\t0x1",
            b"    Servers\tREG_MULTI_SZ\tSMS01\\0SMS02\\0\\0",
            b"    Path\tREG_EXPAND_SZ\t%SystemRoot%\\system32",
            b"    Blob\tREG_BINARY\t01AB",
        ], id="2003"),
        pytest.param("2008 R2", [
            b"    Type    REG_DWORD    0x1",
            b"    Servers    REG_MULTI_SZ    SMS01\\0SMS02",
            b"    Path    REG_EXPAND_SZ    %SystemRoot%\\system32",
            b"    Blob    REG_BINARY    01AB",
        ], id="2008r2"),
    ],
)
def test_whole_key_renders_every_value_type(windows: str, lines: list[bytes]) -> None:
    """DWORDs show as 0x hex, multi-strings joined with a literal \\0, expand strings unexpanded, binary as hex."""
    result = make_machine(windows).run(f"reg query {SETUP}")
    assert result.exit_code == 0
    output = result.stdout.split(b"\r\n")
    for line in lines:
        assert line in output


def test_names_are_case_insensitive_and_path_echoed_as_typed() -> None:
    """Key and value names match without case; the key line keeps the user's spelling after the root."""
    result = make_machine().run(r"reg query hklm\software\microsoft\sms\setup /v full version".replace(
        "full version", '"FULL VERSION"'))
    assert result.exit_code == 0
    assert b"HKEY_LOCAL_MACHINE\\software\\microsoft\\sms\\setup\r\n    Full Version    REG_SZ" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(r"reg query HKLM\SOFTWARE\Microsoft\NoSuchKey", id="missing-key"),
        pytest.param(rf"reg query {SETUP} /v NoSuchValue", id="missing-value"),
    ],
)
@pytest.mark.parametrize(("windows", "message"), [("2003", NOT_FOUND_3), ("2008", NOT_FOUND)])
def test_missing_key_or_value_fails_with_exit_1(command: str, windows: str, message: bytes) -> None:
    """A missing key or value writes reg.exe's error to stderr (3.0's "Error:  ..." wording on 2003), nothing to
    stdout, exit code 1."""
    result = make_machine(windows).run(command)
    assert (result.stdout, result.stderr, result.exit_code) == (b"", message, 1)


def test_recursive_query_lists_every_subkey_with_values() -> None:
    """`/s` prints each key under the start key with its values, each block ended by a blank line."""
    result = make_machine().run(r"reg query HKLM\SOFTWARE\Microsoft\SMS /s")
    assert result.exit_code == 0
    text = result.stdout.decode()
    block = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Identification\r\n    Site Code    REG_SZ    CEN\r\n\r\n"
    assert block in text
    assert text.index("Identification") < text.index("Setup")


def test_value_search_with_s_counts_matches() -> None:
    """`/v NAME /s` on 2008 finds the value in subkeys and ends with reg.exe's match count."""
    result = make_machine().run(r'reg query HKLM\SOFTWARE\Microsoft\SMS /v "Site Code" /s')
    assert result.stdout.endswith(b"End of search: 1 match(es) found.\r\n")


def test_query_without_s_lists_subkeys_as_full_paths() -> None:
    """A key with only subkeys lists them as full key paths, like reg.exe."""
    result = make_machine().run(r"reg query HKLM\SOFTWARE\Microsoft\SMS")
    assert result.stdout == (b"\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Identification\r\n"
                             b"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Setup\r\n")


def test_default_value_unset_on_2008() -> None:
    """`/ve` on a key without a default value shows reg.exe's "(value not set)"."""
    result = make_machine().run(f"reg query {SETUP} /ve")
    assert b"    (Default)    REG_SZ    (value not set)\r\n" in result.stdout


def test_reg_32_view_on_64_bit_2008_reads_wow6432node() -> None:
    """`/reg:32` on 64-bit 2008 redirects HKLM\\SOFTWARE to the Wow6432Node view; 32-bit hosts do not redirect."""
    vm64 = make_machine("2008 R2", is_64bit=True)
    assert b"32-bit view" in vm64.run(r"reg query HKLM\SOFTWARE\Vendor /v Mode /reg:32").stdout
    assert make_machine("2008 R2").run(r"reg query HKLM\SOFTWARE\Vendor /v Mode /reg:32").exit_code == 1


@pytest.mark.parametrize(
    ("command", "stderr"),
    [
        pytest.param("reg query", b'ERROR: Invalid syntax.\r\nType "REG QUERY /?" for usage.\r\n', id="no-key"),
        pytest.param(r"reg query HKXX\Software", b'ERROR: Invalid key name.\r\nType "REG QUERY /?" for usage.\r\n',
                     id="bad-root"),
        pytest.param(rf"reg query {SETUP} /bogus", b'ERROR: Invalid syntax.\r\nType "REG QUERY /?" for usage.\r\n',
                     id="bad-option"),
        pytest.param(rf"reg add {SETUP} /v X /d Y /f", b"ERROR: Access is denied.\r\n", id="write-refused"),
    ],
)
def test_bad_reg_usage_is_an_error(command: str, stderr: bytes) -> None:
    """Bad syntax, an unknown root, and any write attempt end with reg.exe's message and exit code 1."""
    result = make_machine().run(command)
    assert (result.stdout, result.stderr, result.exit_code) == (b"", stderr, 1)


@pytest.mark.parametrize(
    ("command", "stdout", "exit_code"),
    [
        pytest.param("echo one & echo two", b"one \r\ntwo\r\n", 0, id="ampersand"),
        pytest.param("reg query HKLM\\Nope && echo yes", b"", 1, id="and-stops-on-failure"),
        pytest.param("reg query HKLM\\Nope 2>nul || echo fallback", b"fallback\r\n", 0, id="or-runs-on-failure"),
        pytest.param("echo a && echo b || echo c", b"a \r\nb \r\n", 0, id="and-or"),
        pytest.param("reg query HKLM\\Nope 2>&1", NOT_FOUND, 1, id="stderr-to-stdout"),
        pytest.param("reg query HKLM\\Nope >nul 2>&1", b"", 1, id="all-to-nul"),
        pytest.param('echo "a & b"', b'"a & b"\r\n', 0, id="quoted-ampersand"),
        pytest.param("echo a ^& b", b"a & b\r\n", 0, id="caret-escape"),
        pytest.param("echo %COMPUTERNAME%", b"SMS01\r\n", 0, id="env-var"),
        pytest.param("echo %NO_SUCH_VAR%", b"%NO_SUCH_VAR%\r\n", 0, id="unknown-var-kept"),
        pytest.param("echo.", b"\r\n", 0, id="echo-dot"),
        pytest.param("hostname", b"SMS01\r\n", 0, id="hostname"),
        pytest.param("ver", b"\r\nMicrosoft Windows [Version 6.0.6002]\r\n", 0, id="ver"),
        pytest.param("cmd /c hostname & echo x", b"SMS01\r\nx\r\n", 0, id="cmd-c"),
        pytest.param(r"C:\Windows\system32\reg.exe query HKLM\Nope", b"", 1, id="full-path"),
        pytest.param("echo abc | findstr b", b"abc \r\n", 0, id="pipe-keeps-echo-trailing-space"),
    ],
)
def test_cmd_chaining_redirection_and_builtins(command: str, stdout: bytes, exit_code: int) -> None:
    """cmd's operators, redirections, quoting and built-ins behave as on Windows."""
    result = make_machine().run(command)
    assert (result.stdout, result.exit_code) == (stdout, exit_code)


@pytest.mark.parametrize(
    ("windows", "ver"),
    [pytest.param("2003", b"5.2.3790", id="2003"), pytest.param("2008 R2", b"6.1.7601", id="2008r2")],
)
def test_ver_names_the_windows_release(windows: str, ver: bytes) -> None:
    """`ver` shows the build of the profile's Windows release."""
    assert ver in make_machine(windows).run("ver").stdout


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        pytest.param("foo", b"foo", id="plain"),
        pytest.param("powershell -Command Get-Item x", b"powershell", id="powershell-absent"),
        pytest.param('"C:\\tools\\x y.exe" /q', b'"C:\\tools\\x y.exe"', id="quoted"),
        pytest.param(r"C:\other\reg.exe query HKLM", b"C:\\other\\reg.exe", id="reg-outside-system32"),
    ],
)
def test_unknown_command_is_not_recognized(command: str, shown: bytes) -> None:
    """Anything that is not a known program gets cmd's "is not recognized" message and exit code 1."""
    result = make_machine().run(command)
    expected = (b"'" + shown + b"' is not recognized as an internal or external command,\r\n"
                b"operable program or batch file.\r\n")
    assert (result.stdout, result.stderr, result.exit_code) == (b"", expected, 1)


@pytest.mark.parametrize(
    ("command", "stderr", "exit_code"),
    [
        pytest.param("echo x" + " " * 8200, b"The command line is too long.\r\n", 1, id="too-long"),
        pytest.param("&& echo x", b"&& was unexpected at this time.\r\n", 255, id="leading-operator"),
        pytest.param("cmd /c " * 50 + "echo deep", b"The command line is too long.\r\n", 1, id="nesting"),
        pytest.param("echo x > C:\\out.txt", b"Access is denied.\r\n", 1, id="write-redirect"),
    ],
)
def test_hostile_command_lines_end_quickly_with_an_error(command: str, stderr: bytes, exit_code: int) -> None:
    """Over-long lines, syntax errors, deep nesting and file writes fail cleanly instead of hanging."""
    result = make_machine().run(command)
    assert (result.stderr, result.exit_code) == (stderr, exit_code)


def test_output_follows_the_code_page() -> None:
    """Non-ASCII text is written in the requested code page (65001 is UTF-8)."""
    machine = make_machine()
    assert machine.run("echo é", codepage=65001).stdout == "é\r\n".encode()
    assert machine.run("echo é", codepage=437).stdout == b"\x82\r\n"
    assert machine.run("echo é", codepage=1252).stdout == b"\xe9\r\n"


def test_cd_changes_the_directory_for_the_rest_of_the_line() -> None:
    """`cd /d DIR && type FILE` reads relative to DIR; a missing folder fails; a new run starts afresh."""
    machine = make_machine()
    machine.fs.add_file(r"E:\Logs\wsyncmgr.log", b"6709\r\n")
    assert machine.run(r"cd /d E:\Logs && type wsyncmgr.log & cd").stdout == b"6709\r\nE:\\Logs\r\n"
    assert machine.run(r"E: & cd Logs & cd").stdout == b"E:\\Logs\r\n"
    assert machine.run("cd").stdout == b"C:\\Users\\auditor\r\n"
    failed = machine.run(r"cd C:\Nowhere")
    assert (failed.stderr, failed.exit_code) == (b"The system cannot find the path specified.\r\n", 1)
    assert machine.run("Q:").stderr == b"The system cannot find the drive specified.\r\n"


def test_set_lists_and_sets_environment_variables() -> None:
    """`set PREFIX` lists matching variables; `set N=V` lasts for the line; unknown names exit 1."""
    machine = make_machine("2008 R2", is_64bit=True)
    assert machine.run("set PROCESSOR_A").stdout == b"PROCESSOR_ARCHITECTURE=AMD64\r\n"
    assert machine.run("set AUDIT=1& set AUDIT").stdout == b"AUDIT=1\r\n"
    missing = machine.run("set AUDIT")
    assert (missing.stderr, missing.exit_code) == (b"Environment variable AUDIT not defined\r\n", 1)
