"""The durable inbox: what Clara was asked, and how far each answer got.

A message addressed to Clara is claimed here before anything else happens to it; the claim is
its dedup key (a re-delivered or replayed message finds it) and its promise (a message whose
row is not finished is answered after a crash, a deploy or an actor restart). What the row
holds beyond the key (``payload``: the message; ``reply``: the answer being posted) is opaque
bytes, encoded by the channel actor, and cleared once the row is finished.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ._writer import Call, runs_together
from .models import InboxMessage, utcnow

__all__ = [
    "FINISHED_STATES",
    "OPEN_STATES",
    "InboxEntry",
    "channels_with_open_messages",
    "claim_message",
    "finish_messages",
    "known_messages",
    "note_piece",
    "open_messages",
    "prune_inbox",
    "recent_channels",
    "recently_finished",
    "save_reply",
    "start_replying",
]

#: A row in one of these is a promise not yet kept.
OPEN_STATES = ("received", "replying", "sending")
#: A row in one of these is done with; only its key is kept.
FINISHED_STATES = ("answered", "stopped", "skipped", "refused", "expired", "failed")


# The statements a reply runs on its way, built once: each message costs a claim, a start
# and an answer, and building a statement costs more than running it.
_INBOX: Table = InboxMessage.__table__  # type: ignore[assignment]
_COLUMNS = ("platform", "message_id", "channel_id", "state", "payload", "pieces_sent",
            "attempts", "received_at", "finished_at")  # fmt: skip
# Keyed by "is it PostgreSQL": the two dialects spell ON CONFLICT alike, but each needs its own.
_CLAIM: dict[bool, Any] = {
    name == "postgresql": dialect.insert(_INBOX)
    .values({column: bindparam(column) for column in _COLUMNS})
    .on_conflict_do_nothing(index_elements=["platform", "message_id"])
    .returning(_INBOX.c.platform, _INBOX.c.message_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_STATE_OF = select(_INBOX.c.state).where(
    _INBOX.c.platform == bindparam("platform"), _INBOX.c.message_id == bindparam("message_id")
)
_IDS: Any = bindparam("ids", expanding=True)
_STATES_OF = select(_INBOX.c.message_id, _INBOX.c.state).where(
    _INBOX.c.platform == bindparam("p"), _INBOX.c.message_id.in_(_IDS)
)
_START = (
    update(_INBOX)
    .where(
        _INBOX.c.platform == bindparam("p"),
        _INBOX.c.message_id.in_(_IDS),
        _INBOX.c.state.in_(("received", "replying")),
    )
    .values(state="replying", attempts=_INBOX.c.attempts + 1)
)
_FINISH = (
    update(_INBOX)
    .where(
        _INBOX.c.platform == bindparam("p"),
        _INBOX.c.message_id.in_(_IDS),
        _INBOX.c.state.in_(OPEN_STATES),
    )
    .values(state=bindparam("s"), payload=None, reply=None, finished_at=bindparam("at"))
)


class InboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An open row of the inbox, as a channel resumes it."""

    message_id: str
    state: str
    payload: bytes | None
    reply: bytes | None
    pieces_sent: int
    first_piece_id: str | None
    attempts: int
    received_at: dt.datetime


def _check_state(state: str) -> None:
    if state not in OPEN_STATES and state not in FINISHED_STATES:
        raise ValueError(
            f"inbox state must be one of {OPEN_STATES + FINISHED_STATES}, got {state!r}"
        )


def _claim_values(
    platform: str,
    message_id: str,
    channel_id: str,
    payload: bytes | None,
    *,
    state: str = "received",
) -> dict[str, Any]:
    """The row ``claim_message`` inserts (its arguments checked, as the function's own)."""
    _check_state(state)
    finished = state in FINISHED_STATES
    now = utcnow()
    return {
        "platform": platform,
        "message_id": message_id,
        "channel_id": channel_id,
        "state": state,
        "payload": None if finished else payload,
        "pieces_sent": 0,
        "attempts": 1 if state == "replying" else 0,
        "received_at": now,
        "finished_at": now if finished else None,
    }


def _claim_many(session: Session, calls: list[Call]) -> list[str | None]:
    """``claim_message`` for every call at once: one multi-row insert, and one read per
    platform of the states of the keys that were there before."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    keys: list[tuple[str, str]] = []
    for args, kwargs in calls:
        row = _claim_values(*args, **kwargs)
        key = (row["platform"], row["message_id"])
        keys.append(key)
        rows.setdefault(key, row)  # a key twice in one batch: the first call claims it
    # Given a list of rows, SQLAlchemy sends one multi-row INSERT ("insertmanyvalues").
    statement = _CLAIM[session.get_bind().dialect.name == "postgresql"]
    inserted = {
        (platform, message_id)
        for platform, message_id in session.execute(statement, list(rows.values()))
    }
    earlier: dict[tuple[str, str], str] = {}
    for platform in {platform for platform, _ in rows}:
        ids = [
            message_id
            for p, message_id in rows
            if p == platform and (p, message_id) not in inserted
        ]
        if ids:
            earlier.update(
                ((platform, message_id), state)
                for message_id, state in session.execute(_STATES_OF, {"p": platform, "ids": ids})
            )
    results: list[str | None] = []
    claimed: set[tuple[str, str]] = set()
    for key in keys:
        if key in inserted and key not in claimed:
            claimed.add(key)
            results.append(None)
        else:  # there before, or claimed a moment ago by an earlier call of this batch
            results.append(earlier[key] if key in earlier else rows[key]["state"])
    return results


@runs_together(_claim_many)
def claim_message(
    session: Session,
    platform: str,
    message_id: str,
    channel_id: str,
    payload: bytes | None,
    *,
    state: str = "received",
) -> str | None:
    """Record a message addressed to Clara.

    On the store's writer, the claims queued together run as one statement.

    Returns:
        None when the message is new (it is now recorded in ``state``), else the state its
        earlier record has (a re-delivery, a replay, a resumed message sent again).
    """
    values = _claim_values(platform, message_id, channel_id, payload, state=state)
    statement = _CLAIM[session.get_bind().dialect.name == "postgresql"]
    # RETURNING says whether a row went in, on both engines (rowcount is unreliable here).
    if session.execute(statement, values).first() is not None:
        return None
    existing: str = session.execute(
        _STATE_OF, {"platform": platform, "message_id": message_id}
    ).scalar_one()
    return existing


def open_messages(session: Session, platform: str, channel_id: str) -> list[InboxEntry]:
    """The channel's unfinished messages, in the order they arrived."""
    rows = session.scalars(
        select(InboxMessage)
        .where(
            InboxMessage.platform == platform,
            InboxMessage.channel_id == channel_id,
            InboxMessage.state.in_(OPEN_STATES),
        )
        .order_by(InboxMessage.id)
    ).all()
    return [
        InboxEntry(
            message_id=row.message_id,
            state=row.state,
            payload=row.payload,
            reply=row.reply,
            pieces_sent=row.pieces_sent,
            first_piece_id=row.first_piece_id,
            attempts=row.attempts,
            received_at=row.received_at,
        )
        for row in rows
    ]


