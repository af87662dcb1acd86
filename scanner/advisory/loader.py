"""Advisories as data: validate the bytes of `scanner/advisory/data/<id>.toml` (scanner.scan reads the file).

Validation happens once, at load, so the engine can trust every field; a bad file is a one-line
AdvisoryFileError naming the file and the key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from scanner.advisory.builds import BuildRange, BuildStatus, classify, parse_version
from scanner.advisory.cases import Case
from scanner.model.errors import AdvisoryFileError
from scanner.model.records import Verdict
from scanner.model.toml_text import TomlTextError, parse_toml

DEFAULT_ADVISORY = "ms-954474"
MAX_ADVISORY_BYTES = 1 << 20
ENGINE_VERDICTS = tuple(v for v in Verdict if v is not Verdict.ERROR)  # ERROR belongs to the scan
CAUSE = "{cause}"  # in a verdict's headline: what made the verdict so, filled in by the engine


@dataclass(frozen=True, slots=True)
class Signatures:
    """What a legacy sync attempt and the advisory's failure look like in the sync log."""

    start_statmsg: frozenset[int]
    start_text: tuple[str, ...]
    done_statmsg: frozenset[int]
    failed_statmsg: frozenset[int]
    summary: re.Pattern[str]
    failure_all_of: tuple[str, ...]
    failure_details: tuple[re.Pattern[str], ...]  # the update id, first pattern that matches
    hresult: re.Pattern[str]  # an error code
    error_words: tuple[str, ...]  # an HRESULT after one of these (any case) is on an error line; () = every line
    error_severity: re.Pattern[str] | None  # a CMTrace error entry (type="3")
    warning_words: tuple[str, ...] = ()  # one of these before the error word: a warning, not an error line

    sync_start_statmsg: frozenset[int] = frozenset()  # a regular sync cycle's start (6701)...
    sync_done_statmsg: frozenset[int] = frozenset()  # ...and its done message (6702)
    unverified_statmsg: frozenset[int] = frozenset()  # ids whose meaning no public source confirms (6710, 6711)
    cycle_settle: timedelta = timedelta(minutes=10)  # how long after a 6702 a legacy sync would have started
    catalog: re.Pattern[str] | None = None  # the wsusscn2.cab path a legacy sync names
    catalog_text: tuple[str, ...] = ()  # the line naming the catalog it processes ("Processing security catalog")

    @property
    def statmsg_ids(self) -> frozenset[int]:
        return self.start_statmsg | self.done_statmsg | self.failed_statmsg


