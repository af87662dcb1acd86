"""A small, honest cmd.exe: parse one command line, run the programs it names over the virtual host.

What it does, in cmd's order: expand `%VAR%`; split at `&`, `&&`, `||` and `|` outside double quotes (`^`
escapes one character); per command, take out `>`, `>>`, `2>`, `2>&1`, `<` redirections; then look the
command name up among the built-ins and the programs in `%SystemRoot%\\system32`. It never loops on
its input: every step is a single pass, and `cmd /c` nesting has a depth limit.
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.filesystem import normalize
from simulator.programs import Console, Host, Invocation, Program

MAX_COMMAND_LINE = 8191  # cmd.exe's documented limit
MAX_NESTING = 8  # `cmd /c cmd /c ...`
NOT_RECOGNIZED = "'{}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"

_VAR_RE = re.compile(r"%([^%\r\n]{1,256})%")
_REDIRECT_RE = re.compile(r"""(?P<fd>[0-2])?(?P<op>>>?|<)(?:&(?P<dup>[0-2])|[ \t]*(?P<target>"[^"]*"|[^\s"<>&|]+))""")
_OPERATORS = ("&&", "||", "&", "|")


@dataclass(slots=True)
class Command:
    """One simple command: its text (quotes kept, carets removed) and its redirections, in order."""

    text: str
    redirects: list[tuple[int, str, str]] = field(default_factory=list)  # (fd, op, target or "&N")


@dataclass(slots=True)
class Chain:
    """Pipelines joined by `&`, `&&`, `||`: `ops[i]` joins `pipelines[i]` and `pipelines[i + 1]`."""

    pipelines: list[list[Command]]
    ops: list[str]


class CmdSyntaxError(Exception):
    """What cmd reports as "... was unexpected at this time." """


def expand_variables(line: str, env: Mapping[str, str]) -> str:
    """`%NAME%` replaced from the environment (names without case); unknown names stay as typed."""
    folded = {k.casefold(): v for k, v in env.items()}

    def replace(match: re.Match[str]) -> str:
        return folded.get(match.group(1).casefold(), match.group(0))

    return _VAR_RE.sub(replace, line)


def _operator_at(line: str, i: int) -> str | None:
    """The operator starting at `line[i]` (outside quotes); the `&` of `2>&1` belongs to its redirection."""
    if line[i] == "&" and i and line[i - 1] in "<>":
        return None
    return next((op for op in _OPERATORS if line.startswith(op, i)), None)


@dataclass(slots=True)
class _ChainBuilder:
    """The chain so far while split_line walks the line: finished pipelines, their operators, the open pipeline."""

    pipelines: list[list[Command]] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    pipeline: list[Command] = field(default_factory=list)

    def cut(self, text: str, operator: str) -> None:
        """The command `text` ends at `operator`; `|` continues the pipeline, the others start a new one."""
        if not text.strip():
            raise CmdSyntaxError(operator)
        self.pipeline.append(parse_command(text))
        if operator != "|":
            self.pipelines.append(self.pipeline)
            self.ops.append(operator)
            self.pipeline = []

    def end(self, text: str) -> Chain:
        """The line ends with the command `text` (empty only after a trailing `&`, or for an empty line)."""
        if text.strip():
            self.pipeline.append(parse_command(text))
        elif self.pipeline or self.ops:
            if self.ops and not self.pipeline and self.ops[-1] == "&":
                self.ops.pop()  # a trailing `&` is allowed: `echo a &`
            else:
                raise CmdSyntaxError(self.ops[-1] if self.ops else "|")
        if self.pipeline:
            self.pipelines.append(self.pipeline)
        return Chain(self.pipelines, self.ops)


def split_line(line: str) -> Chain:
    """Split at the operators outside quotes; `^` outside quotes escapes the next character."""
    chain = _ChainBuilder()
    current: list[str] = []
    in_quote = False
    i = 0
    while i < len(line):
        char = line[i]
        if char == '"':
            in_quote = not in_quote
        elif not in_quote and char == "^":
            if i + 1 < len(line):
                current.append("\x00" + line[i + 1])  # escaped: never an operator or redirection
            i += 2
            continue
        elif not in_quote and (operator := _operator_at(line, i)) is not None:
            chain.cut("".join(current), operator)
            current = []
            i += len(operator)
            continue
        current.append(char)
        i += 1
    return chain.end("".join(current))


def parse_command(text: str) -> Command:
    """Take the redirections out of one command's text (they may stand anywhere in it)."""
    command = Command("")
    kept: list[str] = []
    pos = 0
    in_quote = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\x00":  # an escaped character from split_line: literal
            i += 2
            continue
        if char == '"':
            in_quote = not in_quote
        elif not in_quote and char in "<>" or (
            not in_quote and char in "012" and i + 1 < len(text) and text[i + 1] in "<>"
            and (i == 0 or text[i - 1] in " \t")
        ):
            match = _REDIRECT_RE.match(text, i)
            if match is None:
                raise CmdSyntaxError(char)
            kept.append(text[pos:i])
            op = match["op"]
            fd = int(match["fd"]) if match["fd"] else (0 if op == "<" else 1)
            target = f"&{match['dup']}" if match["dup"] else match["target"].strip('"')
            command.redirects.append((fd, op, target))
            pos = i = match.end()
            continue
        i += 1
    kept.append(text[pos:])
    command.text = "".join(kept).replace("\x00", "")
    return command


