"""Where the mailroom speaks: the operator channel, through the chat transport.

Two kinds of post: a **draft post** (one per message: who wrote, the subject, the model's
summary and the whole draft reply, with the commands to decide) and a **notice** (a reply
sent, a send failing and retried, a send given up). Both are idempotent: a draft post's
nonce comes from the message's row id, a notice's from the row id, the approval round and
what happened, so a post repeated after a crash is dropped by a platform that enforces
nonces (Discord) instead of appearing twice.

Nothing the mail says can ping anyone: embeds never notify, and every post is sent with
``Pings()`` (nobody), whatever a subject or a draft contains.

``EmbedMailroomSink`` posts embeds (Discord); ``ChatMailroomSink`` plain text through any
``ChatTransport`` (the console, a test's fake).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Protocol

import msgspec

from ...adapters.chat import (
    ChatTransport,
    Embed,
    EmbedField,
    EmbedTransport,
    Pings,
    nonce_for,
    split_message,
)

__all__ = [
    "ChatMailroomSink",
    "DraftPost",
    "EmbedMailroomSink",
    "MailroomNotice",
    "MailroomSink",
    "NoticeKind",
    "draft_embed",
    "draft_text",
    "notice_text",
]

#: The draft embed's colour (a neutral blue: it waits for a decision).
_DRAFT_COLOUR = 0x5865F2


class DraftPost(msgspec.Struct, frozen=True, kw_only=True):
    """A message's summary and draft reply, for the operator to decide on."""

    message_id: int
    """The mailroom's id of the message (what the commands take)."""
    sender: str
    reply_to: str
    subject: str
    summary: str
    draft: str
    """Empty: the model proposed no reply (``edit`` writes one)."""
    received_at: dt.datetime | None = None

    @property
    def nonce(self) -> str:
        """The same on every attempt at posting this message's draft, in every process."""
        return nonce_for(f"mailroom:{self.message_id}", "draft")


class NoticeKind(enum.StrEnum):
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"


class MailroomNotice(msgspec.Struct, frozen=True, kw_only=True):
    """What became of an approved reply."""

    message_id: int
    kind: NoticeKind
    recipient: str
    subject: str
    detail: str = ""
    """Free of secrets (an adapter error's message)."""
    approval: int = 1
    """Which approval of the message this is about (each gets its own notices)."""
    retry_in: float | None = None

    @property
    def nonce(self) -> str:
        return nonce_for(f"mailroom:{self.message_id}:{self.approval}", self.kind.value)


class MailroomSink(Protocol):
    """Posts to the operator channel; each call returns the posted message's id (None when
    the platform gives none).

    Raises ``PlatformError`` when it could not post: a draft post stays to be posted (tried
    again later); a notice is not retried (the state is in the store, and ``pending`` shows
    it).
    """

    async def post_draft(self, post: DraftPost) -> str | None: ...

    async def notify(self, notice: MailroomNotice) -> str | None: ...


def _commands(message_id: int) -> str:
    return (
        f"/mailroom approve id:{message_id} · /mailroom reject id:{message_id} · "
        f"/mailroom edit id:{message_id} text:…"
    )


def _draft_shown(draft: str) -> str:
    return draft if draft.strip() else "(no draft proposed: write one with /mailroom edit)"


def draft_embed(post: DraftPost) -> Embed:
    """The draft post as an embed: subject as title, the summary and the sender as fields,
    the whole draft as the description (bounded by the store well under the embed's
    limit, so the operator always sees all of what they approve)."""
    return Embed(
        title=f"✉️ #{post.message_id} · {post.subject.strip() or '(no subject)'}",
        description=f"**Draft reply to {post.reply_to}**\n{_draft_shown(post.draft)}",
        colour=_DRAFT_COLOUR,
        fields=(
            EmbedField(name="From", value=post.sender.strip() or "(unknown sender)", inline=True),
            EmbedField(name="Summary", value=post.summary.strip() or "(none)"),
        ),
        footer=_commands(post.message_id),
    )


