"""type, findstr and dir over the virtual disk: exact bytes, code pages, cmd's messages and exit codes."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from simulator.filesystem import FileSystem
from simulator.registry import Registry
from simulator.vm import VirtualMachine
from simulator.windows import WINDOWS_VERSIONS

LOGS = r"C:\Program Files\Microsoft Configuration Manager\Logs"
ANSI = b"Wakeup for a polling cycle\r\nSTATMSG: ID=6709 SEV=I\r\ncaf\xe9 line\r\nlast line without newline"
UNICODE_TEXT = "Performing legacy sync\r\nSTATMSG: ID=6711 caf\u00e9 \u2014 \u65e5\r\n"
NOT_FOUND = b"The system cannot find the file specified.\r\n"


def make_machine(windows: str = "2008") -> VirtualMachine:
    fs = FileSystem(datetime(2008, 6, 1, 9, 30))
    fs.add_file(rf"{LOGS}\wsyncmgr.log", ANSI, datetime(2008, 6, 17, 14, 5))
    fs.add_file(rf"{LOGS}\wsyncmgr.lo_", b"older 6709\r\n", datetime(2008, 6, 12, 8, 0))
    fs.add_file(rf"{LOGS}\utf16le.log", b"\xff\xfe" + UNICODE_TEXT.encode("utf-16-le"))
    fs.add_file(rf"{LOGS}\utf16be.log", b"\xfe\xff" + UNICODE_TEXT.encode("utf-16-be"))
    fs.add_file(rf"{LOGS}\big.log", b"x" * 1_234_567)
    fs.add_file(r"C:\hostile.txt", b"x" * 50_000 + b"y\r\n")
    return VirtualMachine("SMS01", WINDOWS_VERSIONS[windows], False, Registry(), fs)


def test_type_copies_8bit_file_bytes_exactly() -> None:
    """`type` of an ANSI file writes its exact bytes, whatever the code page."""
    result = make_machine().run(rf'type "{LOGS}\wsyncmgr.log"', codepage=65001)
    assert (result.stdout, result.stderr, result.exit_code) == (ANSI, b"", 0)


@pytest.mark.parametrize("name", [pytest.param("utf16le.log", id="le"), pytest.param("utf16be.log", id="be")])
@pytest.mark.parametrize(
    ("codepage", "codec"),
    [
        pytest.param(65001, "utf-8", id="utf8"),
        pytest.param(437, "cp437", id="oem437"),
        pytest.param(850, "cp850", id="oem850"),
        pytest.param(1252, "cp1252", id="ansi1252"),
    ],
)
def test_type_converts_utf16_with_bom_to_the_code_page(name: str, codepage: int, codec: str) -> None:
    """A UTF-16 file with a BOM comes out in the shell's code page, unmappable characters as '?'."""
    result = make_machine().run(rf'type "{LOGS}\{name}"', codepage=codepage)
    assert result.stdout == UNICODE_TEXT.encode(codec, "replace")
    assert result.exit_code == 0


def test_type_names_files_on_stderr_when_given_several() -> None:
    """With several files, cmd writes each file's name to stderr and the contents to stdout."""
    result = make_machine().run(rf'type "{LOGS}\wsyncmgr.lo_" "{LOGS}\wsyncmgr.log"')
    assert result.stdout == b"older 6709\r\n" + ANSI
    assert result.stderr == (f"\r\n{LOGS}\\wsyncmgr.lo_\r\n\r\n\r\n\r\n{LOGS}\\wsyncmgr.log\r\n\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("path", "stderr"),
    [
        pytest.param(rf"{LOGS}\missing.log", NOT_FOUND, id="missing-file"),
        pytest.param(r"C:\No\Such\Dir\wsyncmgr.log", b"The system cannot find the path specified.\r\n", id="no-dir"),
        pytest.param(LOGS, b"Access is denied.\r\n", id="directory"),
    ],
)
def test_type_of_what_is_not_a_file_fails(path: str, stderr: bytes) -> None:
    """A missing file, a missing folder, or a folder gives cmd's message on stderr and exit code 1."""
    result = make_machine().run(f'type "{path}"')
    assert (result.stdout, result.stderr, result.exit_code) == (b"", stderr, 1)


