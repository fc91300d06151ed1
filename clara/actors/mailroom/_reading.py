"""Reading a message to Clara's own address: its headers, its text, bounded and on one line.

Mail to Clara is written by strangers, so everything here treats it as hostile:

- at most ``max_bytes`` of a message is ever fetched (``BODY.PEEK[]<0.N>``: the server cuts
  it, and PEEK leaves it unread), and at most ``max_chars`` of its text is kept;
- every header value comes out on one line: encoded words decoded, then every control
  character and line separator (CR, LF, NEL, U+2028...) made a space, so nothing taken from
  a header can end a header line of the reply;
- addresses are kept only when they are one plain ``local@domain`` (the reply goes to
  nothing else), Message-IDs only as ``<...>`` without spaces;
- a broken MIME structure, an unknown charset or broken base64 gives what could be read,
  never an exception (``parse_inbound`` does not raise).

``fetch_inbound`` runs on an ``ImapSession`` in a worker thread, like its own methods.
"""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import html
import re
import unicodedata
from collections.abc import Sequence
from email.message import Message
from typing import Any

import msgspec
from imapclient.exceptions import (  # type: ignore[import-untyped]  # ships no types
    IMAPClientAbortError,
    IMAPClientError,
)

from ...adapters.email import ImapProtocolError, ImapSession, ImapUnavailable
from ._screen import SCREENED_HEADERS

__all__ = [
    "MAX_FETCH_BYTES",
    "InboundMail",
    "fetch_inbound",
    "mail_key",
    "one_line",
    "parse_inbound",
    "plain_address",
]

#: How much of one message is fetched: the headers and the start of its text.
MAX_FETCH_BYTES = 65_536
#: How much of its text is kept for the model.
MAX_TEXT_CHARS = 6_000
#: Messages per FETCH.
_BATCH = 20

_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]{1,400}>")
_TAGS = re.compile(r"<[^>]{0,2000}>")
_BLANK_RUNS = re.compile(r"[ \t\f\v]+")
_MANY_LINES = re.compile(r"\n{3,}")


class InboundMail(msgspec.Struct, frozen=True, kw_only=True):
    """One message as the mailroom sees it (bounded, one-line headers)."""

    uid: int
    internal_date: dt.datetime | None
    """When the server received it (INTERNALDATE), aware."""
    message_id: str | None
    """``<...>``, or None when it has none usable."""
    sender: str
    """``Name <local@domain>`` (or the address alone), one line."""
    sender_address: str
    """The From address, lower case; empty when it has none usable."""
    reply_address: str
    """Where a reply goes: the first usable Reply-To address, else the From one; empty:
    nowhere usable."""
    subject: str
    date: dt.datetime | None
    references: tuple[str, ...]
    """The thread so far (References, then In-Reply-To when not in it), oldest first."""
    text: str
    """The first text part (plain, else HTML without tags), at most ``max_chars``."""
    truncated: bool
    headers: dict[str, str]
    """The ``SCREENED_HEADERS`` it has, one line each."""


def one_line(text: str, limit: int) -> str:
    """``text`` on one line: every control character and line or paragraph separator made a
    space, blanks collapsed, cut to ``limit`` characters."""
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in text
    )
    return " ".join(cleaned.split())[:limit]


def _decoded(value: Any) -> str:
    """A header as text: 8-bit bytes read as UTF-8, RFC 2047 words decoded (what cannot be
    is kept as it came)."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        chunks = email.header.decode_header(value)
        raw = "".join(
            chunk.decode(_charset(charset), "replace") if isinstance(chunk, bytes) else chunk
            for chunk, charset in chunks
        )
    else:
        raw = str(value)
    try:
        # The modern parser decodes encoded words next to plain 8-bit text, and tolerates
        # unknown charsets and broken words.
        return str(email.policy.default.header_factory("x-clara", raw))
    except Exception:  # a value it cannot parse: kept as it came
        return raw


def _charset(name: str | None) -> str:
    """A codec for ``name``: UTF-8 when it is unknown, absent or 8-bit-unknown."""
    if not name or name.lower() in ("unknown-8bit", "x-unknown"):
        return "utf-8"
    try:
        "".encode(name)
    except (LookupError, ValueError):
        return "utf-8"
    return name


def plain_address(value: str) -> str:
    """``value`` when it is one plain ``local@domain`` address (lower case), else empty."""
    candidate = value.strip()
    return candidate.lower() if _ADDRESS.fullmatch(candidate) else ""


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) of each address in the header ``name``; address empty when
    it is not a plain one."""
    raw = [str(value) for value in message.get_all(name, [])]
    try:
        pairs = email.utils.getaddresses(raw)
    except (ValueError, IndexError, TypeError):
        return []
    return [(one_line(_decoded(name), 100), plain_address(address)) for name, address in pairs]


