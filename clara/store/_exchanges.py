"""Exchanges in the store: what people said to Clara and what it answered, kept after each
reply, with the inbox rows of the messages answered marked in the same unit of work.

An exchange is stored after every reply, on the store's one writer, so a burst of replies
is a burst of exchanges: ``save_exchange`` runs every exchange queued in a batch as one set
of multi-row statements (``record_exchanges``), a handful per batch instead of half a dozen
per reply.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ._inbox import finish_messages
from ._writer import Call, runs_together
from .models import Conversation, ConversationParticipant, Message, User, utcnow

__all__ = ["Exchange", "Turn", "record_exchange", "record_exchanges", "save_exchange"]

#: What one person said: (platform user id, display name, text, platform message id).
Turn = tuple[str, str, str, str | None]


class Exchange(msgspec.Struct, frozen=True, kw_only=True):
    """One reply and the messages it answered.

    Attributes:
        platform: ``discord``, ``console``.
        channel_id: the channel (its conversation is made on its first exchange).
        guild_id: the server, None in a DM.
        is_dm: a direct message channel.
        turns: what people said, oldest first.
        reply: Clara's answer.
        reply_message_id: the platform id of the answer's first piece, if posted.
        answered: ids of the inbox messages this reply answers, marked ``answered`` with it.
    """

    platform: str
    channel_id: str
    guild_id: str | None
    is_dm: bool
    turns: list[Turn]
    reply: str
    reply_message_id: str | None = None
    answered: tuple[str, ...] = ()


_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_PARTICIPANTS: Table = ConversationParticipant.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_IDS: Any = bindparam("ids", expanding=True)
_USER_IDS: Any = bindparam("user_ids", expanding=True)
# Built once: building a statement costs more than running it.
_CONVERSATION_IDS = select(_CONVERSATIONS.c.channel_id, _CONVERSATIONS.c.id).where(
    _CONVERSATIONS.c.platform == bindparam("platform"), _CONVERSATIONS.c.channel_id.in_(_IDS)
)
_NEW_CONVERSATIONS = insert(_CONVERSATIONS).returning(
    _CONVERSATIONS.c.platform, _CONVERSATIONS.c.channel_id, _CONVERSATIONS.c.id
)
_NEW_USERS = insert(_USERS).returning(_USERS.c.platform_user_id, _USERS.c.id)
_TOUCH = (
    update(_CONVERSATIONS).where(_CONVERSATIONS.c.id.in_(_IDS)).values(updated_at=bindparam("at"))
)
_PEOPLE = select(_USERS.c.platform_user_id, _USERS.c.id, _USERS.c.display_name).where(
    _USERS.c.platform == bindparam("platform"), _USERS.c.platform_user_id.in_(_IDS)
)
_RENAME = (
    update(_USERS).where(_USERS.c.id == bindparam("user")).values(display_name=bindparam("name"))
)
_JOINED = select(_PARTICIPANTS.c.conversation_id, _PARTICIPANTS.c.user_id).where(
    _PARTICIPANTS.c.conversation_id.in_(_IDS), _PARTICIPANTS.c.user_id.in_(_USER_IDS)
)
_ADD_MESSAGES = insert(_MESSAGES)
_ADD_PARTICIPANTS = insert(_PARTICIPANTS)


def record_exchanges(session: Session, exchanges: list[Exchange]) -> None:
    """Store ``exchanges`` in order (their messages get ascending ids), with a statement or
    two per step for all of them: their conversations (made where missing, touched), their
    people (made where new, renamed where their name changed) and participants, the
    messages, and the inbox rows they answered."""
    if not exchanges:
        return
    now = utcnow()
    platforms = list(dict.fromkeys(exchange.platform for exchange in exchanges))
    conversations = _conversations(session, exchanges, now)
    people: dict[tuple[str, str], int] = {}
    for platform in platforms:
        names = {  # the newest name each person went by
            user_id: name
            for exchange in exchanges
            if exchange.platform == platform
            for user_id, name, _, _ in exchange.turns
        }
        people.update(
            ((platform, user), id_) for user, id_ in _people(session, platform, names).items()
        )
    _join(session, exchanges, conversations, people, now)
    rows: list[dict[str, Any]] = []
    for exchange in exchanges:
        conversation = conversations[exchange.platform, exchange.channel_id]
        rows.extend(
            {
                "conversation_id": conversation,
                "user_id": people[exchange.platform, user_id],
                "platform_message_id": message_id,
                "role": "user",
                "content": text,
                "created_at": now,
            }
            for user_id, _, text, message_id in exchange.turns
        )
        rows.append(
            {
                "conversation_id": conversation,
                "user_id": None,
                "platform_message_id": exchange.reply_message_id,
                "role": "assistant",
                "content": exchange.reply,
                "created_at": now,
            }
        )
    session.execute(_ADD_MESSAGES, rows)
    for platform in platforms:
        answered = [
            message_id
            for exchange in exchanges
            if exchange.platform == platform
            for message_id in exchange.answered
        ]
        if answered:
            finish_messages(session, platform, answered, "answered")


def _conversations(
    session: Session, exchanges: list[Exchange], now: Any
) -> dict[tuple[str, str], int]:
    """The conversation id of each exchange's channel: found and touched, or made."""
    found: dict[tuple[str, str], int] = {}
    for platform in dict.fromkeys(exchange.platform for exchange in exchanges):
        channels = list(dict.fromkeys(e.channel_id for e in exchanges if e.platform == platform))
        found.update(
            ((platform, channel_id), id_)
            for channel_id, id_ in session.execute(
                _CONVERSATION_IDS, {"platform": platform, "ids": channels}
            )
        )
    if found:
        session.execute(_TOUCH, {"ids": list(found.values()), "at": now})
    new = {
        (e.platform, e.channel_id): {
            "platform": e.platform,
            "channel_id": e.channel_id,
            "guild_id": e.guild_id,
            "is_dm": e.is_dm,
            "created_at": now,
            "updated_at": now,
        }
        for e in exchanges
        if (e.platform, e.channel_id) not in found
    }
    if new:  # channels' first exchanges, made in one multi-row insert
        found.update(
            ((platform, channel_id), id_)
            for platform, channel_id, id_ in session.execute(_NEW_CONVERSATIONS, list(new.values()))
        )
    return found


