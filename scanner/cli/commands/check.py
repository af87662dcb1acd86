"""`cmaudit check`: judge wsyncmgr.log / wsyncmgr.lo_ files copied by hand, with no network at all."""

from __future__ import annotations

import argparse
import codecs
import gzip
import json
import os
import stat
import sys
import zlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from reports.terminal import clean
from scanner.advisory.engine import evaluate
from scanner.advisory.loader import Advisory
from scanner.advisory.timeline import older_first
from scanner.model.errors import LogFileError
from scanner.model.records import FileStamp, Judgement, Verdict, judgement_to_dict
from scanner.model.snapshot import LogBlob, Snapshot
from scanner.scan.advisory_file import load_advisory
from scanner.winrm.registry import SavedRegistry, read_saved_registry

HELP = "judge wsyncmgr.log/.lo_ files offline (exit 0 clean, 1 finding, 2 unknown, 64 bad usage)"
ORDER = 20
EXIT_STATUS = """Exit status (the verdict of the files given):
  0   NOT_AFFECTED, NOT_APPLICABLE or RECOVERED
  1   AFFECTED or AT_RISK (a finding)
  2   UNKNOWN (the build is unknown and the logs cannot decide)
  64  bad usage, or a file that cannot be read
  70  cmaudit itself failed (a bug): one line names the file holding the traceback
  130 interrupted (Ctrl-C)"""
MAX_LOG_BYTES = 64 << 20  # a real wsyncmgr.log is a few MB; beyond this only the tail is judged
MAX_GZIP_BYTES = 1 << 30  # decompressed: far beyond any log, short of a decompression bomb
GZIP_MAGIC = b"\x1f\x8b"
MAX_REGISTRY_FILE = 16 << 20  # a saved `reg query` of the SMS and Updates keys is a few hundred KB

EXIT_CODES = {
    Verdict.NOT_AFFECTED: 0, Verdict.NOT_APPLICABLE: 0, Verdict.RECOVERED: 0,
    Verdict.AFFECTED: 1, Verdict.AT_RISK: 1,
    Verdict.UNKNOWN: 2, Verdict.ERROR: 2,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="wsyncmgr.log and/or wsyncmgr.lo_, in any order; also the .gz copies a scan keeps "
                             "under evidence/")
    parser.add_argument("--full-version", metavar="BUILD", dest="full_version",
                        help="the site's Full Version (e.g. 4.00.6221.1000); without it the build is unknown")
    parser.add_argument("--registry", type=Path, metavar="FILE",
                        help="the output of `reg query HKLM\\SOFTWARE\\Microsoft\\SMS /s` saved on the site server "
                             "(and of HKLM\\SOFTWARE\\Microsoft\\Updates /s): the build, the site's role (Setup\\Type, "
                             "the SQL Server key) and any KB 951376 registration")
    parser.add_argument("--catalog-date", type=_date, metavar="YYYY-MM-DD", dest="catalog_date",
                        help="the date `dir` shows for ITMU's PkgSource\\wsusscn2.cab (the catalog legacy sync reads)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--advisory", type=Path, metavar="TOML", help="another advisory file (default: ms-954474)")


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _registry_snapshot(path: Path | None, kb: str) -> SavedRegistry:
    """What a saved `reg query` output says (nothing without --registry)."""
    if path is None:
        return SavedRegistry()
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_REGISTRY_FILE)
    except OSError as exc:
        raise LogFileError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
                       (codecs.BOM_UTF8, "utf-8")):
        if raw.startswith(bom):
            text = raw[len(bom):].decode(codec, "replace")
            break
    else:
        text = raw.decode("utf-8") if _utf8(raw) else raw.decode("cp1252", "replace")
    saved = read_saved_registry(text, kb)
    if saved.setup_found is None and saved.hotfix is None:
        raise LogFileError(str(path), "holds no `reg query` output of the SMS Setup key or the Updates key")
    return saved


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_log(path: str, limit: int = MAX_LOG_BYTES) -> LogBlob:
    """A log file's bytes, tail-capped at `limit` (the newest lines matter most); LogFileError if unreadable.

    A gzip file (the `evidence/<host>/*.gz` copies a scan keeps) is read decompressed.
    """
    try:
        with open(path, "rb") as fh:
            if fh.peek(2)[:2] == GZIP_MAGIC:  # peek: a pipe cannot seek back
                return _read_gzip(fh, path, limit)
            st = os.fstat(fh.fileno())
            size = st.st_size
            if size > limit:
                fh.seek(size - limit)
                _warn_cut(path, size, limit)
                return LogBlob(path, fh.read(limit), truncated=True, size=size)
            # read(n) would allocate n bytes up front: read a regular file whole (its size is known)
            return LogBlob(path, fh.read() if stat.S_ISREG(st.st_mode) else fh.read(limit), size=size)
    except IsADirectoryError as exc:
        raise LogFileError(path, "is a directory, not a log file") from exc
    except OSError as exc:
        raise LogFileError(path, f"cannot read: {exc.strerror or exc}") from exc


