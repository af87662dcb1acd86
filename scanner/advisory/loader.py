"""Advisories as data: validate the bytes of `scanner/advisory/data/<id>.toml` (scanner.scan reads the file).

Validation happens once, at load, so the engine can trust every field; a bad file is a one-line
AdvisoryFileError naming the file and the key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from scanner.advisory.builds import BuildRange, BuildStatus, classify, parse_version
from scanner.model.errors import AdvisoryFileError
from scanner.model.records import Verdict
from scanner.model.toml_text import TomlTextError, parse_toml

DEFAULT_ADVISORY = "ms-954474"
MAX_ADVISORY_BYTES = 1 << 20
ENGINE_VERDICTS = tuple(v for v in Verdict if v is not Verdict.ERROR)  # ERROR belongs to the scan


@dataclass(frozen=True, slots=True)
class Signatures:
    """What a legacy sync attempt and the advisory's failure look like in the sync log."""

    start_statmsg: frozenset[int]
    start_text: tuple[str, ...]
    done_statmsg: frozenset[int]
    failed_statmsg: frozenset[int]
    summary: re.Pattern[str]
    failure_all_of: tuple[str, ...]
    failure_detail: re.Pattern[str] | None
    other_errors: tuple[re.Pattern[str], ...]

    sync_start_statmsg: frozenset[int] = frozenset()  # a regular sync cycle's start (6701)...
    sync_done_statmsg: frozenset[int] = frozenset()  # ...and its done message (6702)

    @property
    def statmsg_ids(self) -> frozenset[int]:
        return self.start_statmsg | self.done_statmsg | self.failed_statmsg


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    title: str
    kb: str
    kb_url: str
    published: date
    updated: date
    references: tuple[str, ...]
    remediation: str
    builds: tuple[BuildRange, ...]
    signatures: Signatures
    verdict_text: dict[str, str]
    verdict_remediation: dict[str, str]  # what to do per verdict needing action (AFFECTED, AT_RISK, UNKNOWN)
    sha256: str  # of the file as loaded, recorded with every run
    path: str


def parse_advisory(raw: bytes, *, source: str, expected_id: str) -> Advisory:
    """Validate an advisory file's bytes (pure: reading the file is the caller's job).

    Raises:
        AdvisoryFileError: not TOML, a missing/ill-typed key, or `id` not matching `expected_id` (the name).
    """
    where = source
    try:
        doc = parse_toml(raw, MAX_ADVISORY_BYTES)
    except TomlTextError as exc:
        raise AdvisoryFileError(where, None, str(exc)) from None
    v = _Validator(where, doc)
    advisory = Advisory(
        id=v.text("id"),
        title=v.text("title"),
        kb=v.text("kb"),
        kb_url=v.text("kb_url"),
        published=v.date("published"),
        updated=v.date("updated"),
        references=v.texts("references"),
        remediation=v.text("remediation"),
        builds=v.builds("builds"),
        signatures=v.signatures("signatures"),
        verdict_text=v.verdict_text("verdict_text"),
        verdict_remediation=v.verdict_remediation("verdict_remediation"),
        sha256=hashlib.sha256(raw).hexdigest(),
        path=where,
    )
    if advisory.id != expected_id:
        raise AdvisoryFileError(where, "id", f"{advisory.id!r} does not match the file name {expected_id!r}")
    if advisory.updated < advisory.published:
        raise AdvisoryFileError(where, "updated", "earlier than `published`")
    return advisory


def build_name(build: str | None, advisory: Advisory) -> str | None:
    """A readable name for a `Full Version` ("ConfigMgr 2007 SP1"), or None when no range names it."""
    _, match = classify(build, advisory.builds)
    return None if match is None else match.name


