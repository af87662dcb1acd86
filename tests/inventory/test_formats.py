"""Each inventory format, read from the sample files an admin would keep."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest

from inventory import load_inventory
from scanner.model.host import Host
from tests.inventory.conftest import DATA


def _summary(host: Host) -> tuple[object, ...]:
    return host.name, host.address, host.port, host.scheme, host.auth


def test_text_inventory_reads_ports_urls_and_ipv6():
    """Plain text gives one host per line with default, explicit, URL and bracketed-IPv6 ports."""
    inventory = load_inventory(DATA / "fleet.txt")
    assert inventory.format == "text"
    assert [_summary(h) for h in inventory.hosts] == [
        ("sms-cen01.corp.example", "sms-cen01.corp.example", 5985, "http", "ntlm"),
        ("sms-osl01.corp.example", "sms-osl01.corp.example", 5985, "http", "ntlm"),
        ("sms-brg01.corp.example", "sms-brg01.corp.example", 80, "http", "ntlm"),
        ("sms-trd01.corp.example", "sms-trd01.corp.example", 5986, "https", "ntlm"),
        ("10.20.0.15", "10.20.0.15", 5985, "http", "ntlm"),
        ("fd00:20::15", "fd00:20::15", 5985, "http", "ntlm"),
    ]
    assert inventory.hosts[0].source == f"{DATA / 'fleet.txt'}:4"
    assert inventory.warnings == ()


def test_inventory_records_path_and_sha256_of_the_bytes():
    """The run metadata can prove which inventory file was scanned."""
    path = DATA / "fleet.txt"
    inventory = load_inventory(path)
    assert inventory.path == path
    assert inventory.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_inventory_reads_every_column_and_warns_about_unknown_ones():
    """A full CSV fills site code, tags, user and password variable, and names the column it ignored."""
    inventory = load_inventory(DATA / "fleet.csv")
    assert inventory.format == "csv"
    cen, osl, brg, trd, dmz = inventory.hosts
    assert (cen.site_code, cen.tags, cen.username, cen.password_env) == (
        "CEN", ("central", "primary"), "CORP\\svc-cmaudit", None)
    assert (osl.port, osl.scheme, osl.auth, osl.tags) == (5986, "https", "kerberos", ("primary", "oslo"))
    assert (brg.port, brg.scheme) == (80, "http")
    assert (trd.port, trd.scheme, trd.auth, trd.password_env) == (5986, "https", "basic", "CMAUDIT_PW_TRD")
    assert (dmz.port, dmz.scheme, dmz.auth, dmz.line) == (443, "https", "certificate", 7)
    assert len(inventory.warnings) == 1
    assert "fleet.csv:1: column 'Owner' ignored" in inventory.warnings[0]


def test_simulator_csv_keeps_hosts_on_one_address_apart():
    """Two simulated hosts on 127.0.0.1 with different ports are two hosts with distinct stable names."""
    inventory = load_inventory(DATA / "simulator.csv")
    assert [(h.address, h.port, h.scheme, h.auth) for h in inventory.hosts] == [
        ("127.0.0.1", 41001, "http", "ntlm"),
        ("127.0.0.1", 41002, "http", "ntlm"),
        ("127.0.0.1", 41003, "https", "basic"),
    ]
    assert len({h.stable_name for h in inventory.hosts}) == 3
    assert inventory.warnings == ()


def test_excel_semicolon_csv_with_crlf_is_read():
    """A CSV saved by Excel in a European locale (`;`, CRLF) reads like a comma one."""
    inventory = load_inventory(DATA / "excel-semicolon.csv")
    assert [(h.name, h.port, h.scheme, h.auth, h.site_code) for h in inventory.hosts] == [
        ("sms-cen01.corp.example", 5985, "http", "ntlm", "CEN"),
        ("sms-osl01.corp.example", 5986, "https", "negotiate", "OSL"),
    ]


WINDOWS_TEAM = [
    # name, address, port, scheme, auth, site, user, password_env
    ("sms-cen01.corp.example", "10.20.0.10", 5985, "http", "kerberos", "CEN", "svc-cmaudit@CORP.EXAMPLE", None),
    ("sms-osl01.corp.example", "sms-osl01.corp.example", 5985, "http", "kerberos", "OSL",
     "svc-cmaudit@CORP.EXAMPLE", None),
    ("sms-brg01.corp.example", "sms-brg01.corp.example", 80, "http", "ntlm", "BRG", "svc-cmaudit@CORP.EXAMPLE", None),
    *[(f"sms-sec0{i}.corp.example", f"sms-sec0{i}.corp.example", 5985, "http", "kerberos", "S01",
       "svc-cmaudit@CORP.EXAMPLE", None) for i in (1, 2, 3)],
    ("sms-trd01.corp.example", "sms-trd01.corp.example", 5986, "https", "kerberos", None, "CORP\\svc-trd",
     "CMAUDIT_PW_TRD"),
    ("wsus01.corp.example", "wsus01.corp.example", 5985, "http", "ntlm", None, None, None),
]


@pytest.mark.parametrize("name, fmt", [
    pytest.param("windows.ini", "ansible-ini", id="ini"),
    pytest.param("hosts", "ansible-ini", id="ini-no-extension"),
    pytest.param("windows.yml", "ansible-yaml", id="yaml"),
])
def test_ansible_inventory_resolves_groups_children_and_vars(name, fmt):
    """The Windows team's Ansible inventory gives the hosts, ports and accounts their playbooks use."""
    inventory = load_inventory(DATA / name)
    assert inventory.format == fmt
    got = [(h.name, h.address, h.port, h.scheme, h.auth, h.site_code, h.username, h.password_env)
           for h in inventory.hosts]
    assert got == WINDOWS_TEAM
    assert inventory.hosts[0].tags == ("configmgr_central", "configmgr", "windows")
    assert inventory.hosts[-1].tags == ("wsus", "windows")
    assert pickle.loads(pickle.dumps(inventory.hosts)) == inventory.hosts  # workers may run in processes
    assert {type(value) for h in inventory.hosts for value in (h.name, h.address, h.username, *h.tags)} <= {
        str, type(None)}


