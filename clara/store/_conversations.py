"""Conversations in the store: recording exchanges, reading history, channel settings."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ._records import ChannelConfig, GuildConfig, decode_record
from .models import (
    ChannelSettings,
    ChannelSummary,
    Conversation,
    ConversationParticipant,
    GuildSettings,
    InteractionPattern,
    Message,
    User,
    utcnow,
)

__all__ = [
    "HistoryEntry",
    "channel_config",
    "conversation_summary",
    "ensure_user",
    "guild_config",
    "message_text",
    "recent_history",
    "record_exchange",
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


def _conversation(
    session: Session, platform: str, channel_id: str, guild_id: str | None, is_dm: bool
) -> Conversation:
    conversation = session.scalars(
        select(Conversation).where(
            Conversation.platform == platform, Conversation.channel_id == channel_id
        )
    ).one_or_none()
    if conversation is None:
        conversation = Conversation(
            platform=platform, channel_id=channel_id, guild_id=guild_id, is_dm=is_dm
        )
        session.add(conversation)
        session.flush()
    return conversation


_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_PARTICIPANTS: Table = ConversationParticipant.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_IDS: Any = bindparam("ids", expanding=True)
# Built once: an exchange is stored after every reply, and building costs more than running.
_CONVERSATION_ID = select(_CONVERSATIONS.c.id).where(
    _CONVERSATIONS.c.platform == bindparam("platform"),
    _CONVERSATIONS.c.channel_id == bindparam("channel_id"),
)
_TOUCH = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation"))
    .values(updated_at=bindparam("at"))
)
_PEOPLE = select(_USERS.c.platform_user_id, _USERS.c.id, _USERS.c.display_name).where(
    _USERS.c.platform == bindparam("platform"), _USERS.c.platform_user_id.in_(_IDS)
)
_RENAME = (
    update(_USERS).where(_USERS.c.id == bindparam("user")).values(display_name=bindparam("name"))
)
_JOINED = select(_PARTICIPANTS.c.user_id).where(
    _PARTICIPANTS.c.conversation_id == bindparam("conversation"),
    _PARTICIPANTS.c.user_id.in_(_IDS),
)
_ADD_MESSAGES = insert(_MESSAGES)
_ADD_PARTICIPANTS = insert(_PARTICIPANTS)


def record_exchange(
    session: Session,
    *,
    platform: str,
    channel_id: str,
    guild_id: str | None,
    is_dm: bool,
    turns: list[tuple[str, str, str, str | None]],
    reply: str,
    reply_message_id: str | None = None,
) -> None:
    """Store what people said (``(user id, name, text, message id)`` each) and the reply.

    Core statements built once (this runs after every reply, on the store's one writer):
    the conversation, its new people and participants, then the messages in one insert.
    """
    now = utcnow()
    conversation = session.execute(
        _CONVERSATION_ID, {"platform": platform, "channel_id": channel_id}
    ).scalar_one_or_none()
    if conversation is None:
        conversation = session.execute(
            insert(_CONVERSATIONS)
            .values(
                platform=platform,
                channel_id=channel_id,
                guild_id=guild_id,
                is_dm=is_dm,
                created_at=now,
                updated_at=now,
            )
            .returning(_CONVERSATIONS.c.id)
        ).scalar_one()
    else:
        session.execute(_TOUCH, {"conversation": conversation, "at": now})
    names = {user_id: name for user_id, name, _, _ in turns}
    known = {
        platform_user_id: (user, name)
        for platform_user_id, user, name in session.execute(
            _PEOPLE, {"platform": platform, "ids": list(names)}
        )
    }
    users: dict[str, int] = {}
    for platform_user_id, name in names.items():
        found = known.get(platform_user_id)
        if found is None:
            users[platform_user_id] = ensure_user(session, platform, platform_user_id, name).id
            continue
        users[platform_user_id] = found[0]
        if name and name != found[1]:
            session.execute(_RENAME, {"user": found[0], "name": name})
    joined = set(
        session.execute(
            _JOINED, {"conversation": conversation, "ids": list(users.values())}
        ).scalars()
    )
    new_people = [
        {"conversation_id": conversation, "user_id": user, "joined_at": now}
        for user in dict.fromkeys(users.values())
        if user not in joined
    ]
    if new_people:
        session.execute(_ADD_PARTICIPANTS, new_people)
    rows = [
        {
            "conversation_id": conversation,
            "user_id": users[user_id],
            "platform_message_id": message_id,
            "role": "user",
            "content": text,
            "created_at": now,
        }
        for user_id, _, text, message_id in turns
    ]
    rows.append(
        {
            "conversation_id": conversation,
            "user_id": None,
            "platform_message_id": reply_message_id,
            "role": "assistant",
            "content": reply,
            "created_at": now,
        }
    )
    session.execute(_ADD_MESSAGES, rows)


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
