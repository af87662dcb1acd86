"""cmaudit.toml: the settings of a scheduled run, checked strictly, overridden by the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from scanner.cli import config_options
from scanner.config import cmaudit_toml as cfg
from scanner.model.errors import UsageError

GOOD = """\
inventory = "fleet.csv"
output = "/var/lib/cmaudit/runs"
auth = "kerberos"
username = 'CORP\\svc-cmaudit'
password_env = "CMAUDIT_PASSWORD"
concurrency = 8
timeout = 300
history = "state/history.sqlite3"
keep_runs = 52

[mail]
to = ["sccm-admins@corp.example"]
from = "cmaudit@corp.example"
host = "smtp.corp.example"
username = "cmaudit"
password_env = "CMAUDIT_SMTP_PASSWORD"
when = "findings"
"""


def _parser() -> argparse.ArgumentParser:
    """A scan-like command: options with defaults, then the schedule options and --config last."""
    p = argparse.ArgumentParser()
    p.add_argument("inventory", nargs="?", type=Path)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--auth", default="negotiate")
    p.add_argument("--username")
    config_options.add_schedule_options(p)
    config_options.add_config_option(p)
    return p


def _write(tmp_path, text):
    path = tmp_path / "cmaudit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_fills_what_the_command_line_leaves_out(tmp_path):
    """A scheduled run gets inventory, auth, concurrency, history and retention from the file."""
    path = _write(tmp_path, GOOD)
    args = _parser().parse_args(["--config", str(path)])
    config = config_options.apply_config(args)
    assert args.inventory == tmp_path / "fleet.csv"  # relative to the config file, not the cwd
    assert (args.auth, args.username, args.concurrency, args.timeout) == ("kerberos", "CORP\\svc-cmaudit", 8, 300.0)
    assert args.history == tmp_path / "state" / "history.sqlite3" and args.keep_runs == 52
    assert args.no_history is False and args.mail_when == "findings"
    assert config is not None and config.get("password_env") == "CMAUDIT_PASSWORD"


@pytest.mark.parametrize(("argv", "dest", "expected"), [
    pytest.param(["--concurrency", "4"], "concurrency", 4, id="concurrency"),
    pytest.param(["--concurrency", "32"], "concurrency", 32, id="explicit-default-still-wins"),
    pytest.param(["--auth", "ntlm"], "auth", "ntlm", id="auth"),
    pytest.param(["--keep-runs", "3"], "keep_runs", 3, id="keep-runs"),
    pytest.param(["other.csv"], "inventory", Path("other.csv"), id="inventory"),
    pytest.param(["--mail-when", "always"], "mail_when", "always", id="mail-when"),
])
def test_command_line_overrides_config(tmp_path, argv, dest, expected):
    """An option given on the command line wins over the config file, even if it equals the default."""
    args = _parser().parse_args([*argv, "--config", str(_write(tmp_path, GOOD))])
    config_options.apply_config(args)
    assert getattr(args, dest) == expected


def test_without_config_defaults_apply(tmp_path):
    """With no --config every option has its ordinary default."""
    args = _parser().parse_args([])
    assert config_options.apply_config(args) is None
    assert (args.concurrency, args.timeout, args.auth, args.no_history, args.history) == (32, 120.0, "negotiate",
                                                                                         False, None)


@pytest.mark.parametrize(("text", "key"), [
    pytest.param('inventroy = "fleet.csv"\n', "inventroy", id="top-level-typo"),
    pytest.param('[mail]\nto = "a@b.example"\ntls = true\n', "mail.tls", id="mail-typo"),
    pytest.param('[scan]\nconcurrency = 4\n', "scan", id="unknown-table"),
])
def test_unknown_key_is_an_error_naming_it(tmp_path, text, key):
    """A misspelt key stops the run with the file and the key named, instead of being ignored."""
    path = _write(tmp_path, text)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.load_config(path)
    assert str(err.value).startswith(f"{path}: {key}: unknown key")


@pytest.mark.parametrize("text", [
    pytest.param('password = "hunter2-secret"\n', id="top-level"),
    pytest.param('[mail]\npassword = "hunter2-secret"\n', id="mail"),
])
def test_password_key_is_refused(tmp_path, text):
    """A password written into the config is refused, and the error does not repeat it."""
    path = _write(tmp_path, text)
    with pytest.raises(cfg.ConfigError, match="password_env") as err:
        cfg.load_config(path)
    assert "hunter2-secret" not in str(err.value)


@pytest.mark.parametrize(("text", "key", "message"), [
    pytest.param("concurrency = 0\n", "concurrency", "from 1 to 10000", id="zero-concurrency"),
    pytest.param('concurrency = "many"\n', "concurrency", "whole number", id="text-concurrency"),
    pytest.param('auth = "kerberoast"\n', "auth", "one of", id="bad-auth"),
    pytest.param('password_env = "hunter2 secret!"\n', "password_env", "NAME of an environment", id="env-not-name"),
    pytest.param('[mail]\nwhen = "weekly"\n', "mail.when", "changed", id="bad-when"),
    pytest.param("port = 70000\n", "port", "from 1 to 65535", id="port-out-of-range"),
    pytest.param(f'[mail]\nhost = "{"r" * 70}.corp.example"\n', "mail.host", "DNS allows at most 63",
                 id="mail-host-70-character-label"),
    pytest.param('[mail]\nhost = "smtp relay"\n', "mail.host", "not a valid host name", id="mail-host-space"),
    pytest.param('[mail]\nfrom = "cmaudit at corp"\n', "mail.from", "not a mail address", id="mail-from"),
    pytest.param('[mail]\nto = ["ops@corp..example"]\n', "mail.to", "has a domain that", id="mail-to-domain"),
])
def test_bad_values_name_the_key(tmp_path, text, key, message):
    """A value of the wrong kind is reported with its key and what is expected."""
    path = _write(tmp_path, text)
    with pytest.raises(cfg.ConfigError, match=message) as err:
        cfg.load_config(path)
    assert f": {key}: " in str(err.value)


def test_broken_toml_is_a_usage_error(tmp_path):
    """A config that is not TOML is a usage error (exit 64) on one line naming the file and line."""
    path = _write(tmp_path, "inventory = \n")
    with pytest.raises(cfg.ConfigError, match=r"not valid TOML.*line 1") as err:
        cfg.load_config(path)
    assert isinstance(err.value, UsageError)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_mail_settings_from_config_and_command_line(tmp_path):
    """[mail] supplies the relay; --mail-to replaces the recipients."""
    path = _write(tmp_path, GOOD)
    args = _parser().parse_args(["--config", str(path), "--mail-to", "oncall@corp.example"])
    settings = config_options.mail_settings(args, config_options.apply_config(args))
    assert settings is not None
    assert settings.to == ("oncall@corp.example",) and settings.host == "smtp.corp.example"
    assert (settings.port, settings.security, settings.password_env) == (587, "starttls", "CMAUDIT_SMTP_PASSWORD")
    assert settings.when == "findings"
    args = _parser().parse_args([])
    assert config_options.mail_settings(args, config_options.apply_config(args)) is None


def test_max_auth_failures_zero_disables_as_on_the_command_line(tmp_path):
    """`max_auth_failures = 0` in the config turns the lockout breaker off, as `--max-auth-failures 0` does."""
    assert cfg.load_config(_write(tmp_path, "max_auth_failures = 0\n")).get("max_auth_failures") == 0


@pytest.mark.parametrize(("key", "value", "flag"), [
    pytest.param("timeout", "1e9", "--timeout", id="timeout-too-long"),
    pytest.param("max_log_bytes", "100", "--max-log-bytes", id="log-cap-too-small"),
    pytest.param("concurrency", "0", "--concurrency", id="no-concurrency"),
    pytest.param("retries", "-1", "--retries", id="negative-retries"),
])
def test_file_and_command_line_refuse_the_same_values(tmp_path, capsys, key, value, flag):
    """cmaudit.toml and the command line share one table of bounds: a value one refuses, the other refuses too."""
    from scanner.cli.main import main

    with pytest.raises(cfg.ConfigError, match=key):
        cfg.load_config(_write(tmp_path, f"{key} = {value}\n"))
    with pytest.raises(SystemExit) as refused:
        main(["scan", "hosts.txt", flag, value])
    assert refused.value.code == 64
    assert flag in capsys.readouterr().err


def test_mail_typo_is_refused_when_the_config_is_loaded(tmp_path, capsys):
    """A `[mail] host` IDNA cannot encode stops a scheduled scan at once (exit 64), not every week at mail time."""
    from scanner.cli.main import main

    (tmp_path / "hosts.txt").write_text("127.0.0.1:1\n", encoding="utf-8")
    path = _write(tmp_path, f'inventory = "hosts.txt"\n[mail]\nto = ["ops@corp.example"]\nhost = "{"r" * 70}.corp"\n')
    assert main(["scan", "--config", str(path), "-o", str(tmp_path / "run")]) == 64
    err = capsys.readouterr().err
    assert f"{path}: mail.host: " in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("text", "key", "value"), [
    pytest.param('auth = "NTLM"\n', "auth", "ntlm", id="auth"),
    pytest.param('scheme = "HTTPS"\n', "scheme", "https", id="scheme"),
    pytest.param('tls = "Legacy"\n', "tls", "legacy", id="tls"),
    pytest.param('[mail]\nwhen = "Findings"\n', "when", "findings", id="mail-when"),
])
def test_choices_are_taken_in_any_case_as_on_the_command_line(tmp_path, text, key, value):
    """`auth = "NTLM"` in cmaudit.toml means ntlm, as `--auth NTLM` does; a wrong one still names the nearest."""
    config = cfg.load_config(_write(tmp_path, text))
    assert {**config.values, **config.mail}[key] == value
    with pytest.raises(cfg.ConfigError, match="did you mean ntlm"):
        cfg.load_config(_write(tmp_path, 'auth = "NTML"\n'))