@pytest.mark.parametrize("name", [pytest.param("windows.ini", id="ini"), pytest.param("windows.yml", id="yaml")])
def test_ansible_non_windows_hosts_are_skipped_with_a_warning(name):
    """A host Ansible reaches over ssh is not a scan target, and the dry run says it was skipped."""
    inventory = load_inventory(DATA / name)
    assert "repo01.corp.example" not in {h.name for h in inventory.hosts}
    assert any("repo01.corp.example skipped: ansible_connection='ssh'" in w for w in inventory.warnings)


def test_ansible_password_in_inventory_is_ignored_and_never_echoed():
    """An ansible_password in the inventory is reported as ignored and its value appears nowhere."""
    inventory = load_inventory(DATA / "windows.ini")
    assert any("ansible_password ignored" in w for w in inventory.warnings)
    assert "never-read-this" not in repr(inventory)


@pytest.mark.parametrize("kwargs, expected", [
    pytest.param({}, (5985, "http", "ntlm"), id="builtin-defaults"),
    pytest.param({"default_scheme": "https"}, (5986, "https", "ntlm"), id="https-default-port"),
    pytest.param({"default_port": 80}, (80, "http", "ntlm"), id="winrm-1.1-port"),
    pytest.param({"default_port": 443}, (443, "https", "ntlm"), id="port-443-implies-https"),
    pytest.param({"default_port": 8443, "default_scheme": "https"}, (8443, "https", "ntlm"), id="custom-https"),
    pytest.param({"default_port": 443, "default_scheme": "https", "default_auth": "basic"}, (443, "https", "basic"),
                 id="winrm-1.1-https"),
])
def test_defaults_apply_only_where_the_inventory_is_silent(write, kwargs, expected):
    """--port/--scheme/--auth set the default; a port written in the file still wins."""
    path = write("fleet.txt", "sms01\nsms02:5986\n")
    first, second = load_inventory(path, **kwargs).hosts
    assert (first.port, first.scheme, first.auth) == expected
    assert second.port == 5986


