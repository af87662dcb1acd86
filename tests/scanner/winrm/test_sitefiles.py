"""What collection reads besides the logs: dir listings in the account's date format, KB registrations filtered
as they stream, a program's version from its bytes, ITMU's share, and when a follow-up command is worth it."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.model.records import FileStamp
from scanner.winrm import sitefiles
from scanner.winrm.dirlist import DateStyle, date_style, file_stamp
from scanner.winrm.hotfix import MAX_KEPT, KbBlocks, VersionFinder, registrations
from scanner.winrm.markers import TailBuffer
from scanner.winrm.registry import KeyAnswer, RegistryRead, package_sources, read_saved_registry
from scanner.winrm.regparse import RegKey, RegValue

FOLDER = r"C:\Program Files\Microsoft Updates Inventory Tool\PkgSource"
US = DateStyle("MDY")


def intl(**values: str) -> RegKey:
    return RegKey(r"HKEY_CURRENT_USER\Control Panel\International",
                  tuple(RegValue(k, "REG_SZ", v) for k, v in values.items()))


@pytest.mark.parametrize(("line", "style", "written", "size"), [
    pytest.param("06/11/2008  03:12 AM         1,048,576 wsusscn2.cab", US, "2008-06-11 03:12", 1048576, id="en-us"),
    pytest.param("06/11/2008  12:05 PM            61,440 wsusscn2.cab", US, "2008-06-11 12:05", 61440, id="noon"),
    pytest.param("06/11/2008  12:05 AM                10 wsusscn2.cab", US, "2008-06-11 00:05", 10, id="midnight"),
    pytest.param("11.06.2008  15:12         1\xa0048\xa0576 wsusscn2.cab", date_style(intl(sShortDate="dd.MM.yyyy")),
                 "2008-06-11 15:12", 1048576, id="nb-no-nbsp"),
    pytest.param("2008-06-11  15:12         1 048 576 wsusscn2.cab", date_style(intl(sShortDate="yyyy-MM-dd")),
                 "2008-06-11 15:12", 1048576, id="sv-se"),
    pytest.param("11/06/2008  15:12         1.048.576 wsusscn2.cab", date_style(intl(iDate="1")),
                 "2008-06-11 15:12", 1048576, id="idate-dmy"),
    pytest.param("13/06/2008  15:12             2,048 WSUSSCN2.CAB", DateStyle(), "2008-06-13 15:12", 2048,
                 id="no-style-but-unambiguous"),
    pytest.param("06/11/2008  15:12             2,048 wsusscn2.cab", DateStyle(), None, 2048,
                 id="no-style-and-ambiguous"),
])
def test_a_dir_line_is_read_in_the_accounts_date_format(line, style, written, size):
    """The date is read in the account's order (a day and month that could swap are not guessed)."""
    listing = f" Volume in drive C has no label.\r\n\r\n Directory of {FOLDER}\r\n\r\n{line}\r\n"
    stamp = file_stamp(listing, FOLDER, "wsusscn2.cab", style)
    assert stamp == FileStamp(FOLDER + r"\wsusscn2.cab", written, size)


def test_a_file_not_listed_or_a_folder_line_is_no_stamp():
    """Only the file's own line counts: `<DIR>` lines and hostile long lines are skipped."""
    listing = f"06/11/2008  03:12 AM    <DIR>          wsusscn2.cab\r\n{'x' * 10000} wsusscn2.cab\r\n"
    assert file_stamp(listing, FOLDER, "wsusscn2.cab", US) is None


def _reg3(key: str, values: list[tuple[str, str]]) -> bytes:
    return (key + "\r\n" + "".join(f"    {n}\tREG_SZ\t{v}\r\n" for n, v in values) + "\r\n").encode()


