"""Facts about the Windows releases a ConfigMgr 2007 site server ran on, as their programs show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WindowsVersion:
    name: str  # the profile spelling: "2003", "2003 R2", "2008", "2008 R2"
    ver_text: str  # what `ver` prints
    product_name: str  # HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion ProductName
    current_version: str
    build: str
    csd_version: str
    reg_exe_3: bool  # reg.exe 3.0 (header, tab columns) rather than the Vista+ rewrite
    windows_dir: str
    profiles_dir: str

    @property
    def is_2003(self) -> bool:
        """Server 2003 / 2003 R2 (NT 5.2): boot.ini, "Local Settings" paths; not a reg.exe question."""
        return self.current_version == "5.2"


WINDOWS_VERSIONS: dict[str, WindowsVersion] = {
    v.name: v
    for v in (
        WindowsVersion(
            "2003", "Microsoft Windows [Version 5.2.3790]", "Microsoft Windows Server 2003", "5.2", "3790",
            "Service Pack 2", True, "C:\\WINDOWS", "C:\\Documents and Settings",
        ),
        WindowsVersion(
            "2003 R2", "Microsoft Windows [Version 5.2.3790]", "Microsoft Windows Server 2003 R2", "5.2", "3790",
            "Service Pack 2", True, "C:\\WINDOWS", "C:\\Documents and Settings",
        ),
        WindowsVersion(
            "2008", "Microsoft Windows [Version 6.0.6002]", "Windows Server (R) 2008 Enterprise", "6.0", "6002",
            "Service Pack 2", False, "C:\\Windows", "C:\\Users",
        ),
        WindowsVersion(
            "2008 R2", "Microsoft Windows [Version 6.1.7601]", "Windows Server 2008 R2 Enterprise", "6.1", "7601",
            "Service Pack 1", False, "C:\\Windows", "C:\\Users",
        ),
    )
}
