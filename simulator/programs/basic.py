"""The one-line built-ins and small programs: echo, ver, hostname, rem, vol (cd and set live in the shell)."""

from __future__ import annotations

from simulator.programs import Console, Host, Invocation, split_args


def echo(host: Host, invocation: Invocation, console: Console) -> int:
    """cmd echoes everything after the one delimiter that follows `echo`, trailing spaces included."""
    if not invocation.args.strip():
        console.out("ECHO is on.\r\n")
        return 0
    text = invocation.args[1:]
    if text.strip().lower() in ("on", "off") and invocation.args[0] in " \t":
        return 0
    console.out(f"{text}\r\n")
    return 0


def ver(host: Host, invocation: Invocation, console: Console) -> int:
    console.out(f"\r\n{host.windows.ver_text}\r\n")
    return 0


def hostname(host: Host, invocation: Invocation, console: Console) -> int:
    if split_args(invocation.args):
        console.err("sethostname: Use the Network Control Panel Applet to set hostname.\r\n")
        return 1
    console.out(f"{host.hostname}\r\n")
    return 0


def rem(host: Host, invocation: Invocation, console: Console) -> int:
    return 0


def vol(host: Host, invocation: Invocation, console: Console) -> int:
    drive = invocation.cwd[0].upper()
    console.out(f" Volume in drive {drive} has no label.\r\n Volume Serial Number is {host.volume_serial}\r\n")
    return 0
