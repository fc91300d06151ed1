"""Turning imapclient's FETCH answers into ``FetchedMail``: envelope, structure, snippet.

Pure functions (no socket), so the odd shapes servers send are unit-tested directly.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.header
import html
import quopri
import re
from typing import Any

from ._types import FetchedMail

__all__ = [
    "SNIPPET_BYTES",
    "SNIPPET_CHARS",
    "decode_part",
    "decode_snippet",
    "has_attachments",
    "text_part",
]

#: How much of the first text part is fetched: enough for "body contains" rules, bounded.
SNIPPET_BYTES = 4096
#: How much of it is kept, decoded.
SNIPPET_CHARS = 2000

_TAGS = re.compile(r"<[^>]{0,2000}>")
_SPACES = re.compile(r"\s+")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def decode_header_value(value: Any) -> str:
    """An RFC 2047 header (``=?utf-8?q?...?=``) as text; broken encodings are replaced."""
    raw = _text(value)
    try:
        parts = email.header.decode_header(raw)
    except (ValueError, LookupError):
        return raw
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "utf-8", "replace"))
            except LookupError:
                out.append(chunk.decode("utf-8", "replace"))
        else:
            out.append(chunk)
    return "".join(out).strip()


def _address(address: Any) -> tuple[str, str]:
    mailbox = _text(getattr(address, "mailbox", None))
    host = _text(getattr(address, "host", None))
    plain = f"{mailbox}@{host}" if host else mailbox
    name = decode_header_value(getattr(address, "name", None))
    return (f"{name} <{plain}>" if name else plain), plain.lower()


def _parts(structure: Any, prefix: str = "") -> list[tuple[str, tuple[Any, ...]]]:
    """Every leaf part of a BODYSTRUCTURE with its section number (``1``, ``1.2``...)."""
    if not isinstance(structure, tuple | list) or not structure:
        return []
    if isinstance(structure[0], list):  # multipart: (list of parts, subtype, ...)
        leaves = []
        for index, part in enumerate(structure[0], start=1):
            section = f"{prefix}.{index}" if prefix else str(index)
            leaves.extend(_parts(part, section))
        return leaves
    return [(prefix or "1", tuple(structure))]


def _disposition(part: tuple[Any, ...]) -> tuple[str, dict[str, str]]:
    """A leaf's Content-Disposition (its position varies with the type): value, params."""
    for item in part[7:]:
        if (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], bytes)
            and (item[1] is None or isinstance(item[1], tuple))
        ):
            params = item[1] or ()
            pairs = dict(zip(params[::2], params[1::2], strict=False))
            return _text(item[0]).lower(), {_text(k).lower(): _text(v) for k, v in pairs.items()}
    return "", {}


def _params(part: tuple[Any, ...]) -> dict[str, str]:
    params = part[2] if len(part) > 2 and isinstance(part[2], tuple) else ()
    return {_text(k).lower(): _text(v) for k, v in zip(params[::2], params[1::2], strict=False)}


def has_attachments(structure: Any) -> bool:
    """Whether any part is an attachment (disposition ``attachment``, or a named non-text
    part)."""
    for _section, part in _parts(structure):
        disposition, disposition_params = _disposition(part)
        if disposition == "attachment":
            return True
        named = "name" in _params(part) or "filename" in disposition_params
        if named and _text(part[0]).lower() != "text":
            return True
    return False


def text_part(structure: Any) -> tuple[str, str, str, str] | None:
    """The first text/plain part (else text/html) that is not an attachment: its section,
    subtype, transfer encoding and charset; None when there is none."""
    candidates: dict[str, tuple[str, str, str, str]] = {}
    for section, part in _parts(structure):
        if len(part) < 6 or _text(part[0]).lower() != "text":
            continue
        if _disposition(part)[0] == "attachment":
            continue
        subtype = _text(part[1]).lower()
        if subtype in ("plain", "html") and subtype not in candidates:
            charset = _params(part).get("charset", "utf-8") or "utf-8"
            candidates[subtype] = (section, subtype, _text(part[5]).lower(), charset)
    return candidates.get("plain") or candidates.get("html")


def decode_part(raw: bytes, subtype: str, encoding: str, charset: str) -> str:
    """A text part as text: its transfer encoding and charset undone, tags dropped from
    HTML; whitespace left as it is. ``raw`` may be cut mid-way: what cannot be decoded at
    its end is dropped (or replaced)."""
    data = raw
    if encoding == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", raw)
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            data = base64.b64decode(compact)
        except (binascii.Error, ValueError):
            data = b""
    elif encoding == "quoted-printable":
        data = quopri.decodestring(raw)
    try:
        text = data.decode(charset, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    if subtype == "html":
        text = html.unescape(_TAGS.sub(" ", text))
    return text


def decode_snippet(raw: bytes, subtype: str, encoding: str, charset: str) -> str:
    """The start of a text part, decoded (``decode_part``), on one line and cut to
    ``SNIPPET_CHARS``."""
    return _SPACES.sub(" ", decode_part(raw, subtype, encoding, charset)).strip()[:SNIPPET_CHARS]


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def fetched_mail(uid: int, data: dict[bytes, Any], snippet: str) -> FetchedMail:
    """One message from its FETCH of ENVELOPE, INTERNALDATE and BODYSTRUCTURE."""
    envelope = data.get(b"ENVELOPE")
    senders = getattr(envelope, "from_", None) or getattr(envelope, "sender", None) or ()
    sender, sender_address = _address(senders[0]) if senders else ("", "")
    message_id = _text(getattr(envelope, "message_id", None)).strip() or None
    return FetchedMail(
        uid=uid,
        sender=sender,
        sender_address=sender_address,
        subject=decode_header_value(getattr(envelope, "subject", None)),
        date=_aware(getattr(envelope, "date", None)),
        internal_date=_aware(data.get(b"INTERNALDATE")),
        has_attachments=has_attachments(data.get(b"BODYSTRUCTURE")),
        snippet=snippet,
        message_id=message_id,
    )