def draft_text(post: DraftPost) -> str:
    """The draft post as plain text (may be longer than one chat message: it is split)."""
    return "\n".join(
        (
            f"✉️ Mail #{post.message_id} from {post.sender or '(unknown sender)'}",
            f"Subject: {post.subject or '(no subject)'}",
            f"Summary: {post.summary or '(none)'}",
            f"Draft reply to {post.reply_to}:",
            _draft_shown(post.draft),
            _commands(post.message_id),
        )
    )


def notice_text(notice: MailroomNotice) -> str:
    where = f"#{notice.message_id} to {notice.recipient} ({notice.subject or 'no subject'})"
    if notice.kind is NoticeKind.SENT:
        return f"📤 Reply {where} sent."
    if notice.kind is NoticeKind.RETRYING:
        wait = f" in {notice.retry_in:.0f} s" if notice.retry_in is not None else ""
        return (
            f"⚠️ Reply {where} could not be sent: {notice.detail}\n"
            f"I keep it and try again{wait} (and after that, with longer waits)."
        )
    return (
        f"❌ Reply {where} was not sent: {notice.detail}\n"
        f"It is kept; /mailroom approve id:{notice.message_id} tries again."
    )


class EmbedMailroomSink:
    """Posts draft posts as embeds and notices as text to the operator channel.

    Args:
        transport: a chat platform that posts embeds (Discord, a fake).
        channel_id: the operator channel (``CLARA_MAILROOM_OPERATOR_CHANNEL``).
    """

    def __init__(self, transport: EmbedTransport, channel_id: str) -> None:
        if not channel_id:
            raise ValueError("EmbedMailroomSink needs the operator channel's id; got ''")
        self.transport = transport
        self.channel_id = channel_id

    async def post_draft(self, post: DraftPost) -> str | None:
        return await self.transport.send_embed(
            self.channel_id, draft_embed(post), nonce=post.nonce, pings=Pings()
        )

    async def notify(self, notice: MailroomNotice) -> str | None:
        return await self.transport.send_embed(
            self.channel_id,
            Embed(title=notice_text(notice).split("\n", 1)[0], description=_rest(notice)),
            nonce=notice.nonce,
            pings=Pings(),
        )


def _rest(notice: MailroomNotice) -> str:
    parts = notice_text(notice).split("\n", 1)
    return parts[1] if len(parts) > 1 else ""


def _unpinged(text: str) -> str:
    """``text`` with every mention broken by a zero-width space: plain text has no allowed
    mentions of its own to keep a subject's ``<@id>`` or ``@everyone`` from pinging."""
    return (
        text.replace("<@", "<\u200b@")
        .replace("@everyone", "@\u200beveryone")
        .replace("@here", "@\u200bhere")
    )


class ChatMailroomSink:
    """Posts plain text through any ``ChatTransport`` to the operator channel; a draft post
    longer than one chat message goes in pieces, each with a nonce of its own. Mentions in
    the text are broken (``_unpinged``), so nothing the mail says pings anyone.

    Args:
        transport: the chat platform.
        channel_id: the operator channel.
    """

    def __init__(self, transport: ChatTransport, channel_id: str) -> None:
        if not channel_id:
            raise ValueError("ChatMailroomSink needs the operator channel's id; got ''")
        self.transport = transport
        self.channel_id = channel_id

    async def post_draft(self, post: DraftPost) -> str | None:
        first: str | None = None
        for index, piece in enumerate(split_message(_unpinged(draft_text(post)))):
            nonce = post.nonce if index == 0 else nonce_for(f"mailroom:{post.message_id}", index)
            posted = await self.transport.send(self.channel_id, piece, reply_to=None, nonce=nonce)
            first = first or posted
        return first

    async def notify(self, notice: MailroomNotice) -> str | None:
        return await self.transport.send(
            self.channel_id, _unpinged(notice_text(notice)), reply_to=None, nonce=notice.nonce
        )
