"""Report files are replaced all at once: a failed write never leaves a half file or litter."""

from __future__ import annotations

import os

import pytest

from reports.atomic import atomic_write_bytes, atomic_write_text


def test_write_creates_and_replaces(tmp_path):
    """A new report appears with its full content, and a second write replaces it."""
    target = tmp_path / "report.csv"
    atomic_write_text(target, "first\n")
    atomic_write_bytes(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_failed_rename_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    """If the final rename fails, yesterday's report is still whole and no temp file lingers."""
    target = tmp_path / "report.html"
    target.write_text("old report", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new report")
    assert target.read_text(encoding="utf-8") == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    """A failure while the data is being flushed also leaves the old report untouched."""
    target = tmp_path / "results.json"
    target.write_bytes(b"{}")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b'{"new": true}')
    assert target.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
@pytest.mark.parametrize("umask, mode", [pytest.param(0o022, 0o644, id="022"), pytest.param(0o077, 0o600, id="077")])
def test_new_report_follows_the_umask_and_existing_mode_is_kept(tmp_path, umask, mode):
    """A new report gets the user's umask (0644 under 022, 0600 under 077); an existing report's mode is kept."""
    fresh = tmp_path / "report.html"
    old = os.umask(umask)
    try:
        atomic_write_text(fresh, "x")
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o777 == mode
    kept = tmp_path / "report.csv"
    kept.write_text("old")
    kept.chmod(0o600)
    atomic_write_text(kept, "new")
    assert kept.stat().st_mode & 0o777 == 0o600


def test_unencodable_text_does_not_fail(tmp_path):
    """A lone surrogate from a badly decoded log line cannot make the report write fail."""
    target = tmp_path / "r.txt"
    atomic_write_text(target, "bad \udcff byte")
    assert target.read_text(encoding="utf-8") == "bad ? byte"
