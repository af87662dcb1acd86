"""Raw logs kept as evidence: gzip per host under the run folder, with the SHA-256 of the raw bytes.

An admin attaches `evidence/<host>/wsyncmgr.log.gz` to a ticket and anyone can check it against the
hash in results.json (`gunzip -c | sha256sum`). Files are written to a temporary name and renamed,
so an interrupted run never leaves a half-written copy under the final name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from pathlib import Path, PureWindowsPath

from scanner.model.records import LogFileFact

EVIDENCE_DIR = "evidence"
GZIP_LEVEL = 3  # measured (bench_cpu): half the CPU of level 6 on a 330 KB wsyncmgr.log, output 12% bigger
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(text: str, fallback: str = "host") -> str:
    """A file-name component on Linux and Windows alike (no separators, no `..`, bounded length)."""
    cleaned = _UNSAFE.sub("_", text).strip("._")[:100]
    return cleaned or fallback


def host_dir_name(stable_name: str) -> str:
    """The host's evidence folder: its name when that is already safe, else a safe form plus a hash of
    the real name, so two hosts whose names differ only in replaced characters never share a folder."""
    plain = stable_name.replace(":", "_")
    cleaned = safe_component(plain)
    if cleaned == plain:
        return cleaned
    return f"{cleaned[:90]}-{hashlib.sha256(stable_name.encode('utf-8')).hexdigest()[:8]}"


def save_log(run_dir: Path, host_key: str, remote_path: str, data: bytes, *, truncated: bool) -> LogFileFact:
    """Write `data` gzipped under run_dir/evidence/<host>/ and describe it for results.json."""
    digest = hashlib.sha256(data).hexdigest()
    folder = run_dir / EVIDENCE_DIR / host_dir_name(host_key)
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_component(PureWindowsPath(remote_path).name, "log") + ".gz"
    target = folder / name
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with (os.fdopen(fd, "wb") as raw,
              gzip.GzipFile(filename=name[:-3], mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz):
            gz.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return LogFileFact(path=remote_path, size=len(data), sha256=digest, truncated=truncated,
                       saved_as=target.relative_to(run_dir).as_posix())