def _warn_cut(path: str, size: int, limit: int) -> None:
    print(f"cmaudit: warning: {path} is {size} bytes; judging only its last {limit} bytes", file=sys.stderr)


def _read_gzip(fh: BinaryIO, path: str, limit: int) -> LogBlob:
    """The decompressed log, tail-capped like a plain one; a file past MAX_GZIP_BYTES is refused."""
    tail, total = bytearray(), 0
    try:
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            while chunk := gz.read(1 << 20):
                total += len(chunk)
                if total > MAX_GZIP_BYTES:
                    raise LogFileError(path, f"decompresses to more than {MAX_GZIP_BYTES} bytes; not a log")
                tail += chunk
                if len(tail) > limit:
                    del tail[: len(tail) - limit]
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise LogFileError(path, f"not a readable gzip file: {exc}") from exc
    if total > limit:
        _warn_cut(path, total, limit)
    return LogBlob(path, bytes(tail), truncated=total > limit, size=total)


def run(args: argparse.Namespace) -> int:
    advisory = load_advisory(args.advisory)
    names = older_first(dict.fromkeys(args.files))  # a file named twice counts once
    logs = tuple(read_log(p, MAX_LOG_BYTES) for p in names)
    # Files given by hand: whether an SMS Setup key exists is not known, the build only if given (or saved).
    saved = _registry_snapshot(args.registry, advisory.kb)
    catalog = FileStamp(path="", written=args.catalog_date) if args.catalog_date else None
    snapshot = Snapshot(build=args.full_version or saved.build, setup_key_found=saved.setup_found, logs=logs,
                        site_type=saved.site_type, site_database=saved.site_database, hotfix=saved.hotfix,
                        catalog=catalog, taken_at=datetime.now(UTC))
    judgement = evaluate(snapshot, advisory)
    if args.json:
        doc = judgement_to_dict(judgement)
        doc["files"] = [b.name for b in logs]
        doc["kb"], doc["kb_url"], doc["remediation"] = advisory.kb, advisory.kb_url, judgement.remediation
        json.dump(doc, sys.stdout)  # ASCII with \u escapes: safe on any console code page
        sys.stdout.write("\n")
    else:
        print_human(judgement, advisory, sys.stdout)
    return EXIT_CODES[judgement.verdict]


def print_human(j: Judgement, advisory: Advisory, out: TextIO) -> None:
    """Verdict, reasons, then the evidence lines as `file:line  time  [role]  text`."""
    build = "unknown (use --full-version)" if j.build is None else f"{j.build} ({j.build_name or 'unlisted'})"
    window = f"{j.window.first} .. {j.window.last}" if j.window else "no dated entries"
    print(f"{j.verdict.value}  ({advisory.id}, KB {advisory.kb})", file=out)
    print(f"build:   {build}", file=out)
    print(f"window:  {window}", file=out)
    print("reasons:", file=out)
    for r in j.reasons:
        print(f"  - {clean(r)}", file=out)  # reasons quote log lines: the log must not drive the terminal
    if j.evidence:
        print("evidence:", file=out)
        for e in j.evidence:
            first_line = e.text.splitlines()[0] if e.text else ""
            where = f"{clean(e.file)}:{e.line}  {e.time or '-'}" if e.line else clean(e.file)  # line 0: not a log line
            print(f"  {where}  [{e.role}]  {clean(first_line, 300)}", file=out)
    if j.remediation:
        print(f"remediation: {j.remediation}", file=out)
    if j.verdict.is_finding:
        print(f"see: {advisory.kb_url}", file=out)
