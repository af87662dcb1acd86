"""The demo's closing "Next steps" are commands the admin's own shell takes: POSIX shells, or PowerShell and cmd."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner.cli.commands.demo import _default_history, _next_step


@pytest.mark.parametrize("platform, venv_file, command", [
    pytest.param("posix", ".venv/bin/cmaudit", ".venv/bin/cmaudit", id="posix"),
    pytest.param("nt", ".venv/Scripts/cmaudit.exe", ".venv\\Scripts\\cmaudit", id="windows"),
])
def test_next_steps_use_the_venv_this_platform_has(tmp_path, monkeypatch, platform, venv_file, command):
    """With the venv `make demo` (or `py -m venv .venv`) made, the next steps name its cmaudit the platform's way."""
    monkeypatch.chdir(tmp_path)
    assert "  cmaudit history" in _next_step(None, _default_history(), platform)
    (tmp_path / venv_file).parent.mkdir(parents=True)
    (tmp_path / venv_file).touch()
    text = _next_step(None, _default_history(), platform)
    assert f"{command} history" in text and f"{command} scan hosts.csv" in text


def test_windows_next_steps_set_the_password_as_powershell_and_cmd_do(tmp_path, monkeypatch):
    """On Windows the password is set the PowerShell way (and the cmd way), never with `export`; the user name
    needs no quotes there, and single sign-on is offered."""
    monkeypatch.chdir(tmp_path)
    text = _next_step(Path("report.html"), _default_history(), "nt")
    assert "export" not in text and "$env:CMAUDIT_PASSWORD = '...'" in text and "set CMAUDIT_PASSWORD=..." in text
    assert "--username CORP\\svc-audit" in text and "'CORP" not in text
    assert "scan hosts.csv --auth negotiate" in text


def test_posix_next_steps_export_the_password(tmp_path, monkeypatch):
    """On Linux and macOS the password is exported for the shell, and the DOMAIN\\user is quoted."""
    monkeypatch.chdir(tmp_path)
    text = _next_step(Path("report.html"), _default_history(), "posix")
    assert "export CMAUDIT_PASSWORD=..." in text and "$env:" not in text
    assert "--username 'CORP\\svc-audit'" in text


def test_demo_ends_with_this_platforms_next_steps(demo_run):
    """`cmaudit demo` itself prints the next steps of the platform it runs on."""
    tail = demo_run.stdout.rsplit("cmaudit demo: fleet stopped", 1)[1]
    if os.name == "nt":
        assert "$env:CMAUDIT_PASSWORD" in tail and "export " not in tail
    else:
        assert "export CMAUDIT_PASSWORD" in tail and "$env:" not in tail
