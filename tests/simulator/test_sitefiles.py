"""What a simulated site server holds besides its logs: the database key, ITMU, the program, a hotfix, dir's dates."""

from __future__ import annotations

import pytest

from simulator.profiles import load_machine

PKGSOURCE = r"C:\Program Files\Microsoft Updates Inventory Tool\PkgSource"
PROGRAM = r"C:\Program Files\Microsoft Configuration Manager\bin\i386\updatewuscatalog.exe"


@pytest.mark.parametrize(("profile", "line"), [
    pytest.param("sp1-healthy", b"06/11/2008  03:12 AM         1,048,576 wsusscn2.cab", id="en-us"),
    pytest.param("localized-log", b"11.06.2008  03:12         1\xff048\xff576 wsusscn2.cab", id="nb-no-in-cp437"),
])
def test_dir_writes_dates_and_sizes_in_the_accounts_locale(profile, line):
    """dir follows HKCU\\Control Panel\\International: US dates with AM/PM, or day.month.year, 24 hours and the
    locale's thousands separator (a no-break space, 0xFF in code page 437)."""
    machine = load_machine(profile, "SITE01")
    result = machine.run(f'dir "{PKGSOURCE}"')
    assert result.exit_code == 0 and line in result.stdout


@pytest.mark.parametrize(("profile", "database"), [pytest.param("sp1-healthy", True, id="primary"),
                                                   pytest.param("secondary-site", False, id="secondary")])
def test_sites_with_a_database_have_the_sql_server_key(profile, database):
    """The SMS\\SQL Server key is there on a primary (Setup\\Type 1) and not on a secondary (Type 2)."""
    machine = load_machine(profile, "SITE01")
    assert (machine.run(r'reg query "HKLM\SOFTWARE\Microsoft\SMS\SQL Server"').exit_code == 0) is database


def test_itmu_is_shared_as_packagesrc_only_where_the_site_runs_legacy_sync():
    """A site serving SMS 2003 clients shares its PkgSource as PackageSrc; one without them has no ITMU."""
    shares = r'reg query "HKLM\SYSTEM\CurrentControlSet\Services\lanmanserver\Shares"'
    assert f"Path={PKGSOURCE}".encode() in load_machine("sp1-healthy", "A").run(shares).stdout
    bare = load_machine("no-legacy-sync", "B")
    assert b"PackageSrc" not in bare.run(shares).stdout and bare.run(f'dir "{PKGSOURCE}"').exit_code == 1


def test_a_hotfix_registers_and_replaces_the_program():
    """hotfix-waiting: KB951376 under Updates and Uninstall, and an updatewuscatalog.exe of the hotfix's day whose
    bytes `type` copies as they are (its version resource inside)."""
    machine = load_machine("hotfix-waiting", "MUC01")
    updates = machine.run(r'reg query "HKLM\SOFTWARE\Microsoft\Updates" /s').stdout
    assert b"System Center Configuration Manager 2007\\SP1\\KB951376" in updates and b"KB925902" in updates
    assert machine.run(r'reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\KB951376"').exit_code == 0
    assert b"24.06.2008  14:30" in machine.run(f'dir "{PROGRAM}"').stdout
    program = machine.run(f'type "{PROGRAM}"', codepage=65001).stdout
    assert program == machine.files[PROGRAM] and "VS_VERSION_INFO".encode("utf-16-le") in program
