"""Finding legacy sync attempts in a timeline, touching only the lines that matter.

Fast path: a few plain bytes searches for the rare tokens (the STATMSG ids, the start text, the
failure's rarest token) give line positions (`Hit`s) without decoding anything. Between the hits of an
open attempt, a bytes regex looks for the summary line and for another error, bounded by the attempt.
Only the handful of hits that end up as evidence are parsed into LogEntry records (Timeline.entry).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from scanner.advisory.loader import Signatures
from scanner.advisory.logs import LogBuffer
from scanner.advisory.timeline import Hit, Timeline


class Outcome(StrEnum):
    FAILED_ADVISORY = "failed-advisory"  # the advisory's failure signature
    # failed for another reason: 6711, a summary that processed nothing, or an error line and no status
    FAILED_OTHER = "failed-other"
    SUCCEEDED = "succeeded"


class Kind(StrEnum):
    START = "start"
    SIGNATURE = "signature"
    DONE = "done"
    FAILED = "failed"


_KIND_ORDER = {k: i for i, k in enumerate(Kind)}


@dataclass(slots=True)
class Attempt:
    """One legacy sync attempt; filled in while walking the timeline, read-only afterwards."""

    start: Hit | None  # None when the start was not in the logs (rolled away, tail-capped)
    signature: Hit | None = None
    other_error: Hit | None = None  # an error line (not a warning) before the summary
    summary: Hit | None = None
    summary_empty: bool = False  # the summary's processed count is 0: nothing was processed
    end: Hit | None = None  # the STATMSG done/failed line
    ended_ok: bool | None = None  # what that STATMSG line said, when there was one
    # A line of an attempt after an earlier attempt had ended and before any new start: it lies outside every
    # legacy sync attempt the logs show (an attempt with no start at the very beginning may have lost it).
    orphan: bool = False

    @property
    def outcome(self) -> Outcome | None:
        """The rules, in order: the advisory's error line beats any status (a 6710 never outweighs it); a lone
        status line outside every attempt (6710 or 6711) decides nothing; 6711; a summary that processed nothing;
        a summary that processed updates (with 6710, or without an error line); a 6710 alone (`status_only`: the
        verdict table asks for more before it clears a host)."""
        if self.signature is not None:
            return Outcome.FAILED_ADVISORY
        if self.orphan and self.eventless:
            return None
        if self.ended_ok is False:
            return Outcome.FAILED_OTHER
        if self.summary is not None:
            if self.summary_empty or (self.other_error is not None and self.ended_ok is not True):
                return Outcome.FAILED_OTHER
            return Outcome.SUCCEEDED
        if self.ended_ok is True:
            return Outcome.SUCCEEDED
        return None

    @property
    def status_only(self) -> bool:
        """Its outcome rests on a STATMSG id alone (no summary line, no error line)."""
        return self.summary is None and self.signature is None and self.end is not None

    @property
    def eventless(self) -> bool:
        return self.signature is None and self.other_error is None and self.summary is None

    @property
    def hits(self) -> list[Hit]:
        """Its lines the logs show, in file order."""
        found = [h for h in (self.start, self.signature, self.other_error, self.summary, self.end) if h is not None]
        return sorted(found, key=lambda h: (h.file, h.start))


@functools.lru_cache(maxsize=64)
def bytes_pattern(pattern: str) -> re.Pattern[bytes]:
    return re.compile(pattern.encode("ascii"))


STATMSG_PREFIX = b"STATMSG: ID="
_STATMSG_ID = re.compile(rb"STATMSG: ID=(\d{1,10})(?!\d)")


def _signature_at(buf: LogBuffer, index: int, pos: int, sig: Signatures) -> tuple[Hit | None, int]:
    """The failure signature around an anchor hit: all tokens on the line (or in its CMTrace message).

    Also answers where the bytes it settled end (the line, or the whole message), so the caller skips
    further anchors there: a line holding the anchor a thousand times is looked at once.
    """
    start = buf.line_start(pos)
    end = buf.line_end(start)
    if all(buf.buf.find(t.encode("ascii"), start, end) >= 0 for t in sig.failure_all_of):
        return Hit(index, start, end), end
    entry = buf.entry_at(pos, numbered=False)  # the tokens may sit on different lines of one CMTrace message
    if entry.lines > 1 and all(t in entry.text for t in sig.failure_all_of):
        return Hit(index, entry.start, entry.end), entry.end
    return None, max(end, entry.end)


def _hits(buf: LogBuffer, index: int, sig: Signatures, lo: int = 0, hi: int | None = None) -> list[tuple[Kind, Hit]]:
    """The start/signature/done/failed lines of one file between two line starts, in file order.

    A line is settled once per kind however many tokens it holds: the work stays linear in the file.
    """
    hi = len(buf.buf) if hi is None else hi
    found: dict[tuple[int, Kind], Hit] = {}
    settled: dict[Kind, int] = {}  # per kind, in the current search: where the last line added ends

    def add(kind: Kind, pos: int) -> None:
        if pos < settled.get(kind, -1):
            return
        start = buf.line_start(pos)
        end = buf.line_end(start)
        settled[kind] = end
        found.setdefault((start, kind), Hit(index, start, end))
        buf.stop.check()

    known = sig.statmsg_ids  # a property that builds a set: once, not per line
    for pos in buf.find_all(STATMSG_PREFIX, lo, hi):
        m = _STATMSG_ID.match(buf.buf, pos, hi)
        number = int(m.group(1)) if m else -1
        if number in sig.start_statmsg:
            add(Kind.START, pos)
        elif number in known:
            add(Kind.DONE if number in sig.done_statmsg else Kind.FAILED, pos)
    for token in sig.start_text:
        settled.clear()  # each search runs through the file in order once
        for pos in buf.find_all(token.encode("ascii"), lo, hi):
            add(Kind.START, pos)
    covered = -1
    for pos in buf.find_all(sig.failure_all_of[0].encode("ascii"), lo, hi):
        if pos < covered:
            continue
        hit, covered = _signature_at(buf, index, pos, sig)
        if hit is not None:
            found.setdefault((hit.start, Kind.SIGNATURE), hit)
        buf.stop.check()
    return [(k, found[(s, k)]) for s, k in sorted(found, key=lambda sk: (sk[0], _KIND_ORDER[sk[1]]))]


def _first_match(buf: LogBuffer, index: int, patterns: tuple[re.Pattern[str], ...], lo: int, hi: int) -> Hit | None:
    starts = [m.start() for p in patterns if (m := bytes_pattern(p.pattern).search(buf.buf, lo, hi))]
    if not starts:
        return None
    start = buf.line_start(min(starts))
    return Hit(index, start, buf.line_end(start))


class _HitCache:
    """Hits per file, extended backwards as the tail grows, so no byte is searched twice."""

    def __init__(self, timeline: Timeline, sig: Signatures) -> None:
        self.timeline, self.sig = timeline, sig
        self.lo: dict[int, int] = {}
        self.hits: dict[int, list[tuple[Kind, Hit]]] = {}

    def __call__(self, index: int, lo: int) -> list[tuple[Kind, Hit]]:
        buf = self.timeline.files[index]
        known = self.lo.get(index, len(buf.buf))
        if lo < known or index not in self.hits:
            self.hits[index] = _hits(buf, index, self.sig, lo, known) + self.hits.get(index, [])
            self.lo[index] = lo
        return [kh for kh in self.hits[index] if kh[1].start >= lo]


def _nothing_processed(buf: LogBuffer, sig: Signatures, hit: Hit) -> bool:
    """The summary's first count (updates processed) is 0."""
    m = bytes_pattern(sig.summary.pattern).search(buf.buf, hit.start, hit.end)
    first = re.search(rb"\d+", m.group()) if m is not None else None
    return first is not None and int(first.group()) == 0


