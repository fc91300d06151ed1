"""Logging set-up: handlers, formats, and a filter that masks secrets in every record.

``configure_logging`` is called by ``run.py`` (and the CLI) only; modules just use
``logging.getLogger(__name__)``. The ``SecretFilter`` sits on the handler, so it sees every
record from every logger: it masks each configured secret value, and anything shaped like
a token (API keys, bearer tokens, Discord tokens, passwords in URLs), in the message, its
arguments, the exception text and the stack, even when a secret is logged by accident.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import TextIO

__all__ = ["MASK", "JsonFormatter", "SecretFilter", "configure_logging"]

MASK = "****"

#: Token shapes masked whatever the configuration says.
TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    # OpenAI / Anthropic / OpenRouter style keys: sk-..., sk-ant-..., sk-or-v1-...
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    # Discord bot tokens: three dot-separated base64url parts.
    re.compile(r"\b[A-Za-z0-9_\-]{23,28}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,}"),
    # GitHub tokens.
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    # Fernet keys (32 bytes, url-safe base64).
    re.compile(r"\b[A-Za-z0-9_\-]{43}="),
    # JWTs.
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
)

#: Keep the label, mask what follows it.
LABELLED = (
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/\-]{8,}=*)"),
    re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{8,}=*)"),
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|password"
        r"|passwd|secret|token)[\"']?\s*[=:]\s*[\"']?)([^\s\"'&,;}]{4,})"
    ),
    # user:password@ in URLs
    re.compile(r"(://[^:/\s@]+:)([^@\s/]+)(?=@)"),
)


class SecretFilter(logging.Filter):
    """Masks configured secrets and token-shaped strings in every record it sees.

    Args:
        secrets: values to mask wherever they appear (shorter than 4 characters are
            ignored: masking them would garble ordinary words).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values = sorted({value for value in secrets if value and len(value) >= 4}, key=len)
        self._secrets = tuple(reversed(values))  # longest first, so a secret's part never wins

    def mask(self, text: str) -> str:
        for value in self._secrets:
            if value in text:
                text = text.replace(value, MASK)
        for pattern in TOKEN_PATTERNS:
            text = pattern.sub(MASK, text)
        for pattern in LABELLED:
            text = pattern.sub(lambda match: match.group(1) + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, masked
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.mask(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.mask(text)
            record.exc_info = None  # the masked text replaces it
        elif record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


CHATTY_LIBRARIES = ("httpx", "httpcore", "openai", "anthropic", "urllib3", "alembic")
"""Loggers held at WARNING unless the level is DEBUG."""


def configure_logging(
    level: str,
    fmt: str = "text",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every record to ``stream`` (stderr), formatted, with secrets masked.

    Replaces the root logger's handlers; returns the handler installed.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that log every request or retry at INFO (httpx: each URL; openai: each
    # retry, which Clara's own gateway and memory actor already report once, in words;
    # alembic: its context on every start, while the store says once what it upgraded)
    # speak at WARNING unless the operator asked for DEBUG.
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(
            logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
        )
    # hypercorn's error log would add its own handler; ours is enough.
    logging.getLogger("clara.adapters.http.server").propagate = True
    return handler
