"""The cmaudit command line itself."""

from __future__ import annotations

import os
import subprocess
import sys


def test_bad_usage_exit_status_is_64():
    """Schedulers can tell bad usage (64) from an incomplete audit (2)."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "--no-such-option"], capture_output=True, text=True)
    assert proc.returncode == 64
    assert "error" in proc.stderr


def test_help_documents_exit_codes():
    """`cmaudit --help` says what each exit status means."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "64" in proc.stdout and "AFFECTED" in proc.stdout


def test_demo_unwritable_output_is_one_line_error(tmp_path, capsys):
    """`cmaudit demo -o` under a plain file ends with a one-line error and exit 64, not a traceback."""
    from scanner.cli.main import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["demo", "--hosts", "1", "--once", "--quiet", "-o", str(blocker / "run")]) == 64
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("cmaudit: error: ") and str(blocker / "run") in err


def test_text_a_console_cannot_show_is_replaced_not_a_crash(tmp_path):
    """On a console code page without a log's characters (e.g. cp1252), check prints instead of crashing."""
    log = tmp_path / "wsyncmgr.log"
    log.write_text("Performing legacy sync \u4e2d\u6587  $$<SMS_WSUS_SYNC_MANAGER><06-10-2008 02:13:12.001+480>"
                   "<thread=5976 (0x1758)>\n", encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    proc = subprocess.run([sys.executable, "-m", "scanner", "check", "--full-version", "4.00.6221.1000", str(log)],
                          capture_output=True, env=env)
    assert b"Traceback" not in proc.stderr
    assert proc.returncode in (0, 1, 2) and b"legacy sync" in proc.stdout


def test_password_env_must_be_a_variable_name(tmp_path, monkeypatch, capsys):
    """`--password-env` given the password itself is refused (exit 64) without echoing it or writing any report."""
    import pytest

    from scanner.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hosts.txt").write_text("127.0.0.1:1\n", encoding="utf-8")
    pasted = "Hunter2-Secret!pw"
    with pytest.raises(SystemExit) as refused:
        main(["scan", "hosts.txt", "--password-env", pasted, "--quiet", "--retries", "0"])
    assert refused.value.code == 64
    err = capsys.readouterr().err
    assert "--password-env" in err and "NAME of an environment variable" in err and pasted not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts.txt"]


def test_output_cut_short_by_a_pipe_is_not_a_traceback(tmp_path):
    """`cmaudit inventory BIG | head -1` ends quietly (status 141, as after SIGPIPE), not in a BrokenPipeError."""
    import subprocess
    import sys

    inventory = tmp_path / "hosts.txt"
    inventory.write_text("".join(f"sms{i:05d}.corp.example\n" for i in range(5000)), encoding="utf-8")
    reader = subprocess.Popen([sys.executable, "-m", "scanner", "inventory", str(inventory)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()  # the reader goes away after one line, as `head -1` does; the table is far longer
    err = reader.stderr.read().decode()
    reader.stderr.close()
    assert reader.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def _crash_in_history_command(monkeypatch):
    """`cmaudit history` whose database layer has a bug (an exception nobody expected)."""
    from scanner.history import database

    def broken(*_args, **_kwargs):
        raise RuntimeError("unexpected state password=Hunter2secret")

    monkeypatch.setattr(database, "list_runs", broken)


def test_a_bug_exits_70_with_one_line_naming_the_traceback_file(tmp_path, monkeypatch, capsys):
    """An unexpected exception is exit 70 (never 1, "findings"), one stderr line naming the file with the traceback."""
    from pathlib import Path

    from scanner.cli.crash import crash_folders
    from scanner.cli.main import main

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    _crash_in_history_command(monkeypatch)
    assert main(["history", "--history", str(tmp_path / "h.sqlite3")]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "RuntimeError" in err, err
    saved = Path(err.rsplit("the traceback is in ", 1)[1].strip())
    # the user's log folder: $XDG_STATE_HOME's on Linux; on Windows %LOCALAPPDATA%\cmaudit\Logs, as Windows says
    assert saved.parent == crash_folders()[0] and (os.name == "nt" or saved.is_relative_to(tmp_path / "state"))
    text = saved.read_text(encoding="utf-8")
    if os.name == "nt":
        saved.unlink()  # outside the test's folder there
    assert "Traceback" in text and "RuntimeError" in text and "list_runs" not in err
    assert "Hunter2secret" not in text and "Hunter2secret" not in err
    if os.name == "posix":
        assert saved.stat().st_mode & 0o077 == 0


def test_a_bug_under_debug_puts_the_traceback_in_the_trace(tmp_path, monkeypatch, capsys):
    """With --debug FILE the crash line names that trace, and the traceback is in it."""
    from scanner.cli.commands import doctor
    from scanner.cli.main import main

    def broken(_args):
        raise KeyError("no such step")

    monkeypatch.setattr(doctor, "run", broken)
    trace = tmp_path / "trace.log"
    assert main(["doctor", "--no-history", "--debug", str(trace)]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(trace) in err and "KeyError" in err, err
    assert "Traceback" in trace.read_text(encoding="utf-8")


def test_help_lists_the_crash_status():
    """`cmaudit scan --help` documents 70 beside the audit's own statuses."""
    proc = subprocess.run([sys.executable, "-m", "scanner", "scan", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "  70  " in proc.stdout
