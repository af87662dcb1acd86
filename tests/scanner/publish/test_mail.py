"""The weekly mail, sent to a real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS and login."""

from __future__ import annotations

import email
import smtplib
import socket
import ssl
import warnings
from dataclasses import replace
from email import policy

import pytest
import trustme

from scanner.config.mail_settings import MailSettings
from scanner.history import changes
from scanner.model.records import Waiver
from scanner.publish import mail
from tests.support.weekly_runs import run

with warnings.catch_warnings():
    # aiosmtpd 1.4 imports with DeprecationWarnings on Python 3.11 (its own code, not ours); import it
    # under a narrow filter so pytest's filterwarnings=error does not fail collection.
    warnings.simplefilter("ignore", DeprecationWarning)
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "audit-mailer", "s3cret-mail-pw"


class _Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and \
        auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


class _LoopbackController(Controller):
    """Binds 127.0.0.1 port 0 and reads the real port back before the readiness probe."""

    def __init__(self, handler, **kwargs):
        super().__init__(handler, hostname="127.0.0.1", port=0, **kwargs)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def smtp_server(ca, tmp_path):
    """A STARTTLS-only SMTP server that requires login; yields (inbox, port, CA file)."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = _Inbox()
    controller = _LoopbackController(inbox, tls_context=server_ctx, require_starttls=True,
                                     authenticator=_authenticate, auth_require_tls=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd's event-loop handling on 3.11
        controller.start()
    try:
        yield inbox, controller.port, ca_file
    finally:
        controller.stop()


def _settings(port, ca_file, **over):
    base = dict(to=("sccm-admins@example.test",), sender="cmaudit@example.test", host="127.0.0.1", port=port,
                security="starttls", username=USER, password_env="CMAUDIT_SMTP_PASSWORD", when="always",
                ca_file=ca_file, timeout=10.0)
    base.update(over)
    return MailSettings(**base)


def _report(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("<!doctype html><title>cmaudit</title><h1>Since last run</h1>", encoding="utf-8")
    return path


def test_weekly_mail_arrives_with_changes_and_report(smtp_server, tmp_path):
    """The admin receives a mail whose subject triages, whose body lists the changes, with report.html attached."""
    inbox, port, ca_file = smtp_server
    c = changes.compare(run(1), run(2))
    outcome = mail.mail_run(run(2), c, _settings(port, ca_file), report_path=_report(tmp_path),
                            run_folder="/srv/cmaudit/runs/w2", environ={"CMAUDIT_SMTP_PASSWORD": PASSWORD})
    assert outcome.sent, outcome.message
    (msg,) = inbox.messages
    assert msg["Subject"] == "[cmaudit] ms-954474 fleet.csv: 2 need action, 1 new, 1 fixed, 1 not checked"
    assert inbox.envelopes == [("cmaudit@example.test", ["sccm-admins@example.test"])]
    body = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert "Fixed (1):\n    sms02  AFFECTED -> NOT_AFFECTED" in body
    assert "Regressed (1):\n    sms03  NOT_AFFECTED -> AFFECTED" in body
    assert "Newly unreachable (1):" in body and "Hosts removed (1):\n    sms05" in body
    assert "Run folder: /srv/cmaudit/runs/w2" in body
    assert "2 of 5 hosts compliant (40%); 2 needing action, 0 waived, 1 could not be checked" in body  # as the page
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "report.html" and attachment.get_content_type() == "text/html"
    assert "<h1>Since last run</h1>" in attachment.get_content()
    assert PASSWORD not in msg.as_string()


def test_subject_counts_a_waived_finding_as_waived_not_as_needing_action():
    """The subject agrees with the report and the exit status: a waived host needs no action, and is named as waived."""
    week = run(2)  # sms01 and sms03 AFFECTED, sms04 ERROR
    accepted = Waiver(host="sms01", reason="site retired", owner="j.doe", expires="2999-12-31")
    waived = replace(week, hosts=tuple(replace(h, waiver=accepted) if h.host == "sms01" else h for h in week.hosts))
    assert mail.subject_for(waived, None) == "[cmaudit] ms-954474 fleet.csv: 1 needs action, 1 waived, 1 not checked"
    assert not mail.should_send("findings", replace(waived, hosts=waived.hosts[:1]), None)


def test_wrong_smtp_password_is_reported_not_raised(smtp_server, tmp_path):
    """A rejected SMTP login comes back as a clear failure, without the password in it."""
    _inbox, port, ca_file = smtp_server
    outcome = mail.mail_run(run(2), None, _settings(port, ca_file), report_path=_report(tmp_path),
                            environ={"CMAUDIT_SMTP_PASSWORD": "wrong-pw"})
    assert not outcome.sent and "refused the login for audit-mailer" in outcome.message
    assert "wrong-pw" not in outcome.message


def test_untrusted_relay_certificate_is_refused(smtp_server, tmp_path):
    """Without the relay's CA the STARTTLS handshake fails and no password is sent."""
    inbox, port, _ca = smtp_server
    outcome = mail.mail_run(run(2), None, _settings(port, None), environ={"CMAUDIT_SMTP_PASSWORD": PASSWORD})
    assert not outcome.sent and "CERTIFICATE_VERIFY_FAILED" in outcome.message
    assert inbox.messages == []


