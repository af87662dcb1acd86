"""find.exe: the older line filter (`find /i /c /n /v "string" FILE...`), with its own output shape.

Each file gets a `---------- NAME` header (the name upper-cased); `/n` prefixes `[N]`; `/c` prints only
the count. The search string must be in double quotes, as find.exe insists.
"""

from __future__ import annotations

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


def find(host: Host, invocation: Invocation, console: Console) -> int:
    flags: set[str] = set()
    needle: str | None = None
    files: list[str] = []
    for text, quoted in _tokens(invocation.args):
        if not quoted and needle is None and text.startswith("/"):
            flag = text[1:].lower()
            if flag not in ("v", "c", "n", "i", "off", "offline"):
                console.err("FIND: Invalid switch\r\n")
                return 2
            flags.add(flag)
        elif needle is None:
            if not quoted:
                console.err("FIND: Parameter format not correct\r\n")
                return 2
            needle = text
        else:
            files.append(text)
    if needle is None:
        console.err("FIND: Parameter format not correct\r\n")
        return 2
    fold = "i" in flags
    wanted = needle.encode(console.codec, "replace")
    wanted = wanted.lower() if fold else wanted
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
    found = False
    for shown, data in sources:
        hits: list[tuple[int, bytes]] = []
        for number, line in enumerate(_lines(data), start=1):
            haystack = line.lower() if fold else line
            if (wanted in haystack) != ("v" in flags):
                hits.append((number, line))
        found = found or bool(hits)
        header = f"\r\n---------- {shown.upper()}" if shown is not None else None
        if "c" in flags:
            console.out(f"{header}: {len(hits)}\r\n" if header else f"{len(hits)}\r\n")
            continue
        if header:
            console.out(header + "\r\n")
        for number, line in hits:
            prefix = f"[{number}]".encode() if "n" in flags else b""
            console.write(1, prefix + line + b"\r\n")
    return 0 if found else exit_code
