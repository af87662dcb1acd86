"""What must never reach a debug trace, and the logging filter that enforces it on every record.

Library code logs with `logging.getLogger(__name__)` and never formats a secret on purpose; this filter is
the second line: every record that reaches a `--debug` handler is rendered here first (message and any
traceback) and scrubbed of
- the run's known secrets (passwords, in their plain and UTF-16/base64 forms), registered with `remember`;
- HTTP authentication headers and tokens: `Authorization: ...`, `Basic|Negotiate|NTLM|Kerberos|CredSSP <token>`;
- `password=...`-style assignments;
- base64 runs of 40+ characters (security tokens, and WinRS streams: the collected log's *content*);
- control characters from servers (a trace line stays one line).
Each record is also bounded in size.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable

MAX_RECORD_CHARS = 20_000

_TOKEN = re.compile(r"(?i)\b(Basic|Negotiate|NTLM|Kerberos|CredSSP|Bearer)(\s+)[A-Za-z0-9+/=_-]{8,}")
_AUTH_HEADER = re.compile(r"(?i)\b(Proxy-)?(Authorization|WWW-Authenticate)(['\"]?\s*[:=]\s*['\"]?)[^\r\n'\",}]*")
_ASSIGNMENT = re.compile(r"(?i)\b(password|passwd|pwd|secret|token)(['\"]?\s*[:=]\s*)(['\"]?)[^\s'\",;&)}]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e]")


class Redactor:
    """Scrubs text of secrets and credentials; thread-safe, shared by a process's debug handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def remember(self, secrets: Iterable[str | None]) -> None:
        """Add secrets to scrub (longest first, so a secret containing another is scrubbed whole)."""
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.add(secret)
            forms.add(base64.b64encode(secret.encode()).decode())
            forms.add(secret.encode("utf-16-le").decode("latin-1"))
        with self._lock:
            self._secrets = tuple(sorted(set(self._secrets) | forms, key=len, reverse=True))

    def forget(self) -> None:
        with self._lock:
            self._secrets = ()

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = self._secrets
        for secret in secrets:
            text = text.replace(secret, "<secret>")
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}{m.group(3)}<redacted>", text)
        text = _TOKEN.sub(r"\1\2<token>", text)
        text = _ASSIGNMENT.sub(r"\1\2\3<secret>", text)
        text = _BASE64.sub(lambda m: f"<{len(m.group(0))} base64 chars>", text)
        text = _CONTROL.sub("?", text)
        if len(text) > MAX_RECORD_CHARS:
            text = text[:MAX_RECORD_CHARS] + f"... [{len(text) - MAX_RECORD_CHARS} chars cut]"
        return text


REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """Renders a record's message (and traceback) and replaces it with the redacted text."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a bad format string must not lose the record, nor show its args
            message = f"{record.msg!r} (unformattable: {type(exc).__name__})"
        if record.exc_info:
            message += "\n" + self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            message += "\n" + record.exc_text
            record.exc_text = None
        if record.stack_info:
            message += "\n" + record.stack_info
            record.stack_info = None
        lines = [self.redactor.redact(line) for line in message.split("\n")]
        record.msg = "\n    ".join(lines)
        record.args = None
        return True
