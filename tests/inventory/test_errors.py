"""Every unusable inventory is one error line naming the file and, where there is one, the line."""

from __future__ import annotations

import pytest

from inventory import load_inventory
from inventory.model import MAX_FILE_BYTES, MAX_LINE_CHARS
from scanner.model.errors import InventoryError, UsageError


def _error(path) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    error = caught.value
    assert isinstance(error, UsageError)  # the CLI turns it into exit status 64
    assert "\n" not in str(error)
    return error


@pytest.mark.parametrize("name, content, line, words", [
    pytest.param("f.txt", "sms01\nsms02:abc\n", 2, "port 'abc' is not a number", id="text-port-not-number"),
    pytest.param("f.txt", "sms01:70000\n", 1, "out of range", id="text-port-range"),
    pytest.param("f.txt", "sms01:0\n", 1, "out of range", id="text-port-zero"),
    pytest.param("f.txt", "sms01:\n", 1, "empty port", id="text-empty-port"),
    pytest.param("f.txt", "sms01 sms02\n", 1, "one host[:port] per line", id="text-two-hosts"),
    pytest.param("f.txt", "\n\nsms_01!\n", 3, "not a valid host name", id="text-bad-name"),
    pytest.param("f.txt", "[::1\n", 1, "IPv6", id="text-unclosed-bracket"),
    pytest.param("f.txt", "ftp://sms01\n", 1, "transport 'ftp'", id="text-url-scheme"),
    pytest.param("f.csv", "owner,port\nsms01,5985\n", 1, "no host column (found: 'owner', 'port')",
                 id="csv-no-host-column"),
    pytest.param("f.csv", "host,port\nsms01,5985\nsms02,abc\n", 3, "port 'abc' is not a number", id="csv-port"),
    pytest.param("f.csv", "host,port\nsms01,5985,extra\n", 2, "3 fields but the header has 2", id="csv-extra-field"),
    pytest.param("f.csv", "host,transport\nsms01,ntlm\n", 2, "transport 'ntlm' is not http or https",
                 id="csv-auth-in-transport"),
    pytest.param("f.csv", "host,auth\nsms01,digest\n", 2, "auth 'digest'", id="csv-unknown-auth"),
    pytest.param("f.csv", "host,site_code\nsms01,ABCD\n", 2, "site code 'ABCD'", id="csv-site-code"),
    pytest.param("f.csv", "host,port\n,5985\n", 2, "host column is empty", id="csv-empty-host"),
    pytest.param("f.csv", "host,host\nsms01,sms01\n", 1, "repeats", id="csv-repeated-column"),
    pytest.param("f.csv", 'host,tags\nsms01,"a\x1b[31mred"\n', 2, "control characters", id="csv-escape-in-tag"),
    pytest.param("f.csv", 'host,port\n"sms01\n', 2, "not valid CSV", id="csv-unclosed-quote"),
    pytest.param("f.csv", "host,port\nsms01:5986,5985\n", 2, "contradicts the port column", id="csv-two-ports"),
    pytest.param("f.csv", "host,tls\nsms01,tls10\n", 2, "tls 'tls10' is not modern or legacy", id="csv-tls"),
    pytest.param("f.ini", "[sms]\nsms01 cmaudit_tls=old\n", 2, "tls 'old'", id="ini-tls"),
    pytest.param("f.ini", "[sms]\nsms01 ansible_port=abc\n", 2, "port 'abc'", id="ini-port"),
    pytest.param("f.ini", "[sms]\nsms01 ansible_port\n", 2, "expected key=value", id="ini-bare-token"),
    pytest.param("f.ini", "[sms:weird]\nsms01\n", 1, "section type 'weird'", id="ini-section-type"),
    pytest.param("f.ini", "[bad group]\nsms01\n", 1, "not a valid [group] header", id="ini-bad-header"),
    pytest.param("f.ini", "[sms:vars]\nnot an assignment\n", 2, "expected key=value", id="ini-vars-line"),
    pytest.param("f.ini", "[a:children]\nb\n[b:children]\na\n", 1, "its own ancestor", id="ini-cycle"),
    pytest.param("f.ini", "[sms]\nsms[0:99999999]\n", 2, "too large", id="ini-huge-range"),
    pytest.param("f.ini", "[sms]\nsms[5:1]\n", 2, "empty", id="ini-backwards-range"),
    pytest.param("f.ini", "[sms]\nsms01\n[sms:vars]\nansible_port=99999\n", 4, "out of range",
                 id="ini-group-var-points-at-its-line"),
    pytest.param("f.ini", "[sms]\nsms01 ansible_winrm_transport=magic\n", 2, "auth 'magic'", id="ini-transport"),
    pytest.param("f.ini", "[sms]\nsms01 ansible_host='{{ lookup(\"x\") }}'\n", 2, "Jinja template",
                 id="ini-jinja"),
    pytest.param("f.yml", "all:\n  hosts:\n    sms01:\n      ansible_port: nope\n", 4, "port 'nope'",
                 id="yaml-port"),
    pytest.param("f.yml", "all:\n  hosts: [sms01, sms02]\n", 2, "must be a mapping", id="yaml-hosts-list"),
    pytest.param("f.yml", "- sms01\n- sms02\n", 1, "expected an Ansible inventory", id="yaml-plain-list"),
    pytest.param("f.yml", "all:\n  hosts:\n    sms01: {\n", 4, "not valid YAML", id="yaml-syntax"),
    pytest.param("f.yml", "all:\n  children:\n    sms:\n      vars: [1]\n", 4, "vars must be a mapping",
                 id="yaml-vars-list"),
    pytest.param("f.yml", "all:\n  vars:\n    ansible_winrm_transport: {a: 1}\n  hosts: {sms01: }\n", 3,
                 "not a mapping", id="yaml-transport-mapping"),
    pytest.param("f.txt", b"sms01\nsms\x8102\n", 2, "neither UTF-8 nor Windows-1252", id="not-utf8-or-1252"),
    pytest.param("f.txt", b"sms01\nsms\x0002\n", 2, "NUL", id="nul-bytes"),
])
def test_error_names_file_and_line(write, name, content, line, words):
    """The admin is told which line to fix and why; no host is silently dropped."""
    path = write(name, content)
    error = _error(path)
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: ")
    assert words in str(error)


