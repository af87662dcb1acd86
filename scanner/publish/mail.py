"""The weekly mail: summary, what changed since last run, and the HTML report attached.

Sent over SMTP with STARTTLS (or implicit TLS) and an optional login whose password comes from an
environment variable named in the settings, never from the config or argv. A mail failure is a result
(`MailOutcome`), never an exception: by the time we mail, results and reports are already on disk,
and a down mail relay must not turn a finished audit into a failed one.
"""

from __future__ import annotations

import email.policy
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from reports import changes_text
from reports.base import action_order, needs_action
from reports.console import headline_text
from scanner.config.mail_settings import MAIL_WHEN, SECURITY, MailSettings
from scanner.model.changes import Changes
from scanner.model.host import display_name, shared_names
from scanner.model.records import VERDICT_ORDER, RunResults

MAX_ACTION_LINES = 200
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # most relays refuse more; the body then says where the report is
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """Whether the mail went out, and one line saying so (or why not) for the console and log."""

    sent: bool
    message: str
    skipped: bool = False  # --mail-when said there was nothing to send


def should_send(when: str, results: RunResults, changes: Changes | None) -> bool:
    """`always`; `findings` when a host needs action; `changed` when something changed (or first run)."""
    if when == "always":
        return True
    if when == "findings":
        return any(h.verdict.is_finding and h.needs_action for h in results.hosts)
    if when == "changed":
        return changes is None or changes.is_baseline or changes.changed
    raise ValueError(f"--mail-when must be one of {', '.join(MAIL_WHEN)}, not {when!r}")


def _header(text: str) -> str:
    return " ".join(_HEADER_UNSAFE.sub(" ", text).split())


def subject_for(results: RunResults, changes: Changes | None, prefix: str = "[cmaudit]") -> str:
    """One line an admin can triage from the inbox: what needs action, what changed, what went unchecked.
    A waived host is counted as waived, as the report and the exit status count it, never as needing action."""
    findings = sum(h.verdict.is_finding and h.needs_action for h in results.hosts)
    unchecked = sum(h.verdict.is_incomplete and h.needs_action for h in results.hosts)
    waived = sum(h.waived for h in results.hosts)
    inventory = Path(results.meta.inventory_path).name if results.meta.inventory_path else ""
    parts = [f"{findings} need{'s' if findings == 1 else ''} action"]
    if changes is not None and not changes.is_baseline:
        new = len(changes.new_findings) + len(changes.regressed)
        if new:
            parts.append(f"{new} new")
        if changes.fixed:
            parts.append(f"{len(changes.fixed)} fixed")
    if waived:
        parts.append(f"{waived} waived")
    if unchecked:
        parts.append(f"{unchecked} not checked")
    head = " ".join(x for x in (prefix, results.meta.advisory_id, inventory) if x)
    return _header(f"{head}: {', '.join(parts)}")[:250]


def body_for(results: RunResults, changes: Changes | None, *, report_name: str | None,
             run_folder: str | None = None) -> str:
    """Plain-text body: counts, the hosts to act on, the changes block, where the report is."""
    m = results.meta
    lines = [f"cmaudit {m.cmaudit_version}: {m.advisory_id} {m.advisory_title} (KB{m.advisory_kb})".rstrip(),
             f"Run {m.run_id} started {m.started}" + (f", inventory {m.inventory_path}" if m.inventory_path else ""),
             ""]
    counts = {v: sum(h.verdict is v for h in results.hosts) for v in VERDICT_ORDER}
    summary = ", ".join(f"{v.value} {n}" for v, n in counts.items() if n)
    lines.append(f"Hosts: {summary} (total {len(results.hosts)})")
    lines.append(headline_text(results.hosts))  # the report's own figures, "% compliant" as the page rounds it
    if changes is not None:  # what changed first: it is why this mail was sent
        lines += ["", changes_text.render_text(changes).rstrip()]
    action = action_order(h for h in results.hosts if needs_action(h))
    if action:
        lines += ["", f"Needs action ({len(action)}):"]
        shared = shared_names((h.host, h.address, h.port) for h in results.hosts)
        for h in action[:MAX_ACTION_LINES]:
            name = display_name(h.host, h.port) if h.host.casefold() in shared else h.host  # as the report's tables
            lines.append(f"  {changes_text.one_line(name)}  {h.verdict.value}")
        if len(action) > MAX_ACTION_LINES:
            lines.append(f"  ... and {len(action) - MAX_ACTION_LINES} more (see the report)")
    if m.insecure:
        lines += ["", "WARNING: this run used --insecure (certificate validation or encryption was relaxed)."]
    lines.append("")
    if report_name:
        lines.append(f"The full report is attached ({report_name}).")
    if run_folder:
        lines.append(f"Run folder: {run_folder}")
    return "\n".join(lines) + "\n"


