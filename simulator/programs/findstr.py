"""findstr.exe: literal and findstr-regex search over a file's bytes, with /n /i /c: /l /r /v /m /b /e /x.

Like the real program it searches bytes line by line and knows nothing of UTF-16 (a UTF-16 log yields no
match for ASCII text). Its regular expressions are findstr's small dialect, run by a state-set matcher so
that no pattern, however hostile, can backtrack for long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.programs import Console, Host, Invocation, split_args
from simulator.programs.paths import resolve

_FLAGS = set("blreixvnm")  # /s (subdirectories) and /o are not implemented: rejected, not ignored
_MAX_LINE = 1 << 20  # lines beyond this are split; findstr itself has much lower limits

CharTest = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _Atom:
    test: CharTest | None  # None: a zero-width assertion in `anchor`
    star: bool = False
    anchor: str = ""  # "<" word start, ">" word end
    char: str = ""  # the literal character this atom matches, if it is one


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _char_class(body: str, fold: bool) -> CharTest:
    negate = body.startswith("^")
    if negate:
        body = body[1:]
    ranges: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            ranges.append((body[i], body[i + 2]))
            i += 3
        else:
            ranges.append((body[i], body[i]))
            i += 1

    def test(char: str) -> bool:
        candidates = {char, char.lower(), char.upper()} if fold else {char}
        hit = any(lo <= c <= hi for c in candidates for lo, hi in ranges)
        return hit != negate

    return test


def _literal(expected: str, fold: bool) -> CharTest:
    if fold:
        folded = expected.lower()
        return lambda char: char.lower() == folded
    return lambda char: char == expected


def _atom_at(text: str, i: int, fold: bool) -> tuple[_Atom, int]:
    """The atom that starts at `text[i]` (`.`, a `[class]`, an escape or a literal) and where the next one starts."""
    char = text[i]
    if char == ".":
        return _Atom(lambda _c: True), i + 1
    if char == "[" and "]" in text[i + 2:]:
        close = text.index("]", i + 2)
        return _Atom(_char_class(text[i + 1:close], fold)), close + 1
    if char == "\\" and i + 1 < len(text):
        escaped = text[i + 1]
        if escaped in "<>":
            return _Atom(None, anchor=escaped), i + 2
        return _Atom(_literal(escaped, fold), char=escaped), i + 2
    return _Atom(_literal(char, fold), char=char), i + 1


def _atoms(text: str, start: int, fold: bool) -> list[_Atom]:
    """The regex from `start` on as atoms; `*` repeats the atom before it (once: `a**` is `a*` then a literal)."""
    atoms: list[_Atom] = []
    i = start
    while i < len(text):
        if text[i] == "*" and atoms and atoms[-1].test is not None and not atoms[-1].star:
            atoms[-1] = _Atom(atoms[-1].test, star=True)
            i += 1
            continue
        atom, i = _atom_at(text, i, fold)
        atoms.append(atom)
    return atoms


def _required(atoms: list[_Atom], fold: bool) -> str:
    """The longest run of plain literal atoms: a substring every matching line contains."""
    required = run = ""
    for atom in [*atoms, _Atom(None)]:
        if atom.char and not atom.star:
            run += atom.char
        else:
            required, run = max(required, run, key=len), ""
        if atom.char and atom.star:
            run = ""
    return required.lower() if fold else required


class Pattern:
    """One findstr search string, literal or regex, matched against one line (no line terminator)."""

    def __init__(self, text: str, regex: bool, fold: bool) -> None:
        self.begin = self.end = False
        self.fold = fold
        self.atoms: list[_Atom] = []
        self.literal: str | None = None if regex else (text.lower() if fold else text)
        self.required = ""  # a substring every matching line contains: a cheap filter before the matcher
        if self.literal is not None:
            return
        start = 0
        if text.startswith("^"):
            self.begin, start = True, 1
        if text.endswith("$") and not text.endswith("\\$") and len(text) > start:
            self.end, text = True, text[:-1]
        self.atoms = _atoms(text, start, fold)
        self.required = _required(self.atoms, fold)

    def _closure(self, states: set[int], line: str, pos: int) -> set[int]:
        todo = list(states)
        seen = set(states)
        while todo:
            state = todo.pop()
            if state >= len(self.atoms):
                continue
            atom = self.atoms[state]
            follow = False
            if atom.star:
                follow = True
            elif atom.test is None:
                before = pos > 0 and _is_word(line[pos - 1])
                after = pos < len(line) and _is_word(line[pos])
                follow = (not before and after) if atom.anchor == "<" else (before and not after)
            if follow and state + 1 not in seen:
                seen.add(state + 1)
                todo.append(state + 1)
        return seen

    def search(self, line: str) -> bool:
        """True when the pattern occurs in the line; O(len(line) * len(pattern)), no backtracking."""
        if self.literal is not None or self.required:
            folded = line.lower() if self.fold else line
            if self.literal is not None:
                if self.begin and self.end:
                    return folded == self.literal
                if self.begin:
                    return folded.startswith(self.literal)
                return folded.endswith(self.literal) if self.end else self.literal in folded
            if self.required not in folded:
                return False
        final = len(self.atoms)
        states = self._closure({0}, line, 0)
        for pos, char in enumerate(line):
            if final in states and not self.end:
                return True
            nxt: set[int] = set()
            for state in states:
                if state < final:
                    atom = self.atoms[state]
                    if atom.test is not None and atom.test(char):
                        nxt.add(state if atom.star else state + 1)
            if not self.begin:
                nxt.add(0)
            states = self._closure(nxt, line, pos + 1)
            if not states:
                return False
        return final in states

    def whole(self, line: str) -> bool:
        """For /x: the pattern matches the entire line."""
        saved = self.begin, self.end
        self.begin = self.end = True
        try:
            return self.search(line)
        finally:
            self.begin, self.end = saved


@dataclass(slots=True)
class _Options:
    flags: set[str]
    strings: list[str]
    literal_strings: list[str]
    files: list[str]


def _parse(args: list[str]) -> _Options | None:
    options = _Options(set(), [], [], [])
    rest: list[str] = []
    for arg in args:
        if rest or not arg.startswith("/") or len(arg) < 2:
            rest.append(arg)
            continue
        lowered = arg.lower()
        if lowered.startswith("/c:"):
            options.literal_strings.append(arg[3:])
        elif lowered[1:] and set(lowered[1:]) <= _FLAGS:
            options.flags.update(lowered[1:])
        else:
            return None
    if not options.literal_strings:
        if not rest:
            return None
        options.strings = rest[0].split()
        rest = rest[1:]
    options.files = rest
    return options


def _lines(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def _patterns(options: _Options, codec: str) -> list[Pattern]:
    """Search strings as Patterns: the plain ones regex unless /l, the /c: ones literal unless /r."""
    fold = "i" in options.flags
    regex_default = "l" not in options.flags
    patterns = [Pattern(s.encode(codec, "replace").decode("latin-1"), regex_default, fold)
                for s in options.strings if s]
    patterns += [Pattern(s.encode(codec, "replace").decode("latin-1"), "r" in options.flags, fold)
                 for s in options.literal_strings]
    return patterns


def _sources(host: Host, invocation: Invocation, files: list[str],
             console: Console) -> tuple[list[tuple[str, bytes]], bool]:
    """(shown name, bytes) to search ("" for stdin), and whether lines get their file's name (several files)."""
    sources: list[tuple[str, bytes]] = []
    many = len(files) > 1
    for arg in files:
        resolved = resolve(host, arg, invocation.cwd)
        many = many or resolved.wildcard
        if resolved.error is not None:
            console.err(f"FINDSTR: Cannot open {arg}\r\n")
            continue
        sources.extend((shown, entry.data) for shown, entry in resolved.files if not entry.denied)
    if not files:
        sources.append(("", invocation.stdin))
    return sources, many


