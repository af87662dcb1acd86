"""VirtualMachine: one simulated Windows host (registry, disk, cmd.exe) that implements `Machine`."""

from __future__ import annotations

import hashlib
import ntpath
from collections.abc import Mapping
from types import MappingProxyType

from simulator.cmdshell import Shell
from simulator.filesystem import FileSystem, normalize
from simulator.machine import CommandResult
from simulator.programs import Program
from simulator.programs.basic import echo, hostname, rem, ver, vol
from simulator.programs.dircmd import dir_
from simulator.programs.findcmd import find
from simulator.programs.findstr import findstr
from simulator.programs.reg import reg
from simulator.programs.typecmd import type_
from simulator.registry import Registry
from simulator.windows import WindowsVersion

PROGRAMS: Mapping[str, Program] = MappingProxyType({
    "echo": echo, "ver": ver, "type": type_, "dir": dir_, "rem": rem, "vol": vol,
    "reg": reg, "findstr": findstr, "find": find, "hostname": hostname,
})


class VirtualMachine:
    """A host loaded from a profile. `run` is all the WinRM server needs; the rest is for tests."""

    def __init__(self, hostname: str, windows: WindowsVersion, is_64bit: bool, registry: Registry,
                 fs: FileSystem, user: str = "auditor", *, era: str = "modern", listener: str | None = None) -> None:
        self.hostname = hostname
        self.era = era  # a simulator.eras name: how the WinRM service in front of this host behaves
        self.listener = listener  # "https": its only WinRM listener is HTTPS, whatever the fleet's transport
        self.windows = windows
        self.is_64bit = is_64bit
        self.registry = registry
        self.fs = fs
        digest = hashlib.sha256(hostname.upper().encode()).hexdigest().upper()
        self.volume_serial = f"{digest[:4]}-{digest[4:8]}"
        self.free_bytes = 10_000_000_000 + int(digest[8:16], 16) % 60_000_000_000
        self.cwd = f"{windows.profiles_dir}\\{user}"
        fs.add_dir(self.cwd)
        program_files = "C:\\Program Files"
        self.env: dict[str, str] = {
            "COMPUTERNAME": hostname.upper(), "SystemRoot": windows.windows_dir, "windir": windows.windows_dir,
            "SystemDrive": "C:", "ProgramFiles": program_files, "USERNAME": user, "USERPROFILE": self.cwd,
            "ComSpec": f"{windows.windows_dir}\\system32\\cmd.exe", "OS": "Windows_NT",
            "PROCESSOR_ARCHITECTURE": "AMD64" if is_64bit else "x86",
            "TEMP": f"{self.cwd}\\Local Settings\\Temp" if windows.is_2003 else f"{self.cwd}\\AppData\\Local\\Temp",
        }
        if is_64bit:
            self.env["ProgramFiles(x86)"] = "C:\\Program Files (x86)"
        self.env["TMP"] = self.env["TEMP"]

    @property
    def windows_version(self) -> str:
        """The profile's Windows release: "2003", "2003 R2", "2008" or "2008 R2"."""
        return self.windows.name

    @property
    def files(self) -> dict[str, bytes]:
        """Every file's path and exact bytes (read access for tests)."""
        return self.fs.files()

    def deny(self, target: str) -> None:
        """Refuse the audit account read access to a registry key (`HKLM\\...`) or a file (`C:\\...`)."""
        if target.upper().startswith(("HKLM\\", "HKEY_")):
            self.registry.deny(target)
        else:
            path = normalize(target, "C:\\")
            if path is not None:
                self.fs.deny(path)

    def deny_matching(self, *, sms_setup: bool = False, logs: bool = False) -> None:
        """The `regdenied` / `logdenied` switches: the SMS Setup keys, or every wsyncmgr log, unreadable."""
        if sms_setup:
            for root in (r"HKLM\SOFTWARE\Microsoft\SMS", r"HKLM\SOFTWARE\Wow6432Node\Microsoft\SMS"):
                self.registry.deny(root + r"\Setup")
        if logs:
            for path in self.fs.files():
                if ntpath.basename(path).lower() in ("wsyncmgr.log", "wsyncmgr.lo_"):
                    self.fs.deny(path)

    def run(self, command_line: str, codepage: int = 437) -> CommandResult:
        """Run one cmd.exe command line and return what cmd would write, in the given code page."""
        shell = Shell(self, PROGRAMS, self.env, self.cwd, codepage)
        chunks, exit_code = shell.run(command_line)
        stdout = b"".join(data for fd, data in chunks if fd == 1)
        stderr = b"".join(data for fd, data in chunks if fd == 2)
        return CommandResult(stdout, stderr, exit_code)