@pytest.mark.parametrize("line, port, scheme", [
    pytest.param("sms01:80", 80, "http", id="winrm-1.1-http"),
    pytest.param("sms01:443", 443, "https", id="winrm-1.1-https"),
    pytest.param("sms01:5986", 5986, "https", id="winrm-2.0-https"),
    pytest.param("sms01:8080", 8080, "http", id="custom-port-default-scheme"),
    pytest.param("https://sms01", 5986, "https", id="url-without-port"),
])
def test_well_known_ports_imply_their_scheme(write, line, port, scheme):
    """A WinRM 1.1 server listed with :443 is reached over https without a separate scheme column."""
    (host,) = load_inventory(write("fleet.txt", line + "\n")).hosts
    assert (host.port, host.scheme) == (port, scheme)


@pytest.mark.parametrize("name, content, fmt", [
    pytest.param("list", "sms01\nsms02:5985\n", "text", id="text"),
    pytest.param("list", "# hosts\nhost,port\nsms01,5985\n", "csv", id="csv"),
    pytest.param("list", "[sms]\nsms01\n", "ansible-ini", id="ini-section"),
    pytest.param("list", "sms01 ansible_port=5986\n", "ansible-ini", id="ini-host-vars"),
    pytest.param("list", "all:\n  hosts:\n    sms01:\n", "ansible-yaml", id="yaml"),
    pytest.param("list", "---\nall:\n  hosts: {sms01: }\n", "ansible-yaml", id="yaml-document-start"),
    pytest.param("list.txt", "[::1]:5985\n", "text", id="ipv6-is-not-a-section"),
    pytest.param("fleet.yaml", "all:\n  hosts:\n    sms01:\n", "ansible-yaml", id="yaml-extension"),
])
def test_format_is_chosen_by_content_when_the_extension_does_not_say(write, name, content, fmt):
    """An Ansible `hosts` file or a host list without extension is recognised by its content."""
    assert load_inventory(write(name, content)).format == fmt


def test_powershell_utf16_host_list_is_read(write):
    """`Get-ADComputer ... | Out-File hosts.txt` writes UTF-16 with a BOM; cmaudit reads it."""
    path = write("hosts.txt", "sms01.corp.example\r\nsms02.corp.example\r\n".encode("utf-16"))
    assert [h.name for h in load_inventory(path).hosts] == ["sms01.corp.example", "sms02.corp.example"]


def test_ini_ranges_and_host_port_and_vars_precedence(write):
    """Ranges expand with padding, host:port sets the port, and host vars beat group vars."""
    path = write("inv.ini", "[sms]\nsms[08:10]:5986 ansible_winrm_scheme=https\nsms-x ansible_port=80\n"
                            "[sms:vars]\nansible_port=5985\nansible_winrm_scheme = \"http\"\n")
    hosts = load_inventory(path).hosts
    assert [(h.name, h.port, h.scheme) for h in hosts] == [
        ("sms08", 5986, "https"), ("sms09", 5986, "https"), ("sms10", 5986, "https"), ("sms-x", 80, "http")]


def test_ansible_host_in_two_groups_is_one_host_with_both_tags(write):
    """Listing a server under two groups is normal Ansible practice, not a duplicate."""
    path = write("inv.ini", "[primary]\nsms01\n[oslo]\nsms01\n")
    inventory = load_inventory(path)
    assert [(h.name, h.tags) for h in inventory.hosts] == [("sms01", ("primary", "oslo"))]
    assert inventory.warnings == ()


def test_psrp_connection_variables_are_honoured(write):
    """Hosts the playbooks reach with ansible_connection=psrp keep their protocol and auth."""
    path = write("inv.yml", "all:\n  hosts:\n    sms01:\n      ansible_connection: psrp\n"
                            "      ansible_psrp_protocol: https\n      ansible_psrp_auth: negotiate\n")
    (host,) = load_inventory(path).hosts
    assert (host.port, host.scheme, host.auth) == (5986, "https", "negotiate")


