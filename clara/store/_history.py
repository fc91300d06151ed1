"""Reading earlier conversations back: where a channel is, and its messages by words or by page.

Read-only queries for the chat-history tools (``clara.tools.ChatHistoryTools``), which decide
what the person asking may see; nothing here checks that. Each function takes a session
first, for ``Database.run``.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, case, func, join, or_, select
from sqlalchemy.orm import Session

from .models import Conversation, ConversationParticipant, Message, User

__all__ = [
    "ChannelPlace",
    "ChatLine",
    "channel_messages",
    "channel_place",
    "dm_channels",
    "search_messages",
    "server_channels",
]


class ChannelPlace(msgspec.Struct, frozen=True, kw_only=True):
    """Where a stored conversation is held."""

    channel_id: str
    guild_id: str | None
    """Its server; None in a DM."""
    is_dm: bool
    people: tuple[str, ...]
    """The platform ids of everyone who has written there (Clara aside), sorted."""


class ChatLine(msgspec.Struct, frozen=True, kw_only=True):
    """One stored message: what someone said, or one of Clara's replies."""

    channel_id: str
    message_id: str | None
    """The platform's id of the message (None when the platform gave none)."""
    author: str
    """The person's display name, or ``Clara``."""
    from_clara: bool
    text: str
    at: dt.datetime
    """When it was stored (UTC)."""


def channel_place(session: Session, platform: str, channel_id: str) -> ChannelPlace | None:
    """Where ``channel_id`` is, or None when no conversation there is stored."""
    conversation = session.scalars(
        select(Conversation).where(
            Conversation.platform == platform, Conversation.channel_id == channel_id
        )
    ).one_or_none()
    if conversation is None:
        return None
    people = session.scalars(
        select(User.platform_user_id)
        .join(ConversationParticipant, ConversationParticipant.user_id == User.id)
        .where(ConversationParticipant.conversation_id == conversation.id)
        .order_by(User.platform_user_id)
    ).all()
    return ChannelPlace(
        channel_id=channel_id,
        guild_id=conversation.guild_id,
        is_dm=conversation.is_dm,
        people=tuple(people),
    )


def dm_channels(session: Session, platform: str, user_id: str) -> list[str]:
    """The DM channels of the person ``user_id``: DMs where they, and only they, wrote."""
    others = (
        select(ConversationParticipant.conversation_id)
        .join(User, ConversationParticipant.user_id == User.id)
        .where(User.platform_user_id != user_id)
    )
    return list(
        session.scalars(
            select(Conversation.channel_id)
            .join(
                ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id
            )
            .join(User, ConversationParticipant.user_id == User.id)
            .where(
                Conversation.platform == platform,
                Conversation.is_dm.is_(True),
                User.platform == platform,
                User.platform_user_id == user_id,
                Conversation.id.not_in(others),
            )
            .order_by(Conversation.channel_id)
        )
    )


def server_channels(session: Session, platform: str, guild_id: str) -> list[str]:
    """The channels of server ``guild_id`` with a stored conversation (DMs never)."""
    return list(
        session.scalars(
            select(Conversation.channel_id)
            .where(
                Conversation.platform == platform,
                Conversation.guild_id == guild_id,
                Conversation.is_dm.is_(False),
            )
            .order_by(Conversation.channel_id)
        )
    )


#: What a ``ChatLine`` is read from: each message with its place and its author, if a person.
_LINE_COLUMNS = (
    Conversation.channel_id,
    Message.platform_message_id,
    Message.role,
    User.display_name,
    Message.content,
    Message.created_at,
)
_MESSAGES = join(Message, Conversation, Message.conversation_id == Conversation.id).outerjoin(
    User, Message.user_id == User.id
)


def _line(row: Any) -> ChatLine:
    channel_id, message_id, role, name, text, at = row[:6]
    from_clara = role == "assistant"
    return ChatLine(
        channel_id=channel_id,
        message_id=message_id,
        author="Clara" if from_clara else (name or "someone"),
        from_clara=from_clara,
        text=text,
        at=at,
    )


def _contains(word: str) -> ColumnElement[bool]:
    """The message holds ``word``, whatever its case (``%`` and ``_`` taken literally)."""
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(Message.content).like(f"%{escaped}%", escape="\\")


def search_messages(
    session: Session,
    platform: str,
    channel_ids: Sequence[str],
    words: Sequence[str],
    limit: int,
) -> list[ChatLine]:
    """Messages of ``channel_ids`` holding any of ``words`` (case-insensitive): those holding
    the most of them first, the newest first among equals; at most ``limit``."""
    if not channel_ids or not words or limit < 1:
        return []
    holds = [_contains(word) for word in words]
    matches = functools.reduce(operator.add, [case((held, 1), else_=0) for held in holds])
    ranked = matches.label("matches")
    rows = session.execute(
        select(*_LINE_COLUMNS, ranked)
        .select_from(_MESSAGES)
        .where(
            Conversation.platform == platform,
            Conversation.channel_id.in_(list(channel_ids)),
            or_(*holds),
        )
        .order_by(ranked.desc(), Message.id.desc())
        .limit(limit)
    ).all()
    return [_line(row) for row in rows]


def channel_messages(
    session: Session,
    platform: str,
    channel_id: str,
    *,
    before_message_id: str | None,
    limit: int,
) -> list[ChatLine]:
    """The last ``limit`` messages of a channel (before the message ``before_message_id``,
    when given), oldest first.

    Raises:
        ValueError: no message ``before_message_id`` is stored in that channel.
    """
    scope = (Conversation.platform == platform, Conversation.channel_id == channel_id)
    query = select(*_LINE_COLUMNS).select_from(_MESSAGES).where(*scope)
    if before_message_id is not None:
        anchor = session.scalars(
            select(func.max(Message.id))
            .join(Conversation, Message.conversation_id == Conversation.id)
            .where(*scope, Message.platform_message_id == before_message_id)
        ).one()
        if anchor is None:
            raise ValueError(f"there is no message {before_message_id} in channel {channel_id}")
        query = query.where(Message.id < anchor)
    rows = session.execute(query.order_by(Message.id.desc()).limit(max(0, limit))).all()
    return [_line(row) for row in reversed(rows)]
