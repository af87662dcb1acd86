"""Collection fixes from the review of issue 21: dir lines in any locale read right or not dated at all, the catalog's
exact name, ITMU found whatever share name its setup took, and the registry filter linear on long lines."""

from __future__ import annotations

import time

import pytest

from scanner.model.records import FileStamp
from scanner.winrm import sitefiles
from scanner.winrm.dirlist import DateStyle, date_style, file_stamp
from scanner.winrm.hotfix import MAX_BLOCK, KbBlocks, registrations
from scanner.winrm.markers import TailBuffer
from scanner.winrm.regparse import RegKey, RegValue

FOLDER = r"C:\Program Files\Microsoft Updates Inventory Tool\PkgSource"


def intl(**values: str) -> RegKey:
    return RegKey(r"HKEY_CURRENT_USER\Control Panel\International",
                  tuple(RegValue(k, "REG_SZ", v) for k, v in values.items()))


def stamp(line: str, style: DateStyle, name: str = "wsusscn2.cab") -> FileStamp | None:
    listing = f" Directory of {FOLDER}\r\n\r\n{line}\r\n               1 File(s)\r\n"
    return file_stamp(listing, FOLDER, name, style)


@pytest.mark.parametrize(("line", "style", "written", "size"), [
    pytest.param("2008-06-24  오후 02:30         2,301,048 wsusscn2.cab",
                 date_style(intl(sShortDate="yyyy-MM-dd", s1159="오전", s2359="오후")), "2008-06-24 14:30", 2301048,
                 id="ko-kr-pm-before-the-time"),
    pytest.param("2008/06/24  下午 02:30         2,301,048 wsusscn2.cab",
                 date_style(intl(sShortDate="yyyy/M/d", s1159="上午", s2359="下午")), "2008-06-24 14:30", 2301048,
                 id="zh-tw-pm-before-the-time"),
    pytest.param("2008. 06. 24.  14:30         2 301 048 wsusscn2.cab",
                 date_style(intl(sShortDate="yyyy. MM. dd.")), "2008-06-24 14:30", 2301048, id="hu-hu"),
    pytest.param("24/06/2008  02:30 p. m.      2,301,048 wsusscn2.cab",
                 date_style(intl(sShortDate="dd/MM/yyyy", s1159="a. m.", s2359="p. m.")), "2008-06-24 14:30",
                 2301048, id="es-mx-p-m"),
    pytest.param("24/06/2008  02:30 p. m.      2,301,048 wsusscn2.cab", date_style(intl(sShortDate="dd/MM/yyyy")),
                 "2008-06-24 14:30", 2301048, id="es-mx-p-m-without-its-words"),
    pytest.param("2008-06-24  오후 02:30         2,301,048 wsusscn2.cab", date_style(intl(sShortDate="yyyy-MM-dd")),
                 "2008-06-24", 2301048, id="unknown-marker-no-time"),
])
def test_localised_dir_lines_are_read_right_or_not_dated(line, style, written, size):
    """AM/PM before the time, spaced dates, `p. m.`: read as the locale writes them; a marker this account's words
    do not name leaves the time out rather than put it 12 hours off."""
    assert stamp(line, style) == FileStamp(FOLDER + r"\wsusscn2.cab", written, size)


def test_only_the_file_of_that_exact_name_counts():
    """A `Copy of wsusscn2.cab` dated later says nothing about the catalog itself."""
    us = DateStyle("MDY")
    listing_line = "06/20/2008  09:00 AM         2,301,048 Copy of wsusscn2.cab"
    assert stamp(listing_line, us) is None
    both = listing_line + "\r\n05/14/2008  03:12 AM         2,201,000 wsusscn2.cab"
    assert stamp(both, us) == FileStamp(FOLDER + r"\wsusscn2.cab", "2008-05-14 03:12", 2201000)


def _sections(**texts: str) -> dict[str, TailBuffer]:
    out: dict[str, TailBuffer] = {}
    for name, text in texts.items():
        buf = TailBuffer(1 << 20)
        buf.feed(text.encode())
        out[name.replace("_failed", ".failed")] = buf
    return out


def test_itmu_is_the_share_that_holds_the_catalog():
    """Another program's PackageSrc share (no catalog, not PkgSource) is passed over; PackageSrc_1 is ITMU's."""
    other, itmu = r"D:\Packages\Source", r"E:\ITMU\PkgSource"
    plan = sitefiles.plan((other, itmu), {"PROGRAMFILES": r"C:\Program Files"}, r"C:\CM", "951376", lambda p: True)
    assert plan.folders == (other, itmu, FOLDER)
    sections = _sections(itmu0="06/01/2007  10:00 AM           102 setup.exe\r\n",
                         itmu1="05/14/2008  03:12 AM         2,201,000 wsusscn2.cab\r\n",
                         itmu2="The system cannot find the path specified.\r\n", itmu2_failed="",
                         dprobe="File Not Found\r\n", dprobe_failed="",
                         dpprobe="The system cannot find the path specified.\r\n", dpprobe_failed="")
    files = sitefiles.read(sections, plan, "utf-8", DateStyle("MDY"), "")
    assert (files.itmu_installed, files.itmu_folder) == (True, itmu)
    assert files.catalog == FileStamp(itmu + r"\wsusscn2.cab", "2008-05-14 03:12", 2201000)
    alone = _sections(itmu0="06/01/2007  10:00 AM           102 setup.exe\r\n", itmu1="", itmu1_failed="",
                      itmu2="", itmu2_failed="")
    assert sitefiles.read(alone, plan, "utf-8", DateStyle("MDY"), "").itmu_installed is not True


def test_a_line_of_megabytes_is_skipped_in_linear_time():
    """64 MB of one registry value line in 8 KB replies: skipped as it streams past, the KB's block after it kept."""
    sink = KbBlocks("951376")
    sink.feed(b"\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Updates\\Big\r\n    Blob    REG_SZ    ")
    chunk = b"x" * 8192
    started = time.perf_counter()
    for _ in range(8192):
        sink.feed(chunk)
        assert len(sink._pending) < MAX_BLOCK  # bounded while it streams
    sink.feed(b"\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Updates\\SMS\\SP1\\KB951376\r\n"
              b"    Description    REG_SZ    Hotfix\r\n\r\n")
    assert time.perf_counter() - started < 20  # linear: well under a second; quadratic took minutes
    assert registrations(bytes(sink.data).decode()) == (
        r"HKLM\SOFTWARE\Microsoft\Updates\SMS\SP1\KB951376: Description=Hotfix",)
