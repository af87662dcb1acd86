"""What a site server holds besides its logs, as the profiles describe it: the site database key, ITMU (its
PackageSrc share, PkgSource folder and catalog), updatewuscatalog.exe, a KB 951376 registration, and the date
format of the account a shell runs as.

Sources and confidence ([S] several consistent sources, [U] not publicly confirmed, an invention of the
simulator where no source exists):
- `HKLM\\SOFTWARE\\Microsoft\\SMS\\SQL Server` exists on site servers with a site database [S: the SMS registry
  reference]; its values `Server` and `Database Name` are [U].
- ITMU's setup creates `<destination>\\PkgSource` and shares it as `PackageSrc` [S: the ITMU for ConfigMgr 2007
  guide]; the share's registry form (`lanmanserver\\Shares`, REG_MULTI_SZ with `Path=`) is Windows' own [S].
- Update.exe hotfixes register under `HKLM\\SOFTWARE\\Microsoft\\Updates\\<product>\\<level>\\KB<n>` [S: KB 2477182,
  KB 885266]; the product key name for ConfigMgr 2007, the values, and the Uninstall key are [U].
- updatewuscatalog.exe's size and file versions are [U]; the version a hotfix brings is invented here (no
  public source gives it) and cmaudit only ever shows it.
"""

from __future__ import annotations

import ntpath
import struct
from datetime import datetime
from functools import lru_cache

from simulator.filesystem import FileSystem
from simulator.registry import Registry, RegType

SHARES = r"HKLM\SYSTEM\CurrentControlSet\Services\lanmanserver\Shares"
INTERNATIONAL = r"HKCU\Control Panel\International"
PROGRAM_SIZE = 104_448
LOCALES: dict[str, dict[str, str]] = {
    "en-US": {"sShortDate": "M/d/yyyy", "iDate": "0", "sDate": "/", "sTimeFormat": "h:mm:ss tt",
              "s1159": "AM", "s2359": "PM", "sThousand": ","},
    "nb-NO": {"sShortDate": "dd.MM.yyyy", "iDate": "1", "sDate": ".", "sTimeFormat": "HH:mm:ss",
              "s1159": "", "s2359": "", "sThousand": "\xa0"},
    "de-DE": {"sShortDate": "dd.MM.yyyy", "iDate": "1", "sDate": ".", "sTimeFormat": "HH:mm:ss",
              "s1159": "", "s2359": "", "sThousand": "."},
}


def add_international(registry: Registry, locale: str) -> None:
    for name, value in LOCALES[locale].items():
        registry.set_value(INTERNATIONAL, name, RegType.REG_SZ, value)


def add_site_database(registry: Registry, sms_root: str, site_code: str) -> None:
    key = f"{sms_root}\\SQL Server"
    registry.set_value(key, "Server", RegType.REG_SZ, "SQL01")
    registry.set_value(key, "Database Name", RegType.REG_SZ, f"SMS_{site_code or 'XXX'}")


def add_shares(registry: Registry, site_code: str, pkgsource: str | None) -> None:
    """The shares a site server has; with ITMU, its PackageSrc."""
    shares = {f"SMS_{site_code or 'XXX'}": "C:\\SMS", "SMS_SITE": "C:\\SMS\\inboxes\\despoolr.box\\receive"}
    if pkgsource:
        shares["PackageSrc"] = pkgsource
    for name, path in shares.items():
        registry.set_value(SHARES, name, RegType.REG_MULTI_SZ,
                           ("CSCFlags=0", "MaxUses=4294967295", f"Path={path}", "Permissions=0", "Remark=", "Type=0"))


_CATALOG = b"MSCF" + bytes(1_048_572)  # shared by every host: nobody reads a catalog's bytes, dir shows its size
_SCAN_TOOL = b"MZ" + bytes(61_438)


def add_itmu(fs: FileSystem, pkgsource: str, catalog_written: datetime) -> None:
    """The PkgSource folder with the scan tool and the catalog the synchronisation host keeps current."""
    fs.add_file(ntpath.join(pkgsource, "wsusscn2.cab"), _CATALOG, catalog_written)
    fs.add_file(ntpath.join(pkgsource, "SmsWusHandler.exe"), _SCAN_TOOL, datetime(2007, 11, 5, 14, 2))


def version_resource(version: str) -> bytes:
    """A VS_VERSION_INFO resource holding `version` ("4.0.6221.1000"), as it sits in a PE file's .rsrc."""
    a, b, c, d = (int(part) for part in version.split("."))
    fixed = struct.pack("<13I", 0xFEEF04BD, 0x10000, (a << 16) | b, (c << 16) | d, (a << 16) | b, (c << 16) | d,
                        0x3F, 0, 0x40004, 1, 0, 0, 0)
    key = "VS_VERSION_INFO".encode("utf-16-le") + b"\x00\x00"
    header = struct.pack("<HHH", 6 + len(key) + 2 + len(fixed), len(fixed), 0)
    return header + key + b"\x00\x00" + fixed


@lru_cache(maxsize=16)
def program_bytes(version: str) -> bytes:
    """A PE-shaped file whose version resource sits near its end (one per version, shared by every host)."""
    resource = version_resource(version)
    return b"MZ" + bytes(PROGRAM_SIZE - 2 - len(resource) - 512) + resource + bytes(512)


def add_program(fs: FileSystem, install_dir: str, version: str, written: datetime) -> None:
    """bin\\i386\\updatewuscatalog.exe, the program the advisory's log shows failing."""
    fs.add_file(ntpath.join(install_dir, "bin", "i386", "updatewuscatalog.exe"), program_bytes(version), written)


def add_hotfix(registry: Registry, is_64bit: bool, kb: str, installed: datetime) -> None:
    """An Update.exe hotfix's registration (the ConfigMgr product key name is an assumption) and Uninstall key."""
    software = r"HKLM\SOFTWARE\Wow6432Node" if is_64bit else r"HKLM\SOFTWARE"
    key = f"{software}\\Microsoft\\Updates\\System Center Configuration Manager 2007\\SP1\\KB{kb}"
    when = f"{installed.month}/{installed.day}/{installed.year}"
    for name, value in (("Description", f"Hotfix for System Center Configuration Manager 2007 (KB{kb})"),
                        ("InstalledBy", "CORP\\smsadmin"), ("InstalledDate", when), ("Type", "Hotfix")):
        registry.set_value(key, name, RegType.REG_SZ, value)
    uninstall = f"{software}\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\KB{kb}"
    registry.set_value(uninstall, "DisplayName", RegType.REG_SZ, f"Hotfix for ConfigMgr 2007 (KB{kb})")


def add_windows_hotfixes(registry: Registry) -> None:
    """Windows Server 2003 registers its own hotfixes under Updates too: what the KB filter must pass over."""
    for kb, date in (("925902", "4/11/2007"), ("941569", "12/12/2007"), ("950762", "6/11/2008")):
        key = f"HKLM\\SOFTWARE\\Microsoft\\Updates\\Windows Server 2003\\SP3\\KB{kb}"
        registry.set_value(key, "Description", RegType.REG_SZ, f"Security Update for Windows Server 2003 (KB{kb})")
        registry.set_value(key, "InstalledDate", RegType.REG_SZ, date)
        registry.set_value(f"HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\KB{kb}", "DisplayName",
                           RegType.REG_SZ, f"Security Update for Windows Server 2003 (KB{kb})")