def test_type_is_case_insensitive_and_resolves_relative_paths() -> None:
    """Windows paths match without case; relative names resolve against the working directory."""
    machine = make_machine()
    assert machine.run(r'type "c:\program files\microsoft configuration manager\LOGS\WSYNCMGR.LO_"').exit_code == 0
    result = machine.run(r'type "..\..\Program Files\Microsoft Configuration Manager\Logs\wsyncmgr.lo_"')
    assert result.stdout == b"older 6709\r\n"


def test_type_multi_megabyte_file_is_fast() -> None:
    """A multi-MB file is typed whole, in well under a second."""
    started = time.perf_counter()
    result = make_machine().run(rf'type "{LOGS}\big.log"')
    assert len(result.stdout) == 1_234_567
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("command", "stdout", "exit_code"),
    [
        pytest.param(r'findstr /c:"ID=6709" "{L}\wsyncmgr.log"', b"STATMSG: ID=6709 SEV=I\r\n", 0, id="literal"),
        pytest.param(r'findstr /n /c:"ID=6709" "{L}\wsyncmgr.log"', b"2:STATMSG: ID=6709 SEV=I\r\n", 0, id="numbers"),
        pytest.param(r'findstr /i /c:"wakeup FOR" "{L}\wsyncmgr.log"', b"Wakeup for a polling cycle\r\n", 0,
                     id="ignore-case"),
        pytest.param(r'findstr /c:"wakeup FOR" "{L}\wsyncmgr.log"', b"", 1, id="case-sensitive-miss"),
        pytest.param(r'findstr /l "6711 6709" "{L}\wsyncmgr.log"', b"STATMSG: ID=6709 SEV=I\r\n", 0,
                     id="space-separated-alternatives"),
        pytest.param(r'findstr "^Wake.*cycle$" "{L}\wsyncmgr.log"', b"Wakeup for a polling cycle\r\n", 0, id="regex"),
        pytest.param(r'findstr /c:"newline" "{L}\wsyncmgr.log"', b"last line without newline\r\n", 0,
                     id="last-line-gets-crlf"),
        pytest.param(r'findstr /n "6709" "{L}\wsyncmgr.lo_" "{L}\wsyncmgr.log"',
                     b"{L}\\wsyncmgr.lo_:1:older 6709\r\n{L}\\wsyncmgr.log:2:STATMSG: ID=6709 SEV=I\r\n", 0,
                     id="several-files-prefixed"),
        pytest.param(r'findstr /c:"ID=6711" "{L}\utf16le.log"', b"", 1, id="utf16-not-understood"),
        pytest.param(r'findstr /v /c:"e" "{L}\wsyncmgr.lo_"', b"", 1, id="invert"),
        pytest.param(r'findstr /m 6709 "{L}\*.lo*"', b"{L}\\wsyncmgr.log\r\n{L}\\wsyncmgr.lo_\r\n", 0,
                     id="wildcard-file-names"),
    ],
)
def test_findstr(command: str, stdout: bytes, exit_code: int) -> None:
    """findstr prints matching lines (with /n numbers, file prefixes for several files) and exits 1 on no match."""
    result = make_machine().run(command.replace("{L}", LOGS))
    assert (result.stdout, result.exit_code) == (stdout.replace(b"{L}", LOGS.encode()), exit_code)


def test_findstr_missing_file_and_bad_usage() -> None:
    """A missing file is reported and skipped; a command line without a search string exits 2."""
    machine = make_machine()
    result = machine.run(rf'findstr 6709 "{LOGS}\nope.log" "{LOGS}\wsyncmgr.lo_"')
    assert result.stderr == f"FINDSTR: Cannot open {LOGS}\\nope.log\r\n".encode()
    assert result.exit_code == 0
    bad = machine.run("findstr")
    assert (bad.stderr, bad.exit_code) == (b"FINDSTR: Bad command line\r\n", 2)


def test_findstr_hostile_regex_stays_fast() -> None:
    """A regex built to make a backtracking engine explode still finishes quickly on long lines."""
    started = time.perf_counter()
    machine = make_machine()
    assert machine.run(rf'findstr /r "x*x*x*x*x*x*x*x*x*y" "{LOGS}\big.log"').exit_code == 1
    assert machine.run(r'findstr /r "^x*x*x*x*x*x*x*x*x*y$" C:\hostile.txt').exit_code == 0
    assert time.perf_counter() - started < 10