def _free_port() -> int:
    """A loopback port with nobody listening: bind port 0, read it back, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_smtp_server_down_is_reported_and_returns(tmp_path):
    """With the relay down the send returns promptly with a one-line reason instead of raising."""
    outcome = mail.mail_run(run(2), None, _settings(_free_port(), None, timeout=5.0),
                            report_path=_report(tmp_path), environ={"CMAUDIT_SMTP_PASSWORD": PASSWORD})
    assert not outcome.sent
    assert outcome.message.startswith("mail not sent to sccm-admins@example.test: cannot reach 127.0.0.1:")
    assert "refused" in outcome.message.lower() and "\n" not in outcome.message


def test_missing_password_variable_is_reported(tmp_path):
    """A login configured without its password variable set says which variable to set."""
    outcome = mail.mail_run(run(2), None, _settings(_free_port(), None), environ={})
    assert not outcome.sent and "CMAUDIT_SMTP_PASSWORD" in outcome.message


def test_login_without_tls_is_refused(tmp_path):
    """cmaudit never sends an SMTP password over an unencrypted connection."""
    outcome = mail.mail_run(run(2), None, _settings(_free_port(), None, security="none"),
                            environ={"CMAUDIT_SMTP_PASSWORD": PASSWORD})
    assert not outcome.sent and "without TLS" in outcome.message


@pytest.mark.parametrize(("when", "weeks", "expected"), [
    pytest.param("always", (3, 3), True, id="always"),
    pytest.param("changed", (2, 3), False, id="changed-nothing-changed"),
    pytest.param("changed", (1, 2), True, id="changed-something-changed"),
    pytest.param("findings", (2, 3), True, id="findings-open"),
])
def test_mail_when(when, weeks, expected):
    """--mail-when decides whether a week's mail goes out."""
    c = changes.compare(run(weeks[0]), run(weeks[1]))
    assert mail.should_send(when, run(weeks[1]), c) is expected


def test_nothing_changed_skips_without_contacting_the_relay():
    """With --mail-when changed and a quiet week, no connection is even attempted."""
    c = changes.compare(run(2), run(3))
    outcome = mail.mail_run(run(3), c, _settings(_free_port(), None, when="changed"), environ={})
    assert outcome.skipped and not outcome.sent


def test_non_ascii_smtp_password_is_reported_not_raised(smtp_server, tmp_path):
    """A password smtplib cannot send (non-ASCII) is a one-line failure, not a traceback after the scan."""
    inbox, port, ca_file = smtp_server
    outcome = mail.mail_run(run(2), None, _settings(port, ca_file), report_path=_report(tmp_path),
                            environ={"CMAUDIT_SMTP_PASSWORD": "pässwört"})
    assert not outcome.sent and "ASCII" in outcome.message
    assert "pässwört" not in outcome.message and inbox.messages == []


@pytest.mark.parametrize(("missing", "expected"), [
    pytest.param("starttls", "STARTTLS extension not supported by server. (set security", id="no-starttls"),
    pytest.param("login", "SMTP AUTH extension not supported by server.", id="no-auth"),
])
def test_missing_relay_extension_is_named(monkeypatch, missing, expected):
    """A relay lacking an extension is reported by the extension it lacks, not always as missing STARTTLS."""

    class _Relay:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ehlo(self):
            pass

        def starttls(self, context=None):
            if missing == "starttls":
                raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")

        def login(self, user, password):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")

    monkeypatch.setattr(smtplib, "SMTP", _Relay)
    outcome = mail.mail_run(run(2), None, _settings(25, None), environ={"CMAUDIT_SMTP_PASSWORD": PASSWORD})
    assert not outcome.sent and outcome.message.startswith("mail not sent to sccm-admins@example.test: 127.0.0.1:25: ")
    assert expected in outcome.message
