"""reg.exe, the read side: `reg query` as Server 2003 (reg.exe 3.0) and 2008+ print it.

reg.exe 3.0 starts with a `! REG.EXE VERSION 3.0` banner, separates columns with tabs and calls the
default value `<NO NAME>`; 2008 and later print a blank line first, separate with four spaces and call it
`(Default)`. Anything that would write to the registry is refused: the auditor account may only read.

Error texts (stderr, exit 1): 2008+ "ERROR: The system was unable to find the specified registry key or
value." [S]; reg.exe 3.0 "Error:  The system was unable to find the specified registry key or value" (mixed
case, two spaces, no period) [S]. A key whose ACL refuses the reader: "ERROR: Access is denied." (2008+) and
"Error:  Access is denied." (3.0) [U: no capture found]; during `/s` reg.exe 3.0 prints "Error:  Access is
denied in the key <key>" and goes on [S].
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.programs import Console, Host, Invocation, split_args
from simulator.registry import RegKey, RegType, RegValue, split_key_path

NOT_FOUND = "ERROR: The system was unable to find the specified registry key or value.\r\n"
NOT_FOUND_3 = "Error:  The system was unable to find the specified registry key or value\r\n"
DENIED = "ERROR: Access is denied.\r\n"
DENIED_3 = "Error:  Access is denied.\r\n"
_WRITE_OPERATIONS = {"add", "delete", "copy", "save", "restore", "load", "unload", "import", "flags"}
_MAX_DEPTH = 64  # /s never recurses deeper than this: real hives are shallower


def _usage_error(console: Console, message: str, operation: str = "") -> int:
    hint = f"REG {operation.upper()} /?" if operation else "REG /?"
    console.err(f"ERROR: {message}\r\nType \"{hint}\" for usage.\r\n")
    return 1


def format_data(value: RegValue, legacy: bool) -> str:
    """The data column: DWORDs as 0x hex, binaries as hex pairs, multi-strings joined by a literal \\0."""
    data = value.data
    if value.type is RegType.REG_DWORD:
        assert isinstance(data, int)
        return f"0x{data:x}"
    if value.type is RegType.REG_BINARY:
        assert isinstance(data, bytes)
        return data.hex().upper()
    if value.type is RegType.REG_MULTI_SZ:
        assert isinstance(data, tuple)
        joined = "\\0".join(data)
        return joined + "\\0\\0" if legacy else joined
    assert isinstance(data, str)
    return data


def format_value(value: RegValue, legacy: bool) -> str:
    if legacy:
        name = value.name or "<NO NAME>"
        return f"    {name}\t{value.type}\t{format_data(value, legacy)}\r\n"
    name = value.name or "(Default)"
    return f"    {name}    {value.type}    {format_data(value, legacy)}\r\n"


class _Query:
    """One `reg query` run: options parsed, output accumulated."""

    def __init__(self, host: Host, console: Console) -> None:
        self.host = host
        self.console = console
        self.legacy = host.windows.reg_exe_3
        self.matches = 0

    def list_key(self, key: RegKey, path: str, recurse: bool, depth: int = 0) -> None:
        if key.denied:  # only reached during /s: the top key is checked before listing starts
            self.console.err(f"Error:  Access is denied in the key {path}\r\n" if self.legacy else DENIED)
            return
        values = list(key.iter_values())
        if values or recurse:
            self.console.out(f"{path}\r\n")
        for value in values:
            self.console.out(format_value(value, self.legacy))
        if values or recurse:
            self.console.out("\r\n")
        for sub in key.iter_subkeys():
            sub_path = f"{path}\\{sub.name}"
            if recurse and depth < _MAX_DEPTH:
                self.list_key(sub, sub_path, recurse, depth + 1)
            elif not recurse:
                self.console.out(f"{sub_path}\r\n")

    def find_value(self, key: RegKey, path: str, name: str, recurse: bool, depth: int = 0) -> None:
        if key.denied:
            self.console.err(f"Error:  Access is denied in the key {path}\r\n" if self.legacy else DENIED)
            return
        value = key.value(name)
        if value is not None:
            self.console.out(f"{path}\r\n{format_value(value, self.legacy)}\r\n")
            self.matches += 1
        if recurse and depth < _MAX_DEPTH:
            for sub in key.iter_subkeys():
                self.find_value(sub, f"{path}\\{sub.name}", name, recurse, depth + 1)


    def one_value(self, key: RegKey, path: str, name: str, header: str) -> int:
        """`/v NAME` or `/ve` without `/s`: the key and that value; an unset default value is listed empty."""
        value = key.value(name)
        if value is None and name:
            self.console.err(NOT_FOUND_3 if self.legacy else NOT_FOUND)
            return 1
        self.console.out(header)
        if value is None:  # an unset default value is still listed, with no data
            shown = "(value not set)" if not self.legacy else ""
            line = format_value(RegValue("", RegType.REG_SZ, ""), self.legacy)
            self.console.out(f"{path}\r\n{line[:-2]}{shown}\r\n\r\n")
            return 0
        self.console.out(f"{path}\r\n{format_value(value, self.legacy)}\r\n")
        return 0

    def search(self, key: RegKey, path: str, name: str, header: str) -> int:
        """`/v NAME /s` or `/ve /s`: every key below holding the value; 2008+ counts them at the end."""
        self.console.out(header)
        self.find_value(key, path, name, recurse=True)
        if not self.legacy:
            self.console.out(f"End of search: {self.matches} match(es) found.\r\n")
        if self.matches == 0 and self.legacy:
            self.console.err(NOT_FOUND_3)
            return 1
        return 0


@dataclass(slots=True)
class _QueryOptions:
    """What follows the key in `reg query KEY [/v NAME | /ve] [/s] [/reg:32 | /reg:64]`."""

    value_name: str | None = None
    default_value: bool = False
    recurse: bool = False
    view32: bool = False

    @property
    def wants_value(self) -> bool:
        return self.value_name is not None or self.default_value


def _query_options(host: Host, rest: list[str]) -> _QueryOptions | None:
    """The options, or None when reg.exe would say "Invalid syntax" (unknown, repeated, or /reg:N on 3.0)."""
    options = _QueryOptions()
    i = 0
    while i < len(rest):
        option = rest[i].lower()
        if option == "/v" and i + 1 < len(rest) and not options.wants_value:
            options.value_name = rest[i + 1]
            i += 2
            continue
        if option == "/ve" and not options.wants_value:
            options.default_value = True
        elif option == "/s" and not options.recurse:
            options.recurse = True
        elif option in ("/reg:32", "/reg:64") and not host.windows.reg_exe_3:
            options.view32 = option == "/reg:32"
        else:
            return None
        i += 1
    return options


def _display_path(key_arg: str) -> str:
    """The key as reg.exe echoes it: the root spelled out, the rest as the user typed it."""
    split = split_key_path(key_arg)
    assert split is not None
    root, parts = split
    return "\\".join([root, *parts])


def _redirect_wow64(host: Host, key_arg: str) -> str:
    """`/reg:32` on 64-bit Windows: HKLM\\SOFTWARE\\X is read from HKLM\\SOFTWARE\\Wow6432Node\\X."""
    split = split_key_path(key_arg)
    if split is None or not host.is_64bit:
        return key_arg
    root, parts = split
    if root == "HKEY_LOCAL_MACHINE" and parts and parts[0].casefold() == "software":
        if len(parts) < 2 or parts[1].casefold() != "wow6432node":
            parts = [parts[0], "Wow6432Node", *parts[1:]]
    return "\\".join([root, *parts])


def query(host: Host, args: list[str], console: Console) -> int:
    options = _query_options(host, args[1:]) if args else None
    if options is None:
        return _usage_error(console, "Invalid syntax.", "query")
    key_arg = args[0]
    if key_arg.startswith("\\\\") or split_key_path(key_arg) is None:
        return _usage_error(console, "Invalid key name.", "query")
    key = host.registry.open_key(_redirect_wow64(host, key_arg) if options.view32 else key_arg)
    legacy = host.windows.reg_exe_3
    if key is None or key.denied:
        problem = (NOT_FOUND_3 if legacy else NOT_FOUND) if key is None else (DENIED_3 if legacy else DENIED)
        console.err(problem)
        return 1
    path = _display_path(key_arg)
    run = _Query(host, console)
    header = "\r\n! REG.EXE VERSION 3.0\r\n\r\n" if run.legacy else "\r\n"
    if not options.wants_value:
        console.out(header)
        run.list_key(key, path, options.recurse)
        return 0
    name = "" if options.default_value else (options.value_name or "")
    if options.recurse:
        return run.search(key, path, name, header)
    return run.one_value(key, path, name, header)


def reg(host: Host, invocation: Invocation, console: Console) -> int:
    args = split_args(invocation.args)
    if not args:
        return _usage_error(console, "Invalid syntax.")
    operation = args[0].lower()
    if operation == "query":
        return query(host, args[1:], console)
    if operation in _WRITE_OPERATIONS or operation in ("export", "compare"):
        console.err("ERROR: Access is denied.\r\n")
        return 1
    if operation == "/?":
        console.out("\r\nREG Operation [Parameter List]\r\n\r\n"
                    "  Operation  [ QUERY   | ADD    | DELETE  | COPY    |\r\n"
                    "               SAVE    | LOAD   | UNLOAD  | RESTORE |\r\n"
                    "               COMPARE | EXPORT | IMPORT  | FLAGS ]\r\n\r\n"
                    "Return Code: (Except for REG COMPARE)\r\n\r\n  0 - Successful\r\n  1 - Failed\r\n")
        return 0
    console.err(f"ERROR: Invalid argument/option - '{args[0]}'.\r\nType \"REG /?\" for usage.\r\n")
    return 1