UPDATES = (b"\r\n! REG.EXE VERSION 3.0\r\n\r\n"
           + _reg3(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Updates\Windows Server 2003\SP3\KB925902",
                   [("Description", "Security Update (KB925902)")])
           + _reg3("HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Updates\\System Center Configuration Manager 2007"
                   "\\SP1\\KB951376", [("Description", "Hotfix (KB951376)"), ("InstalledDate", "6/20/2008")]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_registrations_are_found_however_the_replies_cut_the_stream(cuts):
    """Only the key block naming the KB is kept, wherever the Receive replies split reg.exe's output."""
    sink, pos, i = KbBlocks("951376"), 0, 0
    while pos < len(UPDATES):
        step = cuts[i % len(cuts)]
        sink.feed(UPDATES[pos:pos + step])
        pos, i = pos + step, i + 1
    assert registrations(bytes(sink.data).decode()) == (
        r"HKLM\SOFTWARE\Microsoft\Updates\System Center Configuration Manager 2007\SP1\KB951376: "
        "Description=Hotfix (KB951376); InstalledDate=6/20/2008",)
    assert sink.seen == len(UPDATES)


def test_a_huge_updates_key_is_filtered_in_bounded_memory():
    """Thousands of other hotfixes pass through; what is kept stays under its cap, the KB's block in it."""
    sink = KbBlocks("951376")
    other = _reg3(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Updates\X\KB1", [("Description", "x" * 200)])
    for _ in range(20000):
        sink.feed(other)
    sink.feed(UPDATES)
    assert len(sink.data) <= MAX_KEPT and b"KB951376" in sink.data and sink.seen > 4_000_000


def test_an_uninstall_listing_keeps_each_subkey_naming_the_kb():
    """`reg query ...\\Uninstall` lists subkey names only: each one naming the KB is a registration."""
    sink = KbBlocks("951376")
    root = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
    sink.feed(f"\r\n{root}\\KB925902\r\n{root}\\KB951376\r\n{root}\\SCCM-KB951376-ENU\r\n".encode())
    assert registrations(bytes(sink.data).decode()) == (
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\KB951376",
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\SCCM-KB951376-ENU")


def _pe(version: tuple[int, int, int, int]) -> bytes:
    a, b, c, d = version
    fixed = struct.pack("<4I", 0xFEEF04BD, 0x10000, (a << 16) | b, (c << 16) | d)
    return b"MZ" + bytes(3000) + "VS_VERSION_INFO".encode("utf-16-le") + b"\0\0\0\0" + fixed + bytes(900)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4000))
def test_the_version_is_found_wherever_a_reply_ends(cut):
    """VS_FIXEDFILEINFO's file version comes out whole, however the program's bytes are split."""
    data, finder = _pe((4, 0, 6221, 1193)), VersionFinder()
    finder.feed(data[:cut])
    finder.feed(data[cut:])
    assert finder.version == "4.0.6221.1193" and finder.seen == len(data)


def test_a_program_without_a_version_resource_has_none():
    """No resource (or its key without the fixed info after it): no version, no error."""
    finder = VersionFinder()
    finder.feed(b"MZ" + bytes(5000) + "VS_VERSION_INFO".encode("utf-16-le") + bytes(200))
    assert finder.version is None


def _read(**extra: KeyAnswer) -> RegistryRead:
    return RegistryRead({}, {}, dict(extra))


def test_itmu_is_found_through_its_packagesrc_shares():
    """PackageSrc and PackageSrc_1 shares name PkgSource folders (reg.exe 3.0 joins a REG_MULTI_SZ with \\0)."""
    path = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\lanmanserver\Shares"
    shares = RegKey(path, (
        RegValue("SMS_CEN", "REG_MULTI_SZ", ("Path=C:\\SMS",)),
        RegValue("PackageSrc", "REG_MULTI_SZ", ("CSCFlags=0", "Path=D:\\ITMU\\PkgSource", "Type=0")),
        RegValue("PackageSrc_1", "REG_MULTI_SZ", ("Path=E:\\Old\\PkgSource\\",)),
    ))
    assert package_sources(_read(shares=KeyAnswer(path, shares))) == (
        "D:\\ITMU\\PkgSource", "E:\\Old\\PkgSource")
    assert package_sources(_read(shares=KeyAnswer(path, None))) == ()
    assert package_sources(_read(shares=KeyAnswer(path, None, denied="Access is denied."))) is None


def _sections(**texts: str) -> dict[str, TailBuffer]:
    out: dict[str, TailBuffer] = {}
    for name, text in texts.items():
        buf = TailBuffer(1 << 20)
        buf.feed(text.encode())
        out[name.replace("_failed", ".failed")] = buf
    return out


PLAN = sitefiles.Plan((FOLDER,), True, r"C:\CM\bin\i386\updatewuscatalog.exe", "951376")


@pytest.mark.parametrize(("answer", "installed"), [
    pytest.param("The system cannot find the path specified.\r\n", False, id="absent"),
    pytest.param("Access is denied.\r\n", None, id="unreadable"),
])
def test_an_itmu_folder_that_is_not_there_is_told_from_one_not_readable(answer, installed):
    """A folder is absent only in this host's own words for "not found" (the dir probes); else not known."""
    sections = _sections(dprobe="File Not Found\r\n", dprobe_failed="", dpprobe="The system cannot find the path "
                         "specified.\r\n", dpprobe_failed="", itmu0=answer, itmu0_failed="")
    assert sitefiles.read(sections, PLAN, "utf-8", US, "").itmu_installed is installed


def test_the_follow_up_runs_only_where_the_logs_and_the_hotfixs_traces_call_for_it():
    """No follow-up on a healthy host; the program's version only where the log shows the advisory's failure and the
    hotfix left a trace (registered, or the program written since its release); a catalog in an unlisted folder."""
    log = (b"Processing security catalog " + FOLDER.encode() + b"\\wsusscn2.cab ...  $$<X><06-20-2008 02:00:00.000+0>"
           b"<thread=1>\r\n")
    def ask(logs: list[bytes], files: sitefiles.SiteFiles) -> sitefiles.FollowUp:
        return sitefiles.follow_up(logs, files, PLAN, b"CreateUpdateNode", "2008-06-17", lambda p: True)

    original = sitefiles.SiteFiles(True, FOLDER, None, FileStamp(PLAN.program or "", "2008-01-15 10:42"), (),
                                   (FOLDER,))
    failing = log + b"Error 0x80004005 ... CreateUpdateNode\r\n"
    assert ask([log], original).parts("n") == [] and ask([failing], original).parts("n") == []
    renewed = sitefiles.SiteFiles(True, FOLDER, None, FileStamp(PLAN.program or "", "2008-06-24 14:30"), (),
                                  (FOLDER,))
    assert ask([failing], renewed) == sitefiles.FollowUp(None, PLAN.program)
    registered = sitefiles.SiteFiles(True, FOLDER, None, original.program, ("HKLM\\...\\KB951376",), (FOLDER,))
    assert ask([failing], registered) == sitefiles.FollowUp(None, PLAN.program)
    assert ask([log], registered).program is None
    elsewhere = log.replace(FOLDER.encode(), rb"D:\Moved\PkgSource")
    assert ask([elsewhere], original).folder == r"D:\Moved\PkgSource"


@pytest.mark.parametrize("line", [
    pytest.param(b"Processing security catalog C:\\PkgSource\\wsusscn2.cab ...", id="english"),
    pytest.param(b"Behandler sikkerhetskatalogen C:\\PkgSource\\wsusscn2.cab ...", id="norwegian"),
    pytest.param(b'Started with command line: C:\\CM\\updatewuscatalog.exe /i "C:\\PkgSource\\wsusscn2.cab" /s',
                 id="quoted-after-another-path"),
])
def test_the_catalog_the_log_names_is_found_in_any_language(line):
    """The path comes from the wsusscn2.cab it ends in, not from the words around it."""
    assert sitefiles.named_catalog(b"x\r\n" + line + b"\r\n") == r"C:\PkgSource\wsusscn2.cab"
    assert sitefiles.named_catalog(b"no catalog here") is None


def test_a_saved_registry_tells_a_database_a_missing_one_and_not_knowing():
    """`check --registry`: the SQL Server key found, absent from a listing of the SMS key, or not listed at all."""
    setup = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Setup\r\n    Type    REG_DWORD    0x2\r\n\r\n"
    ident = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\Identification\r\n    Site Code    REG_SZ    SEC\r\n\r\n"
    sql = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SMS\\SQL Server\r\n    Server    REG_SZ    SQL01\r\n\r\n"
    assert read_saved_registry(setup, "951376").site_database is None
    assert read_saved_registry(ident + setup, "951376").site_database is False
    saved = read_saved_registry(ident + setup + sql, "951376")
    assert (saved.setup_found, saved.site_type, saved.site_database, saved.hotfix) == (True, "2", True, None)