# The ANSI code pages an 8-bit log of a non-Latin ConfigMgr may be written in (UTF-16 logs are searched as UTF-8).
_CODE_PAGES = ("utf-8", "cp1250", "cp1251", "cp1253", "cp1254", "cp932", "cp936", "cp949", "cp950")


def _forms(word: str) -> set[bytes]:
    """A non-ASCII word as a log's bytes may hold it: lower, upper and title case, in UTF-8 and each code page
    that can write it."""
    found: set[bytes] = set()
    for form in {word, word.lower(), word.upper(), word.capitalize()}:
        for codec in _CODE_PAGES:
            try:
                found.add(form.encode(codec))
            except UnicodeEncodeError:
                continue
    return found


_Trie = dict[int | None, "_Trie"]  # byte -> the rest; None: a form ends here


def _trie(forms: list[bytes]) -> bytes:
    """One pattern for many byte strings, as a trie: each position of a line tries a byte once, not every form."""
    root: _Trie = {}
    for form in forms:
        node = root
        for byte in form:
            node = node.setdefault(byte, {})
        node[None] = {}

    def emit(node: _Trie) -> bytes:
        branches = [re.escape(bytes([b])) + emit(child) for b, child in sorted(
            (k, v) for k, v in node.items() if k is not None)]
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        return b"(?:" + body + b")?" if None in node else body

    return emit(root)


