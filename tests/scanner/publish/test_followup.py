"""After a scan: history, changes, mail and retention never cost the run its results."""

from __future__ import annotations

import argparse
import socket

from scanner.cli.config_options import history_target, mail_settings
from scanner.config.cmaudit_toml import load_config
from scanner.config.mail_settings import MailSettings
from scanner.publish import followup
from tests.support.weekly_runs import run


def test_each_run_is_recorded_and_compared(tmp_path):
    """The second scan of an inventory comes back with its changes and a trend of both runs."""
    db = tmp_path / "h.sqlite3"
    first = followup.prepare(run(1), history_path=db, output_dir=tmp_path / "w1")
    assert first.run_id is not None and first.changes is not None and first.changes.is_baseline
    second = followup.prepare(run(2), history_path=db, output_dir=tmp_path / "w2")
    assert second.changes is not None and [c.host for c in second.changes.fixed] == ["sms02"]
    assert second.trend is not None and str(second.trend).count("<g ") == 2
    assert second.messages == ()


def test_no_history_records_nothing(tmp_path):
    """--no-history leaves no database behind."""
    args = argparse.Namespace(history=tmp_path / "h.sqlite3", no_history=True)
    follow = followup.prepare(run(1), history_path=history_target(args), output_dir=None)
    assert follow.run_id is None and not (tmp_path / "h.sqlite3").exists()


def test_unusable_history_is_a_message_not_a_failure(tmp_path):
    """A history path that cannot be a database gives one line of explanation and no exception."""
    (tmp_path / "taken").mkdir()
    follow = followup.prepare(run(1), history_path=tmp_path / "taken", output_dir=None)
    assert follow.run_id is None and follow.changes is None
    (message,) = follow.messages
    assert message.startswith("history not updated:") and "taken" in message


def test_mail_relay_down_leaves_run_intact(tmp_path):
    """With --mail-to and a dead relay, the follow-up finishes and says the mail was not sent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config_path = tmp_path / "cmaudit.toml"
    config_path.write_text(f'[mail]\nhost = "127.0.0.1"\nport = {port}\nfrom = "cmaudit@example.test"\n')
    args = argparse.Namespace(mail_to=["admins@example.test"], mail_when="always")
    settings = mail_settings(args, load_config(config_path))
    db = tmp_path / "h.sqlite3"
    followup.prepare(run(1), history_path=db, output_dir=None)
    follow = followup.prepare(run(2), history_path=db, output_dir=None)
    done = followup.finish(follow, run(2), mail=settings, keep_runs=1, report_path=None, output_dir=None)
    assert done.mail is not None and not done.mail.sent
    assert any(m.startswith("mail not sent to admins@example.test: cannot reach") for m in done.messages)
    assert done.pruned is not None and len(done.pruned.deleted_runs) == 1
    assert done.run_id is not None


def test_mail_failure_never_stops_retention(tmp_path):
    """A relay name IDNA refuses (a 70-character label) fails the mail alone: old runs are still pruned."""
    settings = MailSettings(to=("admins@example.test",), sender="cmaudit@example.test", host="r" * 70 + ".example",
                            when="always")
    db = tmp_path / "h.sqlite3"
    followup.prepare(run(1), history_path=db, output_dir=None)
    follow = followup.prepare(run(2), history_path=db, output_dir=None)
    done = followup.finish(follow, run(2), mail=settings, keep_runs=1, report_path=None, output_dir=None)
    assert done.mail is not None and not done.mail.sent and done.mail.message.startswith("mail not sent")
    assert done.pruned is not None and len(done.pruned.deleted_runs) == 1