def _people(session: Session, platform: str, names: dict[str, str]) -> dict[str, int]:
    """The user id of each person in ``names`` (platform id → name): found, renamed where
    the name changed, or made."""
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
            continue
        users[platform_user_id] = found[0]
        if name and name != found[1]:
            session.execute(_RENAME, {"user": found[0], "name": name})
    new = [
        {"platform": platform, "platform_user_id": platform_user_id, "display_name": name}
        for platform_user_id, name in names.items()
        if platform_user_id not in known
    ]
    if new:  # people's first words, made in one multi-row insert
        users.update((user, id_) for user, id_ in session.execute(_NEW_USERS, new))
    return users


def _join(
    session: Session,
    exchanges: list[Exchange],
    conversations: dict[tuple[str, str], int],
    people: dict[tuple[str, str], int],
    now: Any,
) -> None:
    """Make each person who spoke a participant of the conversation, where not yet one."""
    pairs = {
        (conversations[e.platform, e.channel_id], people[e.platform, user_id]): None
        for e in exchanges
        for user_id, _, _, _ in e.turns
    }
    if not pairs:
        return
    rows = session.execute(
        _JOINED,
        {
            "ids": list({conversation for conversation, _ in pairs}),
            "user_ids": list({user for _, user in pairs}),
        },
    )
    joined = {(conversation, user) for conversation, user in rows}
    new = [
        {"conversation_id": conversation, "user_id": user, "joined_at": now}
        for conversation, user in pairs
        if (conversation, user) not in joined
    ]
    if new:
        session.execute(_ADD_PARTICIPANTS, new)


def _save_many(session: Session, calls: list[Call]) -> list[None]:
    record_exchanges(session, [args[0] if args else kwargs["exchange"] for args, kwargs in calls])
    return [None] * len(calls)


@runs_together(_save_many)
def save_exchange(session: Session, exchange: Exchange) -> None:
    """Store one exchange (a write for ``Database.write_soon``: the exchanges queued together
    are stored together, by ``record_exchanges``)."""
    record_exchanges(session, [exchange])


def record_exchange(
    session: Session,
    *,
    platform: str,
    channel_id: str,
    guild_id: str | None,
    is_dm: bool,
    turns: list[Turn],
    reply: str,
    reply_message_id: str | None = None,
) -> None:
    """Store what people said (``(user id, name, text, message id)`` each) and the reply."""
    record_exchanges(
        session,
        [
            Exchange(
                platform=platform,
                channel_id=channel_id,
                guild_id=guild_id,
                is_dm=is_dm,
                turns=turns,
                reply=reply,
                reply_message_id=reply_message_id,
            )
        ],
    )
