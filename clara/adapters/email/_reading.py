"""Searching and reading INBOX for a person (the model's mail tools), on an ``ImapSession``.

Blocking, like the session's own methods: run them in a worker thread. Both select INBOX
read-only, so looking at mail never marks it seen.

Search words come from a model, which may have been handed anything: they are reduced to
letters, digits and ``@ . - _ + '`` before they reach the wire. What is left cannot close a
quoted string, open a literal (``{n}``), start a list or end the command line; words with
other than ASCII travel as literals (imapclient's rule for 8-bit data) with ``CHARSET UTF-8``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ._parse import (
    _disposition,
    _params,
    _parts,
    _text,
    decode_header_value,
    decode_part,
    fetched_mail,
    text_part,
)
from ._session import ImapSession, _mapped
from ._types import FetchedMail

__all__ = [
    "MAX_SEARCH_WORD",
    "MailAttachment",
    "MailMessage",
    "MailSearch",
    "read_inbox_message",
    "safe_search_words",
    "search_inbox",
]

#: Characters of one search word kept (a longer one is cut).
MAX_SEARCH_WORD = 64
#: Search words kept (the first ones).
MAX_SEARCH_WORDS = 8

_UNSAFE = re.compile(r"[^\w@.\-+']", re.UNICODE)
_BLANK_RUNS = re.compile(r"[ \t\r\f\v]+")
_MANY_LINES = re.compile(r"\n{3,}")


class MailSearch(msgspec.Struct, frozen=True, kw_only=True):
    """What a search of INBOX found: the newest ``mails`` (newest first) of ``total``."""

    uidvalidity: int
    total: int
    mails: list[FetchedMail]


class MailAttachment(msgspec.Struct, frozen=True, kw_only=True):
    """An attachment, named and measured (its content is never fetched)."""

    name: str
    content_type: str
    size: int | None
    """Bytes, decoded (estimated from the encoded size for base64); None if unknown."""


class MailMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message as the model may read it."""

    uid: int
    sender: str
    to: list[str]
    subject: str
    date: dt.datetime | None
    text: str
    """The first text part (plain, else HTML without tags), at most the characters asked."""
    truncated: bool
    attachments: list[MailAttachment]


def safe_search_words(words: Sequence[str]) -> list[str]:
    """The words as they may go into a SEARCH: unsafe characters removed, each cut to
    ``MAX_SEARCH_WORD`` characters, empty ones dropped, at most ``MAX_SEARCH_WORDS``."""
    kept: list[str] = []
    for word in words:
        clean = _UNSAFE.sub("", word.replace("\x00", ""))[:MAX_SEARCH_WORD]
        if clean and clean.lower() not in (known.lower() for known in kept):
            kept.append(clean)
    return kept[:MAX_SEARCH_WORDS]


@_mapped
def search_inbox(session: ImapSession, words: Sequence[str], limit: int) -> MailSearch:
    """Messages whose sender, subject or body holds every one of ``words`` (case does not
    matter), newest first, at most ``limit`` of them fetched.

    Raises:
        ValueError: no usable word is left after cleaning.
        ImapUnavailable, ImapProtocolError: as the session's methods.
    """
    safe = safe_search_words(words)
    if not safe:
        raise ValueError("no word to search for is left once unusable characters are removed")
    state = session.select_inbox()
    criteria: list[Any] = []
    for word in safe:
        criteria += ["OR", "FROM", word, "OR", "SUBJECT", word, "BODY", word]
    charset = None if all(word.isascii() for word in safe) else "UTF-8"
    found = sorted(session.client.search(criteria, charset))
    newest = found[-limit:] if limit > 0 else []
    mails = session.fetch(newest)
    mails.sort(key=lambda mail: (mail.internal_date or _EPOCH, mail.uid), reverse=True)
    return MailSearch(uidvalidity=state.uidvalidity, total=len(found), mails=mails)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@_mapped
def read_inbox_message(
    session: ImapSession, uidvalidity: int, uid: int, max_chars: int
) -> MailMessage | None:
    """One INBOX message by UID: headers, up to ``max_chars`` of its text, its attachments
    by name, type and size. None when it is not there (deleted, or the mailbox was renumbered
    since: ``uidvalidity`` differs).

    Raises:
        ImapUnavailable, ImapProtocolError: as the session's methods.
    """
    state = session.select_inbox()
    if state.uidvalidity != uidvalidity:
        return None
    answer = session.client.fetch([uid], [b"ENVELOPE", b"INTERNALDATE", b"BODYSTRUCTURE"])
    data = answer.get(uid)
    if data is None:
        return None
    basics = fetched_mail(uid, data, "")
    structure = data.get(b"BODYSTRUCTURE")
    text, truncated = _body(session, uid, structure, max_chars)
    envelope = data.get(b"ENVELOPE")
    return MailMessage(
        uid=uid,
        sender=basics.sender,
        to=[_person(address) for address in getattr(envelope, "to", None) or ()],
        subject=basics.subject,
        date=basics.date or basics.internal_date,
        text=text,
        truncated=truncated,
        attachments=attachments(structure),
    )


def _body(session: ImapSession, uid: int, structure: Any, max_chars: int) -> tuple[str, bool]:
    found = text_part(structure)
    if found is None:
        return "", False
    section, subtype, encoding, charset = found
    # Enough bytes for max_chars of any charset and encoding, and one more to know if cut.
    wanted = max_chars * 4 + 64
    item = f"BODY.PEEK[{section}]<0.{wanted}>"
    answer = session.client.fetch([uid], [item.encode()])
    raw = answer.get(uid, {}).get(f"BODY[{section}]<0>".encode())
    if not isinstance(raw, bytes):
        return "", False
    text = decode_part(raw, subtype, encoding, charset)
    text = _MANY_LINES.sub("\n\n", _BLANK_RUNS.sub(" ", text.replace("\r\n", "\n"))).strip()
    if len(text) > max_chars or len(raw) >= wanted:
        return text[:max_chars].rstrip(), True
    return text, False


def _person(address: Any) -> str:
    mailbox = _text(getattr(address, "mailbox", None))
    host = _text(getattr(address, "host", None))
    plain = f"{mailbox}@{host}" if host else mailbox
    name = decode_header_value(getattr(address, "name", None))
    return f"{name} <{plain}>" if name else plain


def attachments(structure: Any) -> list[MailAttachment]:
    """Every attachment of a BODYSTRUCTURE: a part with disposition ``attachment``, or a
    named part that is not text."""
    found: list[MailAttachment] = []
    for _section, part in _parts(structure):
        disposition, disposition_params = _disposition(part)
        params = _params(part)
        name = disposition_params.get("filename") or params.get("name") or ""
        main_type = _text(part[0]).lower()
        if not (disposition == "attachment" or (name and main_type != "text")):
            continue
        size = part[6] if len(part) > 6 and isinstance(part[6], int) else None
        if size is not None and len(part) > 5 and _text(part[5]).lower() == "base64":
            size = size * 3 // 4
        found.append(
            MailAttachment(
                name=decode_header_value(name) or "(no name)",
                content_type=f"{main_type}/{_text(part[1]).lower()}",
                size=size,
            )
        )
    return found