def test_missing_file_names_the_file(tmp_path):
    """A typo in the inventory path is one line naming it, no traceback."""
    error = _error(tmp_path / "nope.csv")
    assert error.line is None and "nope.csv" in str(error)


def test_directory_is_refused(tmp_path):
    """An Ansible inventory directory is not read as a file."""
    assert "directory" in str(_error(tmp_path))


def test_oversized_file_is_refused_without_reading_it_all(write):
    """A file above the size bound (a typo'd path to an image) is refused."""
    path = write("big.txt", b"")
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 10)  # sparse: cheap on disk
    assert "larger than 50 MB" in str(_error(path))


def test_overlong_line_is_refused(write):
    """One absurdly long line is an error at its line number."""
    path = write("long.txt", "sms01\n" + "a" * (MAX_LINE_CHARS + 1) + "\n")
    assert _error(path).line == 2


def test_password_pasted_into_password_env_is_not_echoed(write):
    """An admin who pastes the password itself into password_env is told so without seeing it printed."""
    path = write("f.csv", "host,password_env\nsms01,S3cret!pass\n")
    error = _error(path)
    assert error.line == 2 and "S3cret!pass" not in str(error)


def test_unbalanced_quote_on_an_ini_line_is_not_echoed(write):
    """A broken line that may hold an ansible_password is reported without its text."""
    path = write("f.ini", "[sms]\nsms01 ansible_password='S3cret!pass\n")
    error = _error(path)
    assert error.line == 2 and "S3cret!pass" not in str(error)


def test_password_column_is_ignored_with_a_warning(write):
    """A `password` column is never read, and the dry run says why."""
    inventory = load_inventory(write("f.csv", "host,password\nsms01,S3cret!pass\n"))
    assert "S3cret!pass" not in repr(inventory)
    assert any("passwords never come from an inventory file" in w for w in inventory.warnings)


@pytest.mark.parametrize("kwargs", [
    pytest.param({"default_scheme": "ftp"}, id="scheme"),
    pytest.param({"default_auth": "digest"}, id="auth"),
    pytest.param({"default_port": 0}, id="port"),
    pytest.param({"default_port": 5985, "default_scheme": "https"}, id="https-on-the-http-port"),
])
def test_bad_defaults_are_usage_errors(write, kwargs):
    """A caller passing an impossible default gets a usage error, not a KeyError deep in a parser."""
    with pytest.raises(UsageError):
        load_inventory(write("f.txt", "sms01\n"), **kwargs)