_INTERNAL = ("echo", "type", "dir", "ver", "rem", "cd", "chdir", "vol", "set")
_SHELL_STATE = ("cd", "chdir", "set")  # built-ins that change the interpreter itself, handled here
_NAME_DELIMS = "./\\(;,=+[]"


def split_name(text: str) -> tuple[str, str, bool]:
    """(command name, raw argument text, name was quoted). Built-ins end at `.`/`/` too: `echo.`, `dir/b`."""
    stripped = text.lstrip(" \t@")
    if stripped.startswith('"'):
        end = stripped.find('"', 1)
        end = len(stripped) if end < 0 else end
        return stripped[1:end], stripped[end + 1:], True
    match = re.match(r"[^\s]*", stripped)
    word = match.group(0) if match else ""
    lowered = word.lower()
    for internal in _INTERNAL:
        if lowered.startswith(internal) and len(word) > len(internal) and word[len(internal)] in _NAME_DELIMS:
            return word[: len(internal)], stripped[len(internal):], False
    return word, stripped[len(word):], False


class Shell:
    """The interpreter for one `Machine.run`: environment, working directory and the program table."""

    def __init__(self, host: Host, programs: Mapping[str, Program], env: Mapping[str, str], cwd: str,
                 codepage: int, depth: int = 0) -> None:
        self.host = host
        self.programs = programs
        self.env = dict(env)  # `set` changes this run's copy only
        self.cwd = cwd
        self.codepage = codepage
        self.depth = depth

    def run(self, line: str) -> tuple[list[tuple[int, bytes]], int]:
        """Run a whole command line; returns the ordered (fd, bytes) output and the last exit code."""
        console = Console(self.codepage)
        if len(line) > MAX_COMMAND_LINE:
            console.err("The command line is too long.\r\n")
            return console.chunks, 1
        try:
            chain = split_line(expand_variables(line.strip("\r\n"), self.env))
        except CmdSyntaxError as exc:
            console.err(f"{exc.args[0]} was unexpected at this time.\r\n")
            return console.chunks, 255
        exit_code = 0
        for index, pipeline in enumerate(chain.pipelines):
            if index:
                op = chain.ops[index - 1]
                if (op == "&&" and exit_code != 0) or (op == "||" and exit_code == 0):
                    continue
            exit_code = self._run_pipeline(pipeline, console)
        return console.chunks, exit_code

    def _run_pipeline(self, pipeline: list[Command], console: Console) -> int:
        stdin = b""
        exit_code = 0
        for position, command in enumerate(pipeline):
            last = position == len(pipeline) - 1
            inner = Console(self.codepage, size=console.size)
            exit_code = self._run_command(command, stdin, inner)
            piped = bytearray()
            for fd, data in inner.chunks:
                if fd == 1 and not last:
                    piped += data
                else:
                    console.write(fd, data)
            if not last:
                console.size = inner.size
            stdin = bytes(piped)
        return exit_code

    def _route(self, command: Command, stdin: bytes, console: Console) -> tuple[dict[int, str], bytes] | None:
        """Where fd 1 and 2 go (`out`, `err`, `nul`) and what stdin holds, or None after an error."""
        where = {1: "out", 2: "err"}
        for fd, op, target in command.redirects:
            if op == "<":
                data = self._read_input(target, console)
                if data is None:
                    return None
                stdin = data
            elif target.startswith("&"):
                source = int(target[1:])
                if fd in where and source in where:
                    where[fd] = where[source]
            elif target.casefold() in ("nul", "nul:"):
                if fd in where:
                    where[fd] = "nul"
            else:
                console.err("Access is denied.\r\n")  # the audit account cannot write files
                return None
        return where, stdin

    def _read_input(self, target: str, console: Console) -> bytes | None:
        if target.casefold() in ("nul", "nul:"):
            return b""
        path = normalize(target, self.cwd)
        entry = self.host.fs.file(path) if path else None
        if entry is None:
            console.err("The system cannot find the file specified.\r\n")
            return None
        if entry.denied:
            console.err("Access is denied.\r\n")
            return None
        return entry.data

    def _run_command(self, command: Command, stdin: bytes, console: Console) -> int:
        routed = self._route(command, stdin, console)
        if routed is None:
            return 1
        where, stdin = routed
        inner = Console(self.codepage, size=console.size)
        exit_code = self._dispatch(command.text, stdin, inner)
        for fd, data in inner.chunks:
            target = where.get(fd, "out")
            if target != "nul":
                console.write(1 if target == "out" else 2, data)
        return exit_code

    def _dispatch(self, text: str, stdin: bytes, console: Console) -> int:
        name, args, quoted = split_name(text)
        if not name:
            return 0
        if not quoted and re.fullmatch(r"[A-Za-z]:", name) and not args.strip():
            return self._switch_drive(name, console)
        if not quoted and name.lower() in _SHELL_STATE:
            return self._cd(args, console) if name.lower() != "set" else self._set(args, console)
        program = self._lookup(name)
        if program is None:
            shown = f'"{name}"' if quoted else name
            console.err(NOT_RECOGNIZED.format(shown))
            return 1
        if program == "cmd":
            return self._nested_cmd(args, console)
        return self.programs[program](self.host, Invocation(name, args, stdin, self.cwd), console)

    def _switch_drive(self, drive: str, console: Console) -> int:
        root = drive.upper() + "\\"
        if not self.host.fs.is_dir(root):
            console.err("The system cannot find the drive specified.\r\n")
            return 1
        if root[0] != self.cwd[0].upper():
            self.cwd = root
        return 0

    def _cd(self, args: str, console: Console) -> int:
        """`cd` prints the working directory; `cd [/d] PATH` changes it for the rest of the line."""
        text = args.strip()
        switch_drive = text.lower().startswith("/d")
        if switch_drive:
            text = text[2:].strip()
        text = text.replace('"', "").rstrip(" \t")
        if not text:
            console.out(f"{self.cwd}\r\n")
            return 0
        path = normalize(text, self.cwd)
        if path is None or not self.host.fs.is_dir(path):
            console.err("The system cannot find the path specified.\r\n")
            return 1
        if switch_drive or path[0] == self.cwd[0].upper():
            self.cwd = path  # without /d, cmd changes another drive's directory but stays on this one
        return 0

    def _set(self, args: str, console: Console) -> int:
        """`set` lists the environment, `set P` the variables starting with P, `set N=V` sets one."""
        text = args[1:] if args[:1] in (" ", "\t") else args
        text = text.strip('"') if text.startswith('"') else text
        if "=" in text.lstrip("="):
            name, _, value = text.partition("=")
            folded = {k.casefold(): k for k in self.env}
            self.env.pop(folded.get(name.casefold(), name), None)
            if value:
                self.env[name] = value
            return 0
        prefix = text.strip().casefold()
        shown = sorted((k for k in self.env if k.casefold().startswith(prefix)), key=str.casefold)
        if not shown:
            console.err(f"Environment variable {text.strip()} not defined\r\n")
            return 1
        for key in shown:
            console.out(f"{key}={self.env[key]}\r\n")
        return 0

    def _lookup(self, name: str) -> str | None:
        """The program key for a typed name: built-ins by name, executables also by system32 path."""
        lowered = name.lower()
        if lowered in _INTERNAL:
            return lowered if lowered in self.programs else None
        directory, base = ntpath.split(lowered)
        if directory:
            system32 = (self.host.windows.windows_dir + "\\system32").lower()
            if directory.rstrip("\\") != system32:
                return None
        stem = base[:-4] if base.endswith(".exe") else base
        if stem == "cmd":
            return "cmd"
        if stem in _INTERNAL or stem not in self.programs:
            return None
        return stem

    def _nested_cmd(self, args: str, console: Console) -> int:
        """`cmd /c LINE` (also `/k`, `/q`, `/u` ignored): the rest of the line runs in a child cmd."""
        match = re.match(r"\s*((?:/[a-z]:?\S*\s*)*?)/[ck]\s?(.*)$", args, re.IGNORECASE | re.DOTALL)
        if match is None:
            console.out(f"{self.host.windows.ver_text}\r\n")  # an interactive cmd with no stdin exits
            return 0
        if self.depth >= MAX_NESTING:
            console.err("The command line is too long.\r\n")
            return 1
        rest = match.group(2)
        if rest.startswith('"') and rest.endswith('"') and len(rest) > 1:
            rest = rest[1:-1]
        child = Shell(self.host, self.programs, self.env, self.cwd, self.codepage, self.depth + 1)
        chunks, exit_code = child.run(rest)
        for fd, data in chunks:
            console.write(fd, data)
        return exit_code