def channels_with_open_messages(session: Session, platform: str) -> list[str]:
    """Channels holding unfinished messages, the one waiting longest first."""
    rows = session.execute(
        select(InboxMessage.channel_id, func.min(InboxMessage.id).label("first"))
        .where(InboxMessage.platform == platform, InboxMessage.state.in_(OPEN_STATES))
        .group_by(InboxMessage.channel_id)
        .order_by("first")
    ).all()
    return [channel_id for channel_id, _ in rows]


def start_replying(session: Session, platform: str, message_ids: Sequence[str]) -> None:
    """A reply to these messages begins: one more attempt each (a message that crashes its
    reply again and again is given up on, not retried for ever)."""
    session.execute(_START, {"p": platform, "ids": list(message_ids)})


def save_reply(session: Session, platform: str, message_id: str, reply: bytes) -> None:
    """The answer to ``message_id`` is made: kept, so a resumed reply posts the same pieces."""
    session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.platform == platform,
            InboxMessage.message_id == message_id,
            InboxMessage.state.in_(OPEN_STATES),
        )
        .values(state="sending", reply=reply)
    )


def note_piece(
    session: Session, platform: str, message_id: str, pieces_sent: int, first_piece_id: str | None
) -> None:
    """The first ``pieces_sent`` pieces of the answer to ``message_id`` are posted."""
    values: dict[str, object] = {"pieces_sent": pieces_sent}
    if first_piece_id is not None:
        values["first_piece_id"] = first_piece_id
    session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.platform == platform,
            InboxMessage.message_id == message_id,
            InboxMessage.state.in_(OPEN_STATES),
        )
        .values(**values)
    )


def finish_messages(
    session: Session, platform: str, message_ids: Sequence[str], state: str
) -> None:
    """These messages are done with (``state``: one of ``FINISHED_STATES``); what they said
    and what Clara would have said are cleared."""
    if state not in FINISHED_STATES:
        raise ValueError(f"a finished state must be one of {FINISHED_STATES}, got {state!r}")
    session.execute(_FINISH, {"p": platform, "ids": list(message_ids), "s": state, "at": utcnow()})


def prune_inbox(session: Session, older_than: dt.datetime) -> int:
    """Forget the keys of messages finished before ``older_than`` (no platform re-delivers
    that late); returns how many were removed."""
    result = session.execute(
        delete(InboxMessage).where(
            InboxMessage.state.in_(FINISHED_STATES), InboxMessage.finished_at < older_than
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def known_messages(session: Session, platform: str, message_ids: Sequence[str]) -> set[str]:
    """Which of ``message_ids`` the inbox holds, in any state."""
    if not message_ids:
        return set()
    return set(
        session.scalars(
            select(InboxMessage.message_id).where(
                InboxMessage.platform == platform, InboxMessage.message_id.in_(message_ids)
            )
        )
    )


def recent_channels(
    session: Session, platform: str, since: float, limit: int
) -> list[tuple[str, str]]:
    """Channels where a message reached Clara since ``since`` (epoch seconds), the most
    recent first, each with the id of the last message heard there."""
    rows = session.execute(
        select(InboxMessage.channel_id, InboxMessage.message_id)
        .where(
            InboxMessage.platform == platform,
            InboxMessage.channel_id != "",
            InboxMessage.received_at >= dt.datetime.fromtimestamp(since, dt.UTC),
        )
        .order_by(InboxMessage.id.desc())
    )
    latest: dict[str, str] = {}
    for channel_id, message_id in rows:
        if channel_id not in latest:
            latest[channel_id] = message_id
            if len(latest) >= limit:
                break
    return list(latest.items())


def recently_finished(session: Session, platform: str, channel_id: str, limit: int) -> list[str]:
    """The ids of the channel's last ``limit`` finished messages (a channel keeps them at hand
    to know a re-delivered one without asking the store)."""
    return list(
        session.scalars(
            select(InboxMessage.message_id)
            .where(
                InboxMessage.platform == platform,
                InboxMessage.channel_id == channel_id,
                InboxMessage.state.in_(FINISHED_STATES),
            )
            .order_by(InboxMessage.id.desc())
            .limit(limit)
        )
    )