@functools.lru_cache(maxsize=16)
def words_pattern(words: tuple[str, ...]) -> tuple[re.Pattern[bytes], ...]:
    """Patterns for any of `words` in a line's bytes: ASCII ones as whole words in any case; others in every form
    `_forms` gives (a bytes pattern knows neither their case nor their word boundaries), as one trie."""
    latin = [w.encode("ascii") for w in words if w.isascii()]
    other = sorted({f for w in words if not w.isascii() for f in _forms(w)})
    patterns = [re.compile(rb"(?i:\b(?:" + b"|".join(map(re.escape, latin)) + rb")\b)")] if latin else []
    return (*patterns, *([re.compile(_trie(other))] if other else []))


def _first_word(patterns: tuple[re.Pattern[bytes], ...], buf: bytes, lo: int, hi: int) -> re.Match[bytes] | None:
    found = [m for p in patterns if (m := p.search(buf, lo, hi)) is not None]
    return min(found, key=lambda m: m.start()) if found else None


def _is_error_line(buf: LogBuffer, start: int, end: int, sig: Signatures) -> bool:
    """An error word before an HRESULT, and no warning word before that error word. A CMTrace entry is never one
    here: its `type` attribute says whether it is an error (type 3, found by `error_severity`), whatever its text."""
    errors = words_pattern(sig.error_words)
    if errors:
        word = _first_word(errors, buf.buf, start, end)
        if word is None or bytes_pattern(sig.hresult.pattern).search(buf.buf, word.end(), end) is None:
            return False
        if _first_word(words_pattern(sig.warning_words), buf.buf, start, word.start()) is not None:
            return False
    return buf.entry_at(start, numbered=False).kind != "cmtrace"


def _error_line(buf: LogBuffer, index: int, sig: Signatures, lo: int, hi: int) -> Hit | None:
    """The first error line in [lo, hi): an HRESULT after an error word on its line, or a CMTrace error entry.

    Each line holding an HRESULT is settled once (a search for an error word in it, one for an HRESULT after
    that word), so a line of a thousand warnings costs what reading it once costs.
    """
    found: list[int] = []
    if sig.error_severity is not None:
        m = bytes_pattern(sig.error_severity.pattern).search(buf.buf, lo, hi)
        if m is not None:
            found.append(m.start())
            hi = m.start()
    hresult = bytes_pattern(sig.hresult.pattern)
    pos = lo
    while (m := hresult.search(buf.buf, pos, hi)) is not None:
        start = buf.line_start(m.start())
        end = min(buf.line_end(start), hi)
        if _is_error_line(buf, start, end, sig):
            found.append(start)
            break
        pos = end + 1
        buf.stop.check()
    if not found:
        return None
    start = buf.line_start(min(found))
    return Hit(index, start, buf.line_end(start))