def test_empty_inventories_give_no_hosts(write):
    """A file with only comments is an empty fleet, not an error."""
    for name, content in (("a.txt", "# none yet\n"), ("b.csv", ""), ("c.yml", "# none\n"), ("d.ini", "[sms]\n")):
        assert load_inventory(write(name, content)).hosts == ()


def test_inventory_paths_work_through_pathlib(write):
    """A path with spaces and non-ASCII letters (a Windows profile folder) is read and named as given."""
    path = write("Ålesund inventar.txt", "sms01\n")
    (host,) = load_inventory(Path(path)).hosts
    assert host.source == f"{path}:1"


def test_ansible_certificate_validation_ignore_is_called_out(write):
    """Hosts Ansible reaches with cert validation off are still validated by cmaudit, and the admin is told."""
    path = write("inv.ini", "[sms]\nsms01\nsms02\n[sms:vars]\nansible_winrm_server_cert_validation=ignore\n")
    inventory = load_inventory(path)
    assert len(inventory.hosts) == 2
    assert any("2 host(s) set certificate validation to ignore" in w and "--insecure" in w
               for w in inventory.warnings)


@pytest.mark.parametrize("content", [
    pytest.param("\ufeffhost,port\r\nsms01,5985\r\n".encode(), id="utf8-bom-crlf"),
    pytest.param("host,port\r\nsms01,5985\r\n".encode("utf-16-le").join([b"\xff\xfe", b""]), id="utf16-le-bom"),
])
def test_windows_encodings_and_line_endings(write, content):
    """CSV saved by Excel or PowerShell on a Windows jump box (BOM, CRLF, UTF-16) reads the same."""
    (host,) = load_inventory(write("f.csv", content)).hosts
    assert (host.name, host.port) == ("sms01", 5985)


def test_csv_host_column_may_carry_the_port(write):
    """`sms01:5986` in the host column works like in a text list, unless it contradicts the port column."""
    path = write("f.csv", "host,port\nsms01:5986,\nsms02:80,80\n")
    assert [(h.name, h.port, h.scheme) for h in load_inventory(path).hosts] == [
        ("sms01", 5986, "https"), ("sms02", 80, "http")]


def test_ini_group_vars_allow_trailing_comments(write):
    """`ansible_port=5986  # https listener` in a [group:vars] section means port 5986."""
    path = write("inv.ini", "[sms]\nsms01\n[sms:vars]\nansible_port=5986  # https listener\n"
                            "ansible_user='CORP\\svc # not a comment'\n")
    (host,) = load_inventory(path).hosts
    assert (host.port, host.username) == (5986, "CORP\\svc # not a comment")


@pytest.mark.parametrize("value", [
    pytest.param("ntlm,kerberos", id="comma-list"),
    pytest.param("['ntlm', 'kerberos']", id="python-literal-list"),
    pytest.param("NTLM", id="upper-case"),
    pytest.param("plaintext", id="pywinrm-alias-is-basic"),
])
def test_ansible_winrm_transport_spellings(write, value):
    """The transport spellings Ansible accepts choose the first method listed."""
    path = write("inv.ini", f"[sms]\nsms01\n[sms:vars]\nansible_winrm_transport={value}\n")
    (host,) = load_inventory(path).hosts
    assert host.auth == ("basic" if value == "plaintext" else "ntlm")


def test_tls_column_and_variable_choose_legacy_per_host(write):
    """`tls` in a CSV and `cmaudit_tls` in an Ansible inventory mark the 2003/2008 hosts legacy; the others take
    the default (modern, or legacy with --tls legacy)."""
    csv_path = write("fleet.csv", "host,port,transport,tls\nsms03,443,https,legacy\nsms08,5986,https,\n")
    ini_path = write("hosts.ini", "[old]\nsms03 ansible_port=443\n[old:vars]\ncmaudit_tls=LEGACY\n[new]\nsms08\n")
    for path in (csv_path, ini_path):
        assert [h.tls for h in load_inventory(path).hosts] == ["legacy", "modern"]
        assert [h.tls for h in load_inventory(path, default_tls="legacy").hosts] == ["legacy", "legacy"]
