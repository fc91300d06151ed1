"""Conversations in the store: people, history, summaries, channel and server settings
(exchanges are recorded by ``_exchanges``)."""

from __future__ import annotations

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ._records import ChannelConfig, GuildConfig, decode_record
from .models import (
    ChannelSettings,
    ChannelSummary,
    Conversation,
    GuildSettings,
    InteractionPattern,
    Message,
    User,
)

__all__ = [
    "HistoryEntry",
    "channel_config",
    "conversation_summary",
    "ensure_user",
    "guild_config",
    "message_text",
    "recent_history",
    "save_channel_config",
    "save_guild_config",
    "save_summary",
    "unsummarized",
    "user_time_zone",
]


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    name: str
    content: str


def ensure_user(session: Session, platform: str, platform_user_id: str, name: str) -> User:
    user = session.scalars(
        select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
    ).one_or_none()
    if user is None:
        user = User(platform=platform, platform_user_id=platform_user_id, display_name=name)
        session.add(user)
        session.flush()
    elif name and user.display_name != name:
        user.display_name = name
    return user


def user_time_zone(session: Session, platform: str, platform_user_id: str) -> str:
    """The person's IANA time zone: their interaction pattern's, else their own, else UTC."""
    row = session.execute(
        select(User.time_zone, InteractionPattern.time_zone)
        .outerjoin(InteractionPattern, InteractionPattern.user_id == User.id)
        .where(User.platform == platform, User.platform_user_id == platform_user_id)
    ).one_or_none()
    if row is None:
        return "UTC"
    own, pattern = row
    return pattern or own or "UTC"


def message_text(session: Session, platform: str, channel_id: str, message_id: str) -> str | None:
    """The stored text of a message by its platform id (for reply chains), or None."""
    text: str | None = session.scalars(
        select(Message.content)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(
            Conversation.platform == platform,
            Conversation.channel_id == channel_id,
            Message.platform_message_id == message_id,
        )
    ).first()
    return text


def unsummarized(
    session: Session, platform: str, channel_id: str, keep: int
) -> tuple[str, list[HistoryEntry], int | None]:
    """The summary so far, the messages older than the last ``keep`` not in it yet, and the
    id of the newest of those (None when there is nothing to fold in)."""
    conversation = session.scalars(
        select(Conversation).where(
            Conversation.platform == platform, Conversation.channel_id == channel_id
        )
    ).one_or_none()
    if conversation is None:
        return "", [], None
    summary = session.get(ChannelSummary, conversation.id)
    covered = summary.covers_until_message_id if summary is not None else None
    recent_ids = session.scalars(
        select(Message.id)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.id.desc())
        .limit(keep)
    ).all()
    if len(recent_ids) < keep:
        return summary.summary if summary else "", [], None
    query = (
        select(Message.id, Message.role, User.display_name, Message.content)
        .outerjoin(User, Message.user_id == User.id)
        .where(Message.conversation_id == conversation.id, Message.id < min(recent_ids))
        .order_by(Message.id)
    )
    if covered is not None:
        query = query.where(Message.id > covered)
    rows = session.execute(query).all()
    entries = [
        HistoryEntry(role=role, name=name or ("Clara" if role == "assistant" else ""), content=text)
        for _, role, name, text in rows
    ]
    return (summary.summary if summary else ""), entries, (rows[-1][0] if rows else None)


def save_summary(
    session: Session, platform: str, channel_id: str, text: str, until_message_id: int
) -> None:
    conversation = session.scalars(
        select(Conversation).where(
            Conversation.platform == platform, Conversation.channel_id == channel_id
        )
    ).one()
    summary = session.get(ChannelSummary, conversation.id)
    if summary is None:
        summary = ChannelSummary(conversation_id=conversation.id)
        session.add(summary)
    summary.summary = text
    summary.covers_until_message_id = until_message_id


def recent_history(
    session: Session, platform: str, channel_id: str, limit: int
) -> list[HistoryEntry]:
    """The last ``limit`` messages of a conversation, oldest first (one query)."""
    rows = session.execute(
        select(Message.role, User.display_name, Message.content)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .outerjoin(User, Message.user_id == User.id)
        .where(Conversation.platform == platform, Conversation.channel_id == channel_id)
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    return [
        HistoryEntry(role=role, name=name or ("Clara" if role == "assistant" else ""), content=text)
        for role, name, text in reversed(rows)
    ]


def conversation_summary(session: Session, platform: str, channel_id: str) -> str:
    summary = session.scalars(
        select(ChannelSummary.summary)
        .join(Conversation, ChannelSummary.conversation_id == Conversation.id)
        .where(Conversation.platform == platform, Conversation.channel_id == channel_id)
    ).one_or_none()
    return summary or ""


def channel_config(session: Session, platform: str, channel_id: str) -> ChannelConfig:
    row = session.scalars(
        select(ChannelSettings).where(
            ChannelSettings.platform == platform, ChannelSettings.channel_id == channel_id
        )
    ).one_or_none()
    if row is None:
        return ChannelConfig()
    decoded = decode_record(ChannelConfig, "channel_settings", row.id, row.settings)
    return decoded if isinstance(decoded, ChannelConfig) else ChannelConfig()


def guild_config(session: Session, platform: str, guild_id: str | None) -> GuildConfig:
    if guild_id is None:
        return GuildConfig()
    row = session.scalars(
        select(GuildSettings).where(
            GuildSettings.platform == platform, GuildSettings.guild_id == guild_id
        )
    ).one_or_none()
    if row is None:
        return GuildConfig()
    decoded = decode_record(GuildConfig, "guild_settings", row.id, row.settings)
    return decoded if isinstance(decoded, GuildConfig) else GuildConfig()


def save_channel_config(
    session: Session, platform: str, channel_id: str, config: ChannelConfig
) -> None:
    row = session.scalars(
        select(ChannelSettings).where(
            ChannelSettings.platform == platform, ChannelSettings.channel_id == channel_id
        )
    ).one_or_none()
    if row is None:
        row = ChannelSettings(platform=platform, channel_id=channel_id)
        session.add(row)
    row.settings = msgspec.to_builtins(config)


def save_guild_config(session: Session, platform: str, guild_id: str, config: GuildConfig) -> None:
    row = session.scalars(
        select(GuildSettings).where(
            GuildSettings.platform == platform, GuildSettings.guild_id == guild_id
        )
    ).one_or_none()
    if row is None:
        row = GuildSettings(platform=platform, guild_id=guild_id)
        session.add(row)
    row.settings = msgspec.to_builtins(config)
