"""Keep the API key out of everything we print, raise or store.

serviceminder echoes the request body, ``ApiKey`` included, in every JSON response. ``strip_api_key`` removes it
from parsed responses; ``Redactor`` masks the literal key in free text (messages, log lines); ``RedactingFilter``
does the same for every record that passes through a logging handler.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

MASK = "***"
API_KEY_FIELD = "ApiKey"


def strip_api_key(value: Any) -> Any:
    """Return ``value`` without any ``ApiKey`` field, at any depth (dicts and lists are copied)."""
    if isinstance(value, dict):
        return {k: strip_api_key(v) for k, v in value.items() if k.lower() != API_KEY_FIELD.lower()}
    if isinstance(value, list):
        return [strip_api_key(v) for v in value]
    return value


class Redactor:
    """Masks registered secrets in text. One process-wide instance, ``REDACTOR``, is shared by clients and logs."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        # very short values would mask ordinary words; a real key is long
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record's message with every registered secret masked."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redactor.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._redactor.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
