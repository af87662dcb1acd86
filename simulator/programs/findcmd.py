"""find.exe: the older line filter (`find /i /c /n /v "string" FILE...`), with its own output shape.

Each file gets a `---------- NAME` header (the name upper-cased); `/n` prefixes `[N]`; `/c` prints only
the count. The search string must be in double quotes, as find.exe insists.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.programs import Console, Host, Invocation
from simulator.programs.paths import resolve


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Arguments with whether each was quoted (find.exe needs to know)."""
    tokens: list[tuple[str, bool]] = []
    i = 0
    while i < len(text):
        if text[i] in " \t":
            i += 1
        elif text[i] == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            tokens.append((text[i + 1:end], True))
            i = end + 1
        else:
            end = i
            while end < len(text) and text[end] not in ' \t"':
                end += 1
            tokens.append((text[i:end], False))
            i = end
    return tokens


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


_SWITCHES = ("v", "c", "n", "i", "off", "offline")


@dataclass(slots=True)
class _Search:
    flags: set[str]
    needle: str
    files: list[str]


def _parse(args: str, console: Console) -> _Search | None:
    """Switches, the quoted search string, then file names; None after printing find.exe's complaint."""
    flags: set[str] = set()
    needle: str | None = None
    files: list[str] = []
    for text, quoted in _tokens(args):
        if not quoted and needle is None and text.startswith("/"):
            if text[1:].lower() not in _SWITCHES:
                console.err("FIND: Invalid switch\r\n")
                return None
            flags.add(text[1:].lower())
        elif needle is None and quoted:
            needle = text
        elif needle is None:
            console.err("FIND: Parameter format not correct\r\n")
            return None
        else:
            files.append(text)
    if needle is None:
        console.err("FIND: Parameter format not correct\r\n")
        return None
    return _Search(flags, needle, files)


def _sources(host: Host, invocation: Invocation, files: list[str],
             console: Console) -> tuple[list[tuple[str | None, bytes]], int]:
    """(shown name or None for stdin, bytes) to search, and the exit code when nothing matches (2: a file missing)."""
    sources: list[tuple[str | None, bytes]] = []
    exit_code = 1
    for name in files:
        resolved = resolve(host, name, invocation.cwd)
        if resolved.error is not None:
            console.err(f"File not found - {name.upper()}\r\n")
            exit_code = 2
            continue
        sources.extend((shown, entry.data) for shown, entry in resolved.files if not entry.denied)
    if not files:
        sources.append((None, invocation.stdin))
    return sources, exit_code


def _show(console: Console, shown: str | None, hits: list[tuple[int, bytes]], flags: set[str]) -> None:
    """One source's part of the output: its header, then the count (/c) or the lines ([N] with /n)."""
    header = f"\r\n---------- {shown.upper()}" if shown is not None else None
    if "c" in flags:
        console.out(f"{header}: {len(hits)}\r\n" if header else f"{len(hits)}\r\n")
        return
    if header:
        console.out(header + "\r\n")
    for number, line in hits:
        prefix = f"[{number}]".encode() if "n" in flags else b""
        console.write(1, prefix + line + b"\r\n")


def find(host: Host, invocation: Invocation, console: Console) -> int:
    search = _parse(invocation.args, console)
    if search is None:
        return 2
    fold, invert = "i" in search.flags, "v" in search.flags
    wanted = search.needle.encode(console.codec, "replace")
    wanted = wanted.lower() if fold else wanted
    sources, exit_code = _sources(host, invocation, search.files, console)
    found = False
    for shown, data in sources:
        hits = [(number, line) for number, line in enumerate(_lines(data), start=1)
                if (wanted in (line.lower() if fold else line)) != invert]
        found = found or bool(hits)
        _show(console, shown, hits, search.flags)
    return 0 if found else exit_code
