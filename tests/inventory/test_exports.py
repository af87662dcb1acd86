"""Inventories as Windows admins have them: Excel's CSV in Windows-1252, a workbook saved by mistake, exports
from Active Directory and the ConfigMgr console, and Ansible files that mix WinRM and ssh groups."""

from __future__ import annotations

import pytest

from inventory import load_inventory
from scanner.model.errors import InventoryError


def test_excel_csv_in_windows_1252_is_read(write):
    """Excel's "CSV (Comma delimited)" on a western Windows (Windows-1252, `;` in many locales) loads as such."""
    path = write("hosts.csv", "host;site_code;tags\r\nsms01.corp.example;OSL;Büro Ålesund\r\n"
                              "sms02.corp.example;BRG;Bergen\r\n".encode("cp1252"))
    inventory = load_inventory(path)
    assert [h.name for h in inventory.hosts] == ["sms01.corp.example", "sms02.corp.example"]
    assert inventory.hosts[0].tags == ("Büro", "Ålesund")


@pytest.mark.parametrize(("name", "start"), [
    pytest.param("hosts.xlsx", b"PK\x03\x04\x14\x00\x06\x00", id="xlsx"),
    pytest.param("hosts.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", id="xls"),
    pytest.param("hosts.csv", b"PK\x03\x04\x14\x00\x06\x00", id="xlsx-named-csv"),
])
def test_a_workbook_is_recognised_and_explained(write, name, start):
    """A workbook is not "not UTF-8 text": the error says it is a workbook and how to save it as CSV."""
    path = write(name, start + bytes(range(256)) * 4)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: is a spreadsheet workbook") and "Save As" in message and "CSV" in message
    assert "UTF-8 text (byte" not in message


AD_EXPORT = (
    '#TYPE Microsoft.ActiveDirectory.Management.ADComputer\n'
    '"DistinguishedName","DNSHostName","Enabled","Name","ObjectClass","SamAccountName","IPv4Address"\n'
    '"CN=SMS01,OU=Servers,DC=corp,DC=example","sms01.corp.example","True","SMS01","computer","SMS01$","10.1.0.11"\n'
    '"CN=SMS02,OU=Servers,DC=corp,DC=example","","True","SMS02","computer","SMS02$",""\n'
)


def test_active_directory_export_is_read_as_it_is(write):
    """Get-ADComputer | Export-Csv: DNSHostName is the host (Name where it is empty), IPv4Address the address,
    and the other columns are named once as ignored."""
    inventory = load_inventory(write("servers.csv", AD_EXPORT))
    assert [(h.name, h.address) for h in inventory.hosts] == [("sms01.corp.example", "10.1.0.11"),
                                                              ("SMS02", "SMS02")]
    assert len(inventory.warnings) == 1
    assert "columns 'DistinguishedName', 'Enabled', 'ObjectClass', 'SamAccountName' ignored" in inventory.warnings[0]


def test_configmgr_console_export_is_read(write):
    """A device list exported from the ConfigMgr console (Name, Site Code, IP Address) needs no editing."""
    path = write("devices.csv", '"Name","Site Code","Client","IP Address"\n"SMS-OSL01","OSL","Yes","10.2.0.5"\n')
    (host,) = load_inventory(path).hosts
    assert (host.name, host.site_code, host.address) == ("SMS-OSL01", "OSL", "10.2.0.5")


@pytest.mark.parametrize("header", ["Name", "Server", "DNSHostName", "ComputerName", "hostname", "host"])
def test_each_host_column_spelling_is_read(write, header):
    """Every host column the README lists names the host."""
    (host,) = load_inventory(write("h.csv", f"{header},port\nsms01.corp.example,80\n")).hosts
    assert (host.name, host.port) == ("sms01.corp.example", 80)


def test_no_host_column_shows_the_columns_found(write):
    """Without a host column the error lists the columns the file has and the spellings cmaudit takes."""
    path = write("h.csv", "Computer Name Of Site,Owner\nsms01,j.doe\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert "found: 'Computer Name Of Site', 'Owner'" in message and "dnshostname" in message and "name" in message


def test_ansible_host_without_connection_among_winrm_groups_is_named(write):
    """In a file whose Windows groups say ansible_connection=winrm, a host of another group without one would be
    reached over ssh by Ansible: cmaudit scans it over WinRM and says so, naming it, its group and the port."""
    path = write("site.ini", "[windows]\nsms01\n[windows:vars]\nansible_connection=winrm\n"
                             "[linux]\nrepo01\n")
    inventory = load_inventory(path)
    assert [h.name for h in inventory.hosts] == ["sms01", "repo01"]
    (warning,) = inventory.warnings
    assert warning.startswith(f"{path}:6: repo01 (group linux) has no ansible_connection") and "5985" in warning


def test_ansible_file_without_any_connection_is_not_warned_about(write):
    """A plain INI list of site servers (no ansible_connection anywhere) is cmaudit's own: no warning."""
    assert load_inventory(write("sms.ini", "[sms]\nsms01\nsms02\n")).warnings == ()