def compose(results: RunResults, changes: Changes | None, settings: MailSettings, *,
            report_path: Path | None = None, run_folder: str | None = None) -> EmailMessage:
    """The message, with report.html attached when it exists and is of a size relays accept."""
    attach: bytes | None = None
    note: str | None = None
    if report_path is not None:
        try:
            size = report_path.stat().st_size
            if size <= MAX_ATTACHMENT_BYTES:
                attach = report_path.read_bytes()
            else:
                note = f"The report ({size // 2**20} MiB) is too large to attach; it is in the run folder."
        except OSError as exc:
            note = f"The report could not be attached: {exc.strerror or exc}."
    # No folding under 998 characters: Python folds a subject starting with "[" onto a continuation
    # line, and some clients then show it with a leading space.
    msg = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    msg["Subject"] = subject_for(results, changes, settings.subject_prefix)
    msg["From"] = _header(settings.sender)
    msg["To"] = ", ".join(_header(t) for t in settings.to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="cmaudit.invalid")
    body = body_for(results, changes, report_name=report_path.name if attach is not None and report_path else None,
                    run_folder=run_folder)
    if note:
        body += note + "\n"
    msg.set_content(body)
    if attach is not None and report_path is not None:
        msg.add_attachment(attach, maintype="text", subtype="html", filename=report_path.name)
    return msg


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    return ctx


def _not_supported(exc: Exception, settings: MailSettings, where: str) -> str:
    hint = " (set security = \"tls\" or \"none\" for a trusted relay)" if "STARTTLS" in str(exc) else ""
    return f"{where}: {_header(str(exc))}{hint}"


def _auth_refused(exc: Exception, settings: MailSettings, where: str) -> str:
    return f"{where} refused the login for {settings.username} ({getattr(exc, 'smtp_code', '?')})"


def _answered(exc: Exception, settings: MailSettings, where: str) -> str:
    return f"{where} answered {getattr(exc, 'smtp_code', '?')} {_reply(getattr(exc, 'smtp_error', b''))}"


def _unreachable(exc: Exception, settings: MailSettings, where: str) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot reach {where}: {_header(reason)}"


def _unencodable(exc: Exception, settings: MailSettings, where: str) -> str:
    return f"{where}: {_header(str(exc)) or type(exc).__name__}"


# How a failed delivery reads, first matching row wins (subclasses before their bases): exception -> the
# reason after "mail not sent to <recipients>: ".
_DELIVERY_FAILURES: tuple[tuple[type[Exception], Callable[[Exception, MailSettings, str], str]], ...] = (
    (smtplib.SMTPNotSupportedError, _not_supported),  # no STARTTLS, no AUTH, or no SMTPUTF8 for an address
    (smtplib.SMTPAuthenticationError, _auth_refused),
    (smtplib.SMTPResponseException, _answered),
    (OSError, _unreachable),  # SMTPException, SSLError and timeouts are all OSErrors
    (ValueError, _unencodable),  # a relay name IDNA refuses, a header smtplib cannot encode (UnicodeError too)
)


def _settings_problem(settings: MailSettings, env: Mapping[str, str]) -> str | None:
    """Why these settings cannot send at all (checked before any connection), or None."""
    to = ", ".join(settings.to)
    if not settings.to:
        return "mail not sent: no recipient (--mail-to or [mail] to)"
    if settings.security not in SECURITY:
        return f"mail not sent: security must be one of {', '.join(SECURITY)}"
    if not settings.username:
        return None
    where = f"{settings.host}:{settings.port}"
    password = env.get(settings.password_env) if settings.password_env else None
    if settings.security == "none":
        return (f"mail not sent to {to}: refusing to log in to {where} without TLS "
                "(the password would cross the network in clear)")
    if not password:
        return (f"mail not sent to {to}: SMTP login needs the password in the environment "
                f"variable {settings.password_env or '(password_env not set)'}, which is empty")
    if not (settings.username.isascii() and password.isascii()):  # smtplib's AUTH encodes them as ASCII
        return (f"mail not sent to {to}: the SMTP user name and password must be ASCII "
                "(Python's smtplib cannot send others)")
    return None