def _date(value: Any) -> dt.datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _text_of(message: Message, max_chars: int) -> tuple[str, bool]:
    """The first text/plain part that is not an attachment (else text/html, tags dropped),
    decoded and tidied; and whether it was cut."""
    found: dict[str, Message] = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        if (part.get("Content-Disposition") or "").strip().lower().startswith("attachment"):
            continue
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in found:
            found[kind] = part
    chosen = found.get("text/plain") or found.get("text/html")
    if chosen is None:
        return "", False
    part = chosen
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return "", False
    text = payload.decode(_charset(part.get_content_charset()), "replace")
    if part.get_content_type() == "text/html":
        text = html.unescape(_TAGS.sub(" ", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        char if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cf") else " "
        for char in text
    )
    text = _MANY_LINES.sub("\n\n", _BLANK_RUNS.sub(" ", text)).strip()
    if len(text) > max_chars:
        return text[:max_chars].rstrip(), True
    return text, False


def parse_inbound(
    uid: int,
    raw: bytes,
    internal_date: dt.datetime | None,
    *,
    cut: bool = False,
    max_chars: int = MAX_TEXT_CHARS,
) -> InboundMail:
    """One message from its raw start (``cut``: the server cut it at the fetch limit).
    Never raises: what cannot be read is left empty."""
    unreadable = False
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # a structure the parser cannot take (deep nesting): headers only
        unreadable = True
        try:
            message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        except Exception:
            message = Message()
    senders = _addresses(message, "From")
    display, sender_address = senders[0] if senders else ("", "")
    reply_to = [address for _, address in _addresses(message, "Reply-To") if address]
    sender = f"{display} <{sender_address}>" if display and sender_address else sender_address
    if not sender:
        sender = one_line(_decoded(message.get("From")), 200)
    message_ids = _MESSAGE_ID.findall(str(message.get("Message-ID") or ""))
    references = _MESSAGE_ID.findall(str(message.get("References") or ""))
    for earlier in _MESSAGE_ID.findall(str(message.get("In-Reply-To") or "")):
        if earlier not in references:
            references.append(earlier)
    headers: dict[str, str] = {}
    for name in SCREENED_HEADERS:
        value = message.get(name)
        if value is not None:
            headers[name] = one_line(_decoded(value), 500)
    text, truncated = "", True
    if not unreadable:
        try:
            text, truncated = _text_of(message, max_chars)
        except Exception:  # a structure that cannot be walked (nesting, broken parts)
            text, truncated = "", True
    if internal_date is not None and internal_date.tzinfo is None:
        internal_date = internal_date.replace(tzinfo=dt.UTC)
    return InboundMail(
        uid=uid,
        internal_date=internal_date,
        message_id=message_ids[0] if message_ids else None,
        sender=sender,
        sender_address=sender_address,
        reply_address=reply_to[0] if reply_to else sender_address,
        subject=one_line(_decoded(message.get("Subject")), 500),
        date=_date(message.get("Date")),
        references=tuple(references[-20:]),
        text=text,
        truncated=truncated or cut,
        headers=headers,
    )


def mail_key(mail: InboundMail) -> str:
    """What recognises a message across a UIDVALIDITY change: its Message-ID, else a digest
    of sender, subject and Date (the rule the email accounts use)."""
    if mail.message_id:
        return mail.message_id[:200]
    date = mail.date.isoformat() if mail.date else ""
    digest = hashlib.blake2b(
        f"{mail.sender_address}\n{mail.subject}\n{date}".encode(), digest_size=16
    )
    return "digest:" + digest.hexdigest()


def fetch_inbound(
    session: ImapSession,
    uids: Sequence[int],
    *,
    max_bytes: int = MAX_FETCH_BYTES,
    max_chars: int = MAX_TEXT_CHARS,
) -> list[InboundMail]:
    """The messages ``uids`` of the selected mailbox, in UID order, each read from its first
    ``max_bytes`` (left unread: PEEK). Messages gone meanwhile are left out. Blocking.

    Raises:
        ImapUnavailable: the connection failed or timed out.
        ImapProtocolError: the server refused the FETCH.
    """
    item = f"BODY.PEEK[]<0.{max_bytes}>".encode()
    key = b"BODY[]<0>"
    mails: list[InboundMail] = []
    ordered = sorted(set(uids))
    for start in range(0, len(ordered), _BATCH):
        batch = ordered[start : start + _BATCH]
        try:
            answer = session.client.fetch(batch, [b"INTERNALDATE", item])
        except (IMAPClientAbortError, OSError, EOFError) as error:
            raise ImapUnavailable(
                f"{session.label}: the connection failed during FETCH: "
                f"{type(error).__name__}: {error}"
            ) from error
        except IMAPClientError as error:
            raise ImapProtocolError(
                f"{session.label}: the server refused FETCH: {error}"
            ) from error
        for uid in batch:
            data = answer.get(uid)
            if data is None:
                continue
            raw = data.get(key) or data.get(b"BODY[]") or b""
            if not isinstance(raw, bytes):
                raw = b""
            received = data.get(b"INTERNALDATE")
            mails.append(
                parse_inbound(
                    uid,
                    raw,
                    received if isinstance(received, dt.datetime) else None,
                    cut=len(raw) >= max_bytes,
                    max_chars=max_chars,
                )
            )
    return mails
