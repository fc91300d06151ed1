"""The reply as it goes out: one message, to one address, in the thread of the one it answers.

Built from the stored row alone (what the operator approved), never from the mail again:

- ``To`` is the row's one reply address (Reply-To, else From; checked to be a plain
  ``local@domain`` when it was recorded and again here); the envelope names it alone, so no
  header can add a recipient;
- ``Subject`` is ``Re:`` and the original subject made one line (``one_line``): a subject
  that smuggled a CR/LF (raw, or inside an encoded word) cannot start a header of its own,
  and the mail library refuses a header value with a line break anyway;
- ``In-Reply-To`` / ``References`` carry only well-formed ``<...>`` ids;
- ``Message-ID`` is the one minted with the approval and kept for every retry.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import re
from email.message import EmailMessage

from ...store import StoredMailroomMessage
from ._reading import one_line, plain_address

__all__ = ["build_reply", "reply_subject"]

_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]{1,400}>")
_ALREADY_A_REPLY = re.compile(r"(?i)(re|aw|sv)\s*:")
#: References kept (the newest): enough to thread, short of a header nobody can read.
_MAX_REFERENCES = 20


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` on one line (an existing ``Re:`` kept, not doubled)."""
    clean = one_line(subject, 400)
    if not clean:
        return "Re: your message"
    if _ALREADY_A_REPLY.match(clean):
        return clean
    return f"Re: {clean}"


def build_reply(
    message: StoredMailroomMessage,
    *,
    from_address: str,
    from_name: str = "Clara",
    now: dt.datetime,
) -> tuple[EmailMessage, str]:
    """The reply to ``message`` with its approved draft, and the one recipient.

    Raises:
        ValueError: it has no approved Message-ID, no draft, or no usable reply address.
    """
    if not message.reply_message_id or not _MESSAGE_ID.fullmatch(message.reply_message_id):
        raise ValueError(f"mailroom message {message.id} has no minted reply Message-ID")
    draft = (message.draft or "").strip()
    if not draft:
        raise ValueError(f"mailroom message {message.id} has no draft to send")
    recipient = plain_address(message.reply_to)
    if not recipient:
        raise ValueError(f"mailroom message {message.id} has no usable reply address")
    reply = EmailMessage(policy=email.policy.SMTP)
    reply["From"] = email.utils.formataddr((one_line(from_name, 60), from_address))
    reply["To"] = recipient
    reply["Subject"] = reply_subject(message.subject)
    reply["Date"] = email.utils.format_datetime(now.astimezone(dt.UTC))
    reply["Message-ID"] = message.reply_message_id
    original = message.message_id if message.message_id else ""
    if _MESSAGE_ID.fullmatch(original):
        reply["In-Reply-To"] = original
    thread = _MESSAGE_ID.findall(message.references)
    if _MESSAGE_ID.fullmatch(original) and original not in thread:
        thread.append(original)
    if thread:
        reply["References"] = " ".join(thread[-_MAX_REFERENCES:])
    reply.set_content(draft + "\n")
    return reply, recipient