def _deliver(message: EmailMessage, settings: MailSettings, password: str | None) -> dict[str, object]:
    """One SMTP session: connect, (STARTTLS), (login), send; the recipients the relay refused."""
    context = _tls_context(settings) if settings.security != "none" else None
    smtp: smtplib.SMTP
    if settings.security == "tls":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username and password is not None:
            smtp.login(settings.username, password)
        return dict(smtp.send_message(message))


def send(message: EmailMessage, settings: MailSettings, *, environ: Mapping[str, str] | None = None) -> MailOutcome:
    """Deliver `message`; every failure comes back as a MailOutcome naming the relay and the reason."""
    env = os.environ if environ is None else environ
    problem = _settings_problem(settings, env)
    if problem is not None:
        return MailOutcome(False, problem)
    where = f"{settings.host}:{settings.port}"
    password = env[settings.password_env] if settings.username and settings.password_env else None
    try:
        refused = _deliver(message, settings, password)
    except tuple(kind for kind, _reason in _DELIVERY_FAILURES) as exc:
        reason = next(reason for kind, reason in _DELIVERY_FAILURES if isinstance(exc, kind))
        return MailOutcome(False, f"mail not sent to {', '.join(settings.to)}: {reason(exc, settings, where)}")
    if refused:
        return MailOutcome(False, f"mail sent via {where} but refused for: {', '.join(sorted(refused))}")
    return MailOutcome(True, f"mail sent to {', '.join(settings.to)} via {where}")


def probe_relay(settings: MailSettings) -> tuple[bool, str, str]:
    """(ok, detail, hint) for `cmaudit doctor`: connect to the relay and say EHLO, nothing more (no login, no
    STARTTLS handshake, no mail)."""
    where = f"{settings.host}:{settings.port}"
    try:
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                    context=_tls_context(settings))
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            code, greeting = smtp.ehlo()
            features = sorted(name.upper() for name in smtp.esmtp_features)
    except (OSError, ssl.SSLError) as exc:  # SMTPException, SSLError and timeouts are all OSErrors
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return False, f"cannot reach the mail relay {where}: {_header(reason)}", \
            "check [mail] host/port/security in cmaudit.toml and that the relay accepts this jump box"
    if code != 250:
        return False, f"{where} answered EHLO with {code} {_reply(greeting)}", "check the relay's configuration"
    if settings.security == "starttls" and "STARTTLS" not in features:
        return False, f"{where} does not offer STARTTLS", \
            'set security = "tls" (port 465) or, for a trusted relay, "none" in [mail]'
    if settings.username and "AUTH" not in features:
        return False, f"{where} offers no login (AUTH) but [mail] has a username", \
            "drop username from [mail] for a relay that accepts the jump box without login"
    offered = ", ".join(f for f in features if f in ("STARTTLS", "AUTH", "SIZE", "8BITMIME", "SMTPUTF8")) or "none"
    return True, f"{where} answers EHLO ({_reply(greeting)[:60]}); offers {offered}", ""


def _reply(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return _header(text)[:200]


def mail_run(results: RunResults, changes: Changes | None, settings: MailSettings, *,
             report_path: Path | None = None, run_folder: str | None = None,
             environ: Mapping[str, str] | None = None) -> MailOutcome:
    """Decide (`when`), compose and send; never raises, so the caller's results are never at stake."""
    try:
        if not should_send(settings.when, results, changes):
            return MailOutcome(False, f"no mail: nothing to report for --mail-when {settings.when}", skipped=True)
        message = compose(results, changes, settings, report_path=report_path, run_folder=run_folder)
    except (ValueError, OSError) as exc:
        return MailOutcome(False, f"mail not sent: {_header(str(exc))}")
    return send(message, settings, environ=environ)
