"""cmd's `type`: bytes of 8-bit files as they are; UTF-16 files with a BOM converted to the code page."""

from __future__ import annotations

from simulator.programs import Console, Host, Invocation, split_args
from simulator.programs.paths import resolve

_MESSAGES = {
    "file": "The system cannot find the file specified.\r\n",
    "path": "The system cannot find the path specified.\r\n",
    "dir": "Access is denied.\r\n",
}


def decode_for_console(data: bytes, console: Console) -> bytes:
    """What `type` writes for a file: UTF-16 (LE or BE, by BOM) re-encoded, anything else untouched."""
    if data[:2] == b"\xff\xfe":
        return data[2:].decode("utf-16-le", "replace").encode(console.codec, "replace")
    if data[:2] == b"\xfe\xff":
        return data[2:].decode("utf-16-be", "replace").encode(console.codec, "replace")
    return data


def type_(host: Host, invocation: Invocation, console: Console) -> int:
    args = split_args(invocation.args)
    if not args or any(arg.startswith("/") for arg in args):
        console.err("The syntax of the command is incorrect.\r\n")
        return 1
    exit_code = 0
    for arg in args:
        resolved = resolve(host, arg, invocation.cwd)
        if resolved.error is not None:
            console.err(_MESSAGES[resolved.error])
            if len(args) > 1:
                console.err(f"Error occurred while processing: {arg}.\r\n")
            exit_code = 1
            continue
        for shown, entry in resolved.files:
            if len(args) > 1 or resolved.wildcard:
                console.err(f"\r\n{shown}\r\n\r\n\r\n")  # cmd names each file on stderr
            if entry.denied:
                console.err(_MESSAGES["dir"])  # "Access is denied."
                exit_code = 1
                continue
            console.write(1, decode_for_console(entry.data, console))
    return exit_code