def test_dir_lists_a_folder_in_cmd_format() -> None:
    """dir prints the volume header, dates, sizes with thousands separators and the summary lines."""
    machine = make_machine()
    result = machine.run(f'dir "{LOGS}"')
    lines = result.stdout.decode().split("\r\n")
    assert lines[0] == " Volume in drive C has no label."
    assert lines[1] == f" Volume Serial Number is {machine.volume_serial}"
    assert lines[3] == f" Directory of {LOGS}"
    assert lines[5].endswith("    <DIR>          .")
    assert "06/17/2008  02:05 PM                88 wsyncmgr.log" in lines
    assert "06/01/2008  09:30 AM         1,234,567 big.log" in lines
    assert any(line.startswith("               5 File(s)      1,234,") for line in lines)
    assert any(line.startswith("               2 Dir(s)") and line.endswith(" bytes free") for line in lines)
    assert result.exit_code == 0


def test_dir_bare_and_wildcard() -> None:
    """`dir /b` with a wildcard prints only the matching names, in NTFS (upper-case) order: .log before .lo_."""
    result = make_machine().run(rf'dir /b "{LOGS}\wsyncmgr.*"')
    assert result.stdout == b"wsyncmgr.log\r\nwsyncmgr.lo_\r\n"


@pytest.mark.parametrize(
    ("path", "stderr"),
    [
        pytest.param(rf"{LOGS}\nothing.log", b"File Not Found\r\n", id="file-not-found"),
        pytest.param(r"C:\Nope\x.log", b"The system cannot find the path specified.\r\n", id="path-not-found"),
    ],
)
def test_dir_of_missing_entry(path: str, stderr: bytes) -> None:
    """dir of a missing file says "File Not Found" (or that the path is missing) and exits 1."""
    result = make_machine().run(f'dir "{path}"')
    assert (result.stderr, result.exit_code) == (stderr, 1)
    assert result.stdout.startswith(b" Volume in drive C has no label.\r\n")


def test_dir_recursive_finds_a_file_anywhere_below() -> None:
    """`dir /s /b` prints full paths of matches in every subfolder; `dir /s` ends with the grand total."""
    machine = make_machine()
    bare = machine.run(r"dir /s /b C:\wsyncmgr.lo*")
    assert bare.stdout == f"{LOGS}\\wsyncmgr.log\r\n{LOGS}\\wsyncmgr.lo_\r\n".encode()
    full = machine.run(r'dir /s "C:\Program Files\big.log"').stdout.decode()
    assert f" Directory of {LOGS}\r\n" in full
    assert full.endswith("     Total Files Listed:\r\n               1 File(s)      1,234,567 bytes\r\n"
                         f"               0 Dir(s) {machine.free_bytes:>15,} bytes free\r\n")
    missing = machine.run(r"dir /s /b C:\nothing.xyz")
    assert (missing.stdout, missing.stderr, missing.exit_code) == (b"", b"File Not Found\r\n", 1)


@pytest.mark.parametrize(
    ("command", "stdout", "exit_code"),
    [
        pytest.param(r'find "ID=6709" "{L}\wsyncmgr.log"',
                     b"\r\n---------- {U}\\WSYNCMGR.LOG\r\nSTATMSG: ID=6709 SEV=I\r\n", 0, id="header-upper-case"),
        pytest.param(r'find /c /i "LINE" "{L}\wsyncmgr.log"', b"\r\n---------- {U}\\WSYNCMGR.LOG: 2\r\n", 0,
                     id="count"),
        pytest.param(r'find /n "caf" "{L}\wsyncmgr.log"', b"\r\n---------- {U}\\WSYNCMGR.LOG\r\n[3]caf\xe9 line\r\n", 0,
                     id="numbers"),
        pytest.param(r'type "{L}\wsyncmgr.log" | find "6709"', b"STATMSG: ID=6709 SEV=I\r\n", 0, id="stdin"),
        pytest.param(r'find "nothing here" "{L}\wsyncmgr.log"', b"\r\n---------- {U}\\WSYNCMGR.LOG\r\n", 1,
                     id="no-match"),
        pytest.param(r'find 6709 "{L}\wsyncmgr.log"', b"", 2, id="unquoted-string"),
    ],
)
def test_find(command: str, stdout: bytes, exit_code: int) -> None:
    """find.exe's header, /c count, [N] numbers and exit codes (1 no match, 2 bad usage)."""
    result = make_machine().run(command.replace("{L}", LOGS))
    expected = stdout.replace(b"{U}", LOGS.upper().encode())
    assert (result.stdout, result.exit_code) == (expected, exit_code)