@dataclass(frozen=True, slots=True)
class SiteTypes:
    """How Setup\\Type codes a site's role, and where that coding comes from (said with every use of it)."""

    primary: frozenset[str]
    secondary: frozenset[str]
    source: str


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
    catalog_cutoff: date | None = None  # a legacy sync must have processed a catalog from this date on
    site_types: SiteTypes | None = None
    case_remediation: dict[str, str] = field(default_factory=dict)  # per case of the engine: what to do beyond that


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
        catalog_cutoff=v.date("catalog_cutoff") if "catalog_cutoff" in doc else None,
        site_types=v.site_types("site_type") if "site_type" in doc else None,
        case_remediation=v.case_remediation("case_remediation") if "case_remediation" in doc else {},
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
        optional = self._optional_signatures(t, p)
        return Signatures(
            start_statmsg=self.ints("start_statmsg", t, p),
            start_text=self.texts("start_text", t, p, ascii_only=True) if "start_text" in t else (),
            done_statmsg=self.ints("done_statmsg", t, p),
            failed_statmsg=self.ints("failed_statmsg", t, p),
            summary=self.pattern("summary_pattern", t, p),
            failure_all_of=self.texts("failure_all_of", t, p, ascii_only=True),
            sync_start_statmsg=self.ints("sync_start_statmsg", t, p),
            sync_done_statmsg=self.ints("sync_done_statmsg", t, p),
            **optional,
        )

    def _optional_signatures(self, t: dict[str, Any], p: str) -> dict[str, Any]:
        """The keys a file may leave out; each has a default that claims nothing."""
        fields: dict[str, Any] = {
            "failure_details": tuple(self.pattern_list("failure_detail_patterns", t, p)),
            "hresult": self.pattern("hresult_pattern", t, p) if "hresult_pattern" in t else
            re.compile(r"\b0[xX]8[0-9A-Fa-f]{7}\b"),
            "error_words": self.words("error_words", t, p),
            "warning_words": self.words("warning_words", t, p),
            "catalog_text": self.texts("catalog_text", t, p, ascii_only=True) if "catalog_text" in t else (),
            "error_severity": self.pattern("error_severity_pattern", t, p) if "error_severity_pattern" in t else None,
            "catalog": self.pattern("catalog_pattern", t, p) if "catalog_pattern" in t else None,
        }
        if "unverified_statmsg" in t:
            fields["unverified_statmsg"] = self.ints("unverified_statmsg", t, p)
        if "cycle_settle_minutes" in t:
            minutes = self.get("cycle_settle_minutes", t, p)
            if type(minutes) is not int or not 0 < minutes <= 24 * 60:
                raise self.fail(p + "cycle_settle_minutes", "must be a whole number of minutes from 1 to 1440")
            fields["cycle_settle"] = timedelta(minutes=minutes)
        return fields

    def words(self, key: str, table: dict[str, Any], prefix: str) -> tuple[str, ...]:
        """Words of any script, matched without case (absent: none)."""
        if key not in table:
            return ()
        words = tuple(w.casefold() for w in self.texts(key, table, prefix))
        if any(not w.isprintable() or w != w.strip() for w in words):
            raise self.fail(prefix + key, "words must be printable, without surrounding spaces")
        return words

    def pattern_list(self, key: str, table: dict[str, Any], prefix: str) -> list[re.Pattern[str]]:
        """Regular expressions with one group each (absent: none)."""
        if key not in table:
            return []
        patterns = []
        for text in self.texts(key, table, prefix, ascii_only=True):
            try:
                pattern = re.compile(text)
            except re.error as exc:
                raise self.fail(prefix + key, f"not a valid regular expression: {exc}") from exc
            if pattern.groups != 1:
                raise self.fail(prefix + key, "each pattern must capture exactly one group (the update id)")
            patterns.append(pattern)
        return patterns

    def site_types(self, key: str) -> SiteTypes:
        t, p = self.table(key), f"{key}."
        primary, secondary = (frozenset(self.texts(k, t, p)) for k in ("primary", "secondary"))
        if primary & secondary:
            raise self.fail(p + "secondary", "a value cannot mean both primary and secondary")
        return SiteTypes(primary, secondary, self.text("source", t, p))

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

    def case_remediation(self, key: str) -> dict[str, str]:
        """Texts keyed by the engine's cases (a key that names none is refused)."""
        t = self.table(key)
        known = {c.value for c in Case}
        for name in sorted(t):
            if name not in known:
                raise self.fail(f"{key}.{name}", "not a case the engine knows (scanner/advisory/cases.py)")
        return {name: self.text(name, t, f"{key}.") for name in t}

    def verdict_text(self, key: str) -> dict[str, str]:
        """One headline per verdict; `{cause}` (at most once, no other braces) is where the engine names the cause."""
        t = self.table(key)
        texts = {v.value: self.text(v.value, t, f"{key}.") for v in ENGINE_VERDICTS}
        extra = sorted(set(t) - set(texts))
        if extra:
            raise self.fail(f"{key}.{extra[0]}", "not a verdict the engine gives")
        for name, text in texts.items():
            rest = text.replace(CAUSE, "", 1)
            if "{" in rest or "}" in rest:
                raise self.fail(f"{key}.{name}", f"braces are only allowed as one {CAUSE}")
        return texts