class _Walk:
    """The walk through the hits of a timeline that builds the attempts (see find_attempts)."""

    def __init__(self, sig: Signatures) -> None:
        self.sig = sig
        self.attempts: list[Attempt] = []
        self.current: Attempt | None = None  # the attempt still waiting for its end

    def gap(self, buf: LogBuffer, index: int, lo: int, hi: int) -> None:
        """The lines between two hits: the open attempt's summary, and its first error line before that."""
        current, sig = self.current, self.sig
        if current is None or lo >= hi:
            return
        summary = _first_match(buf, index, (sig.summary,), lo, hi)
        if current.other_error is None and current.signature is None:
            current.other_error = _error_line(buf, index, sig, lo, hi if summary is None else summary.start)
        if summary is not None:
            current.summary = summary
            current.summary_empty = _nothing_processed(buf, sig, summary)
            self.current = None  # a STATMSG done/failed right after still belongs to it (see status)

    def startless(self, buf: LogBuffer, index: int, lo: int, hit: Hit) -> Attempt:
        """An attempt whose start is not in the logs; the first of the walk owns the lines before its first hit
        (its summary may be there), a later one lies outside every attempt (`orphan`)."""
        opened = self.current = Attempt(start=None, orphan=bool(self.attempts))
        self.attempts.append(opened)
        if not opened.orphan:
            self.gap(buf, index, lo, hit.start)
        return opened

    def hit(self, buf: LogBuffer, index: int, lo: int, kind: Kind, hit: Hit) -> None:
        last = self.attempts[-1] if self.attempts else None
        if kind is Kind.START:
            if self.current is None or not self.current.eventless:  # else: the same attempt's 6709
                self.current = Attempt(start=hit)
                self.attempts.append(self.current)
        elif kind is Kind.SIGNATURE:
            opened = self.current = self.current or self.startless(buf, index, lo, hit)
            opened.signature = opened.signature or hit
        else:
            target = self.current
            if target is None and last is not None and last.summary is not None and last.end is None:
                target = last  # the summary closed it; the STATMSG line confirms how
            if target is None:
                target = self.startless(buf, index, lo, hit)
            target.end, target.ended_ok = hit, kind is Kind.DONE
            self.current = None


def find_attempts(timeline: Timeline, sig: Signatures, cut: tuple[int, int] = (0, 0),
                  hits: _HitCache | None = None) -> list[Attempt]:
    """Every legacy sync attempt from `cut` (file index, offset of a line start) on, oldest first.

    The rules are in Attempt.outcome; a START right after an eventless START is the same attempt
    ("Performing legacy sync" then STATMSG 6709).
    """
    walk = _Walk(sig)
    for index in range(cut[0], len(timeline.files)):
        buf = timeline.files[index]
        cursor = cut[1] if index == cut[0] else 0
        for kind, hit in (hits(index, cursor) if hits else _hits(buf, index, sig, cursor)):
            timeline.stop.check()
            lo = cursor
            walk.gap(buf, index, cursor, hit.start)
            cursor = max(cursor, hit.end + 1)
            walk.hit(buf, index, lo, kind, hit)
        walk.gap(buf, index, cursor, len(buf.buf))
    return walk.attempts


@dataclass(frozen=True, slots=True)
class Findings:
    """What the verdict needs: the deciding attempt and the latest advisory failure before it."""

    attempts: tuple[Attempt, ...]  # every attempt when nothing decided; else at least the tail holding `decisive`
    decisive: Attempt | None  # the last attempt with an outcome
    earlier_failure: Attempt | None  # the latest attempt before it with the advisory's failure

    @property
    def later(self) -> tuple[Attempt, ...]:
        """What came after the deciding attempt: attempts that never finished, status lines outside any attempt."""
        at = next((i for i, a in enumerate(self.attempts) if a is self.decisive), None)
        return () if at is None else self.attempts[at + 1:]


def _cut_from_end(timeline: Timeline, size: int) -> tuple[int, int]:
    """The line start about `size` bytes before the end of the timeline ((0, 0): everything)."""
    for index in range(len(timeline.files) - 1, -1, -1):
        buf = timeline.files[index]
        if size < len(buf.buf):
            return index, buf.line_start(len(buf.buf) - size)
        size -= len(buf.buf)
    return 0, 0