class _Validator:
    """Typed reads from the TOML document; every failure names the file and the dotted key."""

    def __init__(self, path: str, doc: dict[str, Any]) -> None:
        self.path, self.doc = path, doc

    def fail(self, key: str, message: str) -> AdvisoryFileError:
        return AdvisoryFileError(self.path, key, message)

    def get(self, key: str, table: dict[str, Any] | None = None, prefix: str = "") -> Any:
        table = self.doc if table is None else table
        if key not in table:
            raise self.fail(prefix + key, "missing")
        return table[key]

    def text(self, key: str, table: dict[str, Any] | None = None, prefix: str = "") -> str:
        value = self.get(key, table, prefix)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(prefix + key, "must be a non-empty string")
        return value

    def texts(self, key: str, table: dict[str, Any] | None = None, prefix: str = "", *,
              ascii_only: bool = False) -> tuple[str, ...]:
        value = self.get(key, table, prefix)
        if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
            raise self.fail(prefix + key, "must be a list of non-empty strings")
        if ascii_only and not all(x.isascii() for x in value):
            raise self.fail(prefix + key, "tokens must be ASCII (logs are searched as bytes)")
        return tuple(value)

    def date(self, key: str) -> date:
        value = self.get(key)
        if not isinstance(value, date):
            raise self.fail(key, "must be a TOML date (YYYY-MM-DD)")
        return value

    def ints(self, key: str, table: dict[str, Any], prefix: str) -> frozenset[int]:
        value = self.get(key, table, prefix)
        if not isinstance(value, list) or not value or not all(type(x) is int and x > 0 for x in value):
            raise self.fail(prefix + key, "must be a non-empty list of positive integers")
        return frozenset(value)

    def pattern(self, key: str, table: dict[str, Any], prefix: str) -> re.Pattern[str]:
        value = self.text(key, table, prefix)
        if not value.isascii():
            raise self.fail(prefix + key, "must be ASCII (logs are searched as bytes)")
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.fail(prefix + key, f"not a valid regular expression: {exc}") from exc

    def table(self, key: str) -> dict[str, Any]:
        value = self.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def builds(self, key: str) -> tuple[BuildRange, ...]:
        value = self.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(x, dict) for x in value):
            raise self.fail(key, "must be a non-empty array of tables ([[builds]])")
        ranges = []
        for i, item in enumerate(value):
            prefix = f"{key}[{i}]."
            start, below = (parse_version(self.text(k, item, prefix)) for k in ("from", "below"))
            if start is None or below is None or not start < below:
                raise self.fail(prefix + "from", "`from` and `below` must be dotted versions with from < below")
            status = self.text("status", item, prefix)
            allowed = [s.value for s in BuildStatus if s is not BuildStatus.UNKNOWN]
            if status not in allowed:
                raise self.fail(prefix + "status", f"must be one of {', '.join(allowed)}")
            ranges.append(BuildRange(self.text("name", item, prefix), start, below, BuildStatus(status)))
        return tuple(ranges)

    def signatures(self, key: str) -> Signatures:
        t, p = self.table(key), f"{key}."
        detail = self.pattern("failure_detail_pattern", t, p) if "failure_detail_pattern" in t else None
        others = self.texts("other_error_patterns", t, p, ascii_only=True)
        try:
            other_errors = tuple(re.compile(x) for x in others)
        except re.error as exc:
            raise self.fail(p + "other_error_patterns", f"not a valid regular expression: {exc}") from exc
        return Signatures(
            start_statmsg=self.ints("start_statmsg", t, p),
            start_text=self.texts("start_text", t, p, ascii_only=True) if "start_text" in t else (),
            done_statmsg=self.ints("done_statmsg", t, p),
            failed_statmsg=self.ints("failed_statmsg", t, p),
            summary=self.pattern("summary_pattern", t, p),
            failure_all_of=self.texts("failure_all_of", t, p, ascii_only=True),
            failure_detail=detail,
            other_errors=other_errors,
            sync_start_statmsg=self.ints("sync_start_statmsg", t, p),
            sync_done_statmsg=self.ints("sync_done_statmsg", t, p),
        )

    def verdict_remediation(self, key: str) -> dict[str, str]:
        """Required for the verdicts the engine gives that need action; optional for the others."""
        t = self.table(key)
        needed = [v for v in ENGINE_VERDICTS if v.is_finding or v.is_incomplete]
        texts = {v.value: self.text(v.value, t, f"{key}.") for v in needed}
        for name in sorted(set(t) - set(texts)):
            if name not in {v.value for v in ENGINE_VERDICTS}:
                raise self.fail(f"{key}.{name}", "not a verdict the engine gives")
            texts[name] = self.text(name, t, f"{key}.")
        return texts

    def verdict_text(self, key: str) -> dict[str, str]:
        t = self.table(key)
        texts = {v.value: self.text(v.value, t, f"{key}.") for v in ENGINE_VERDICTS}
        extra = sorted(set(t) - set(texts))
        if extra:
            raise self.fail(f"{key}.{extra[0]}", "not a verdict the engine gives")
        return texts
