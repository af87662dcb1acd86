"""A tiny stand-in Machine for the WinRM front-end tests (the real virtual hosts are tested elsewhere)."""

from __future__ import annotations

import secrets

from simulator.machine import CommandResult

USER = "LAB\\auditor"


def new_password() -> str:
    return "Pw-" + secrets.token_urlsafe(12)


class FakeMachine:
    """Answers a handful of commands: `echo`, `big N`, `fail`, `codepage`; anything else is unknown."""

    def __init__(self, hostname: str = "FAKE") -> None:
        self.hostname = hostname

    def run(self, command_line: str, codepage: int = 437) -> CommandResult:
        verb, _, rest = command_line.partition(" ")
        if verb == "echo":
            return CommandResult(rest.encode() + b"\r\n", b"", 0)
        if verb == "big":
            size = int(rest)
            pattern = bytes(range(256))
            return CommandResult((pattern * (size // 256 + 1))[:size], b"", 0)
        if verb == "fail":
            return CommandResult(b"partial\r\n", b"boom\r\n", 3)
        if verb == "codepage":
            return CommandResult(f"{codepage}\r\n".encode(), b"", 0)
        if verb == "hostname":
            return CommandResult(self.hostname.encode() + b"\r\n", b"", 0)
        message = f"'{verb}' is not recognized as an internal or external command,\r\n" \
                  "operable program or batch file.\r\n"
        return CommandResult(b"", message.encode(), 1)


def fake_factory(profile: str, hostname: str) -> FakeMachine:
    return FakeMachine(hostname)