def _last_signature_before(timeline: Timeline, sig: Signatures, cut: tuple[int, int]) -> Hit | None:
    anchor = sig.failure_all_of[0].encode("ascii")
    for index in range(cut[0], -1, -1):
        buf = timeline.files[index]
        hi = cut[1] if index == cut[0] else len(buf.buf)
        pos = buf.rfind(anchor, 0, hi)
        while pos >= 0:
            hit, _settled = _signature_at(buf, index, pos, sig)
            if hit is not None and hit.start < hi:
                return hit
            pos = buf.rfind(anchor, 0, buf.line_start(pos))  # the rest of that line is settled
            timeline.stop.check()
    return None


def judge_attempts(timeline: Timeline, sig: Signatures, tail: int = 1 << 18) -> Findings:
    """The deciding attempt, reading only as much of the logs' end as it takes.

    The walk runs over a tail of the timeline, grown until its last decided attempt comes after the
    tail's first started attempt: from that start on the walk is the same as one from the beginning
    (every START resets it). A failure before the tail is found by a backwards search for the anchor.
    """
    total = sum(len(f.buf) for f in timeline.files)
    cache = _HitCache(timeline, sig)
    while True:
        timeline.stop.poll()
        cut = _cut_from_end(timeline, tail) if tail < total else (0, 0)
        attempts = find_attempts(timeline, sig, cut, cache)
        decided = [i for i, a in enumerate(attempts) if a.outcome is not None]
        first_started = next((i for i, a in enumerate(attempts) if a.start is not None), len(attempts))
        if cut == (0, 0) or (decided and decided[-1] > first_started):
            break
        tail *= 4
    if not decided:
        return Findings(tuple(attempts), None, None)
    d = decided[-1]
    earlier = [a for a in attempts[:d] if a.outcome is Outcome.FAILED_ADVISORY]
    if earlier:
        return Findings(tuple(attempts), attempts[d], earlier[-1])
    before = _last_signature_before(timeline, sig, cut) if cut != (0, 0) else None
    return Findings(tuple(attempts), attempts[d], None if before is None else Attempt(start=None, signature=before))


CRASH_RUN = 16  # NUL bytes in a row: where a crash left the log (a half line, then the file's preallocated zeros)
_NULS = re.compile(rb"\x00+")


@dataclass(frozen=True, slots=True)
class Unfinished:
    """An attempt that started and shows no outcome, looked at closer: what it shows before the log ends."""

    attempt: Attempt
    error: Hit | None  # its error line, or a line holding a token of the advisory's failure (a line cut short)
    crash: Hit | None  # the line where a run of NUL bytes starts: a crash cut the log there
    nuls: int = 0  # how many


def closer_look(timeline: Timeline, sig: Signatures, attempt: Attempt, until: Hit | None) -> Unfinished:
    """The error line and the NUL run of an unfinished attempt, from its start to `until` (the next attempt's
    start) or the end of its file. Only a handful of attempts are looked at: plain bytes searches."""
    assert attempt.start is not None
    index, lo = attempt.start.file, attempt.start.end
    buf = timeline.files[index]
    hi = until.start if until is not None and until.file == index else len(buf.buf)
    error = attempt.other_error
    if error is None:
        tokens = [at for token in sig.failure_all_of if (at := buf.find(token.encode("ascii"), lo, hi)) >= 0]
        if tokens:
            start = buf.line_start(min(tokens))
            error = Hit(index, start, buf.line_end(start))
    crash, nuls = None, 0
    at = buf.buf.find(b"\x00" * CRASH_RUN, lo, hi)
    if at >= 0:
        run = _NULS.match(buf.buf, at)
        nuls = len(run.group()) if run else CRASH_RUN
        start = buf.line_start(at)
        crash = Hit(index, start, buf.line_end(start))
    return Unfinished(attempt, error, crash, nuls)