def _hit(patterns: list[Pattern], text: str, flags: set[str]) -> bool:
    if "x" in flags:
        return any(p.whole(text) for p in patterns)
    return any(_anchored(p, text, flags) for p in patterns)


def _search(console: Console, shown: str, data: bytes, patterns: list[Pattern], flags: set[str],
            many: bool) -> bool:
    """Print one source's matching lines (or only its name, /m); True when a line matched."""
    found = False
    for number, raw in enumerate(_lines(data), start=1):
        line = raw[:_MAX_LINE].decode("latin-1")
        text = line[:-1] if line.endswith("\r") else line
        if _hit(patterns, text, flags) == ("v" in flags):
            continue
        found = True
        if "m" in flags:
            console.out(f"{shown}\r\n")
            break
        prefix = f"{shown}:" if many else ""
        if "n" in flags:
            prefix += f"{number}:"
        ending = b"\n" if raw.endswith(b"\r") else b"\r\n"
        console.write(1, prefix.encode(console.codec, "replace") + raw + ending)
    return found


def findstr(host: Host, invocation: Invocation, console: Console) -> int:
    options = _parse(split_args(invocation.args))
    if options is None or not (options.strings or options.literal_strings):
        console.err("FINDSTR: Bad command line\r\n")
        return 2
    patterns = _patterns(options, console.codec)
    sources, many = _sources(host, invocation, options.files, console)
    found = False
    for shown, data in sources:
        found = _search(console, shown, data, patterns, options.flags, many) or found
    return 0 if found else 1


def _anchored(pattern: Pattern, text: str, flags: set[str]) -> bool:
    if "b" not in flags and "e" not in flags:
        return pattern.search(text)
    saved = pattern.begin, pattern.end
    pattern.begin = pattern.begin or "b" in flags
    pattern.end = pattern.end or "e" in flags
    try:
        return pattern.search(text)
    finally:
        pattern.begin, pattern.end = saved
