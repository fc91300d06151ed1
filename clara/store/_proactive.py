"""The proactive engine's records: each person's schedule and state, what they were told.

- ``note_activity``: what a batch of messages people wrote changes: their interaction pattern
  (last seen, in which channel, the hours they are active in their own time zone), their
  proactive row (made on their first message, with a first check), and the link from a
  proactive message to the reply it got.
- ``due_people`` / ``spread_overdue``: the schedule (``next_check_at``), for the scheduler.
- ``load_person`` / ``save_check``: a check's inputs, and its outcome written in one
  transaction: the assessment, the counts, the next check, a THINK's note, a SPEAK's claim.
- ``claim`` rows of ``proactive_messages`` are promises: recorded (``claimed``) with their
  idempotency key before the message is sent, ``delivered`` after; ``open_claims`` lists what
  a restart must finish.
- ``person_lines`` and friends: what a check shows the model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..proactive import ActiveHours
from ..proactive.zones import local, zone
from ._conversations import ensure_user
from .models import (
    ChannelSummary,
    Conversation,
    ConversationParticipant,
    InteractionPattern,
    Message,
    ProactiveAssessment,
    ProactiveMessage,
    ProactiveNote,
    ProactivePerson,
    ProactiveServerSettings,
    User,
    utcnow,
)

__all__ = [
    "Activity",
    "CheckOutcome",
    "Claim",
    "ClaimRecord",
    "NoteDraft",
    "NoteRecord",
    "PersonLine",
    "PersonState",
    "SentRecordRow",
    "calendar_url_of",
    "channel_guild",
    "count_people",
    "dm_summary",
    "due_people",
    "load_person",
    "load_snapshot",
    "mark_claim",
    "note_activity",
    "note_calendar",
    "open_claims",
    "person_lines",
    "person_notes",
    "proactive_history",
    "save_check",
    "save_person_choice",
    "save_snapshot",
    "server_proactive_enabled",
    "set_server_proactive",
    "spread_overdue",
    "user_pk_of",
]

_REASON_CHARS = 500


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    """One message a person wrote (to Clara or not)."""

    platform: str
    user_id: str
    name: str = ""
    channel_id: str
    guild_id: str | None = None
    message_id: str
    at: dt.datetime
    """When they wrote it (wall clock, aware)."""


class PersonState(msgspec.Struct, frozen=True, kw_only=True):
    """A person's proactive row, with what their pattern knows."""

    user_pk: int
    platform: str
    user_id: str
    name: str
    time_zone: str
    enabled: bool
    quiet_hours: str | None
    reach_channel_id: str | None
    next_check_at: dt.datetime | None
    last_check_at: dt.datetime | None
    last_decision: str | None
    last_reason: str | None
    checks: int
    speaks: int
    thinks: int
    waits: int
    invalid: int
    active_hours: list[float]
    last_seen_at: dt.datetime | None
    last_channel_id: str | None
    last_guild_id: str | None
    has_calendar: bool


class NoteDraft(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    kind: str
    confidence: float
    sources: list[str]
    expires_at: dt.datetime | None = None


class NoteRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    text: str
    kind: str
    confidence: float
    relevance: float
    """Its relevance when made (it decays from there with age: ``clara.proactive.relevance``)."""
    sources: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A SPEAK, recorded before it is sent."""

    key: str
    """The idempotency key: the same for every attempt at this message, unique among all."""
    channel_id: str
    text: str
    kind: str = "check_in"


class ClaimRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    key: str
    platform: str
    user_id: str
    channel_id: str
    text: str
    claimed_at: dt.datetime
    attempts: int


class CheckOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A check's result, written at once by ``save_check``."""

    at: dt.datetime
    decision: str
    """WAIT, THINK, SPEAK, or why no model was asked (``quiet``, ``gap``, ``cap``, ``off``)."""
    reason: str
    valid: bool = True
    next_check_at: dt.datetime
    note: NoteDraft | None = None
    claim: Claim | None = None
    archive_notes: tuple[int, ...] = ()
    """Notes whose relevance reached zero or whose expiry passed."""


class PersonLine(msgspec.Struct, frozen=True, kw_only=True):
    """One message a check may show the model."""

    message_id: str
    channel_id: str
    is_dm: bool
    role: str
    """``user`` (the person) or ``assistant`` (Clara)."""
    content: str
    at: dt.datetime


class SentRecordRow(msgspec.Struct, frozen=True, kw_only=True):
    claimed_at: dt.datetime
    delivered_at: dt.datetime | None
    replied_at: dt.datetime | None
    state: str
    text: str


# -- activity ----------------------------------------------------------------------------------


def note_activity(
    session: Session,
    activities: Sequence[Activity],
    *,
    first_check: Callable[[str], dt.datetime],
    reply_window: dt.timedelta,
) -> int:
    """Record ``activities`` (oldest first); how many proactive messages got their reply.

    Args:
        first_check: the first ``next_check_at`` of a person seen for the first time, by
            their key (``platform:user id``), so first checks spread.
        reply_window: a message within this long after a proactive one, in the same channel
            (or the person's DMs), is its reply.
    """
    linked = 0
    for activity in activities:
        user = ensure_user(session, activity.platform, activity.user_id, activity.name)
        pattern = session.get(InteractionPattern, user.id)
        if pattern is None:
            pattern = InteractionPattern(user_id=user.id, time_zone=user.time_zone or "UTC")
            session.add(pattern)
        try:
            person_zone = zone(pattern.time_zone or "UTC")
        except ValueError:
            person_zone = zone("UTC")
        hours = _hours(pattern.active_hours)
        hours.record(local(activity.at, person_zone))
        pattern.active_hours = list(hours.weights)
        pattern.message_count = (pattern.message_count or 0) + 1
        if pattern.last_seen_at is None or _aware(pattern.last_seen_at) <= activity.at:
            pattern.last_seen_at = activity.at
            pattern.last_channel_id = activity.channel_id
            pattern.last_guild_id = activity.guild_id
        person = session.scalars(
            select(ProactivePerson).where(ProactivePerson.user_id == user.id)
        ).one_or_none()
        if person is None:
            key = f"{activity.platform}:{activity.user_id}"
            session.add(ProactivePerson(user_id=user.id, next_check_at=first_check(key)))
        linked += _link_reply(session, user.id, activity, reply_window)
    return linked


def _link_reply(session: Session, user_pk: int, activity: Activity, window: dt.timedelta) -> int:
    candidate = session.scalars(
        select(ProactiveMessage)
        .where(
            ProactiveMessage.user_id == user_pk,
            ProactiveMessage.state == "delivered",
            ProactiveMessage.replied_at.is_(None),
            ProactiveMessage.delivered_at.is_not(None),
            ProactiveMessage.delivered_at >= activity.at - window,
            ProactiveMessage.delivered_at <= activity.at,
        )
        .order_by(ProactiveMessage.delivered_at.desc())
        .limit(1)
    ).one_or_none()
    if candidate is None:
        return 0
    if activity.guild_id is not None and candidate.channel_id != activity.channel_id:
        return 0  # a message in another server channel is not an answer to it
    candidate.replied_at = activity.at
    candidate.reply_message_id = activity.message_id
    return 1


def _hours(stored: list[float] | None) -> ActiveHours:
    if stored and len(stored) == 24:
        try:
            return ActiveHours(weights=[max(0.0, float(value)) for value in stored])
        except (TypeError, ValueError):
            pass
    return ActiveHours()


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


# -- the schedule ------------------------------------------------------------------------------


def due_people(
    session: Session, now: dt.datetime, limit: int, *, active_since: dt.datetime | None = None
) -> list[tuple[str, str]]:
    """(platform, user id) of the people whose check is due, the most overdue first; with
    ``active_since``, only people who wrote since then (the others wait until they write
    again: their check is due then)."""
    query = (
        select(User.platform, User.platform_user_id)
        .join(ProactivePerson, ProactivePerson.user_id == User.id)
        .where(ProactivePerson.enabled.is_(True), ProactivePerson.next_check_at <= now)
    )
    if active_since is not None:
        query = query.join(InteractionPattern, InteractionPattern.user_id == User.id).where(
            InteractionPattern.last_seen_at >= active_since
        )
    rows = session.execute(query.order_by(ProactivePerson.next_check_at).limit(limit)).all()
    return [(platform, user_id) for platform, user_id in rows]


def spread_overdue(
    session: Session, now: dt.datetime, offset: Callable[[str], dt.timedelta]
) -> int:
    """Move every overdue check to ``now + offset(key)``: after a restart (or an outage)
    the checks missed are spread out instead of all being due at once. How many moved."""
    rows = session.execute(
        select(ProactivePerson, User.platform, User.platform_user_id)
        .join(User, User.id == ProactivePerson.user_id)
        .where(ProactivePerson.next_check_at < now)
    ).all()
    for person, platform, user_id in rows:
        person.next_check_at = now + offset(f"{platform}:{user_id}")
    return len(rows)


def load_person(session: Session, platform: str, user_id: str) -> PersonState | None:
    row = session.execute(
        select(User, ProactivePerson, InteractionPattern)
        .join(ProactivePerson, ProactivePerson.user_id == User.id)
        .outerjoin(InteractionPattern, InteractionPattern.user_id == User.id)
        .where(User.platform == platform, User.platform_user_id == user_id)
    ).one_or_none()
    if row is None:
        return None
    user, person, pattern = row
    return PersonState(
        user_pk=user.id,
        platform=platform,
        user_id=user_id,
        name=user.display_name,
        time_zone=(pattern.time_zone if pattern is not None else None) or user.time_zone or "UTC",
        enabled=person.enabled,
        quiet_hours=person.quiet_hours,
        reach_channel_id=person.reach_channel_id,
        next_check_at=_maybe_aware(person.next_check_at),
        last_check_at=_maybe_aware(person.last_check_at),
        last_decision=person.last_decision,
        last_reason=person.last_reason,
        checks=person.checks,
        speaks=person.speaks,
        thinks=person.thinks,
        waits=person.waits,
        invalid=person.invalid,
        active_hours=list(_hours(pattern.active_hours if pattern else None).weights),
        last_seen_at=_maybe_aware(pattern.last_seen_at) if pattern is not None else None,
        last_channel_id=pattern.last_channel_id if pattern is not None else None,
        last_guild_id=pattern.last_guild_id if pattern is not None else None,
        has_calendar=person.calendar_url is not None,
    )


def _maybe_aware(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else _aware(moment)


def _person_row(session: Session, platform: str, user_id: str) -> ProactivePerson | None:
    return session.scalars(
        select(ProactivePerson)
        .join(User, User.id == ProactivePerson.user_id)
        .where(User.platform == platform, User.platform_user_id == user_id)
    ).one_or_none()


def save_check(
    session: Session, platform: str, user_id: str, outcome: CheckOutcome
) -> ClaimRecord | None:
    """Write a check's outcome in this one transaction; the claim, when there is one and
    its key is new (a claim whose key exists already is that earlier one: no second row)."""
    person = _person_row(session, platform, user_id)
    if person is None:
        raise LookupError(f"no proactive row for {platform}:{user_id}")
    person.checks += 1
    person.last_check_at = outcome.at
    person.last_decision = outcome.decision
    person.last_reason = outcome.reason[:_REASON_CHARS]
    person.next_check_at = outcome.next_check_at
    person.updated_at = outcome.at
    if not outcome.valid:
        person.invalid += 1
    counter = {"WAIT": "waits", "THINK": "thinks", "SPEAK": "speaks"}.get(outcome.decision)
    if counter is not None:
        setattr(person, counter, getattr(person, counter) + 1)
    elif outcome.decision not in ("WAIT", "THINK", "SPEAK"):
        person.waits += 1  # quiet, gap, cap, off: a wait without asking the model
    session.add(
        ProactiveAssessment(
            user_id=person.user_id,
            assessed_at=outcome.at,
            decision=outcome.decision,
            reason=outcome.reason,
            valid=outcome.valid,
            next_check_at=outcome.next_check_at,
        )
    )
    if outcome.archive_notes:
        session.execute(
            update(ProactiveNote)
            .where(
                ProactiveNote.id.in_(outcome.archive_notes),
                ProactiveNote.user_id == person.user_id,
            )
            .values(archived_at=outcome.at, done=True)
        )
    if outcome.note is not None:
        note = outcome.note
        session.add(
            ProactiveNote(
                user_id=person.user_id,
                note=note.text,
                kind=note.kind,
                confidence=note.confidence,
                relevance=note.confidence,
                sources=list(note.sources),
                expires_at=note.expires_at,
                due_at=note.expires_at,
                created_at=outcome.at,
            )
        )
    if outcome.claim is None:
        return None
    claim = outcome.claim
    existing = session.scalars(
        select(ProactiveMessage).where(ProactiveMessage.idempotency_key == claim.key)
    ).one_or_none()
    if existing is not None:
        return None
    row = ProactiveMessage(
        user_id=person.user_id,
        idempotency_key=claim.key,
        channel_id=claim.channel_id,
        content=claim.text,
        kind=claim.kind,
        state="claimed",
        sent_at=outcome.at,
    )
    session.add(row)
    session.flush()
    return ClaimRecord(
        id=row.id,
        key=claim.key,
        platform=platform,
        user_id=user_id,
        channel_id=claim.channel_id,
        text=claim.text,
        claimed_at=outcome.at,
        attempts=0,
    )


# -- promises ----------------------------------------------------------------------------------


def open_claims(session: Session, platform: str | None = None) -> list[ClaimRecord]:
    """Every proactive message recorded and not yet delivered nor given up, oldest first."""
    query = (
        select(ProactiveMessage, User.platform, User.platform_user_id)
        .join(User, User.id == ProactiveMessage.user_id)
        .where(ProactiveMessage.state == "claimed")
        .order_by(ProactiveMessage.id)
    )
    if platform is not None:
        query = query.where(User.platform == platform)
    return [
        ClaimRecord(
            id=row.id,
            key=row.idempotency_key,
            platform=user_platform,
            user_id=user_id,
            channel_id=row.channel_id,
            text=row.content,
            claimed_at=_aware(row.sent_at),
            attempts=row.attempts,
        )
        for row, user_platform, user_id in session.execute(query).all()
    ]


def mark_claim(
    session: Session,
    claim_id: int,
    state: str,
    *,
    at: dt.datetime,
    platform_message_id: str | None = None,
    error: str | None = None,
) -> None:
    """A claim ``delivered`` (with the posted message's id), ``failed`` or ``expired``
    (with why), or still ``claimed`` after one more failed attempt."""
    row = session.get(ProactiveMessage, claim_id)
    if row is None:
        return
    row.attempts += 1
    row.state = state
    if state == "delivered":
        row.delivered_at = at
        row.platform_message_id = platform_message_id
        row.error = None
    elif error is not None:
        row.error = error[:300]


# -- what a check shows the model ------------------------------------------------------------


def person_lines(
    session: Session, user_pk: int, *, since: dt.datetime, limit: int = 40
) -> list[PersonLine]:
    """The person's recent messages, oldest first: everything in their DMs with Clara, and
    their own messages in servers' channels (never others' words, nor Clara's answers to
    others)."""
    conversations = select(ConversationParticipant.conversation_id).where(
        ConversationParticipant.user_id == user_pk
    )
    rows = session.execute(
        select(Message, Conversation.channel_id, Conversation.is_dm)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.conversation_id.in_(conversations),
            Message.created_at >= since,
            (Conversation.is_dm.is_(True)) | (Message.user_id == user_pk),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    ).all()
    lines = [
        PersonLine(
            message_id=message.platform_message_id or f"stored-{message.id}",
            channel_id=channel_id,
            is_dm=is_dm,
            role="user" if message.user_id == user_pk else "assistant",
            content=message.content,
            at=_aware(message.created_at),
        )
        for message, channel_id, is_dm in rows
    ]
    lines.reverse()
    return lines


def dm_summary(session: Session, user_pk: int) -> str:
    """The rolling summary of the person's DM with Clara ('' when there is none)."""
    row = session.scalars(
        select(ChannelSummary.summary)
        .join(Conversation, Conversation.id == ChannelSummary.conversation_id)
        .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
        .where(ConversationParticipant.user_id == user_pk, Conversation.is_dm.is_(True))
        .limit(1)
    ).one_or_none()
    return row or ""


def person_notes(session: Session, user_pk: int, limit: int = 20) -> list[NoteRecord]:
    """The person's notes not archived, newest first."""
    rows = session.scalars(
        select(ProactiveNote)
        .where(ProactiveNote.user_id == user_pk, ProactiveNote.archived_at.is_(None))
        .order_by(ProactiveNote.created_at.desc())
        .limit(limit)
    ).all()
    return [
        NoteRecord(
            id=row.id,
            text=row.note,
            kind=row.kind,
            confidence=row.confidence,
            relevance=row.relevance,
            sources=list(row.sources or []),
            created_at=_aware(row.created_at),
            expires_at=_maybe_aware(row.expires_at),
        )
        for row in rows
    ]


def proactive_history(session: Session, user_pk: int, limit: int = 20) -> list[SentRecordRow]:
    """The person's last proactive messages, newest first."""
    rows = session.scalars(
        select(ProactiveMessage)
        .where(ProactiveMessage.user_id == user_pk)
        .order_by(ProactiveMessage.sent_at.desc(), ProactiveMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        SentRecordRow(
            claimed_at=_aware(row.sent_at),
            delivered_at=_maybe_aware(row.delivered_at),
            replied_at=_maybe_aware(row.replied_at),
            state=row.state,
            text=row.content,
        )
        for row in rows
    ]


# -- choices -----------------------------------------------------------------------------------


def save_person_choice(
    session: Session,
    platform: str,
    user_id: str,
    *,
    name: str = "",
    enabled: bool | None = None,
    quiet_hours: str | None = None,
    clear_quiet_hours: bool = False,
    reach_channel_id: str | None = None,
    reach_dm: bool = False,
    calendar_url: bytes | None = None,
    clear_calendar: bool = False,
    next_check_at: dt.datetime | None = None,
) -> None:
    """A person's own choices (``/ors``); their row is made if they have none yet."""
    user = ensure_user(session, platform, user_id, name)
    person = session.scalars(
        select(ProactivePerson).where(ProactivePerson.user_id == user.id)
    ).one_or_none()
    if person is None:
        person = ProactivePerson(user_id=user.id, next_check_at=next_check_at)
        session.add(person)
    if enabled is not None:
        person.enabled = enabled
    if quiet_hours is not None:
        person.quiet_hours = quiet_hours
    if clear_quiet_hours:
        person.quiet_hours = None
    if reach_channel_id is not None:
        person.reach_channel_id = reach_channel_id
    if reach_dm:
        person.reach_channel_id = None
    if calendar_url is not None:
        person.calendar_url = calendar_url
        person.calendar_error = None
    if clear_calendar:
        person.calendar_url = None
        person.calendar_error = None
    if next_check_at is not None and (person.next_check_at is None or enabled):
        person.next_check_at = next_check_at
    person.updated_at = utcnow()


def channel_guild(session: Session, platform: str, channel_id: str) -> str | None:
    """The server a channel Clara has stored belongs to (None: a DM, or unknown)."""
    return session.scalars(
        select(Conversation.guild_id).where(
            Conversation.platform == platform, Conversation.channel_id == channel_id
        )
    ).one_or_none()


def server_proactive_enabled(session: Session, platform: str, guild_id: str) -> bool:
    enabled = session.scalars(
        select(ProactiveServerSettings.enabled).where(
            ProactiveServerSettings.platform == platform,
            ProactiveServerSettings.guild_id == guild_id,
        )
    ).one_or_none()
    return True if enabled is None else bool(enabled)


def set_server_proactive(
    session: Session, platform: str, guild_id: str, enabled: bool, by: str
) -> None:
    row = session.scalars(
        select(ProactiveServerSettings).where(
            ProactiveServerSettings.platform == platform,
            ProactiveServerSettings.guild_id == guild_id,
        )
    ).one_or_none()
    if row is None:
        row = ProactiveServerSettings(platform=platform, guild_id=guild_id)
        session.add(row)
    row.enabled = enabled
    row.updated_by = by[:100]
    row.updated_at = utcnow()


def save_snapshot(session: Session, platform: str, user_id: str, snapshot: Any) -> None:
    """Keep a passivated person actor's state (JSON) on their row."""
    person = _person_row(session, platform, user_id)
    if person is not None:
        person.snapshot = snapshot


def load_snapshot(session: Session, platform: str, user_id: str) -> Any:
    person = _person_row(session, platform, user_id)
    return None if person is None else person.snapshot


def calendar_url_of(session: Session, user_pk: int) -> bytes | None:
    """The person's calendar feed URL, encrypted (None: they gave none)."""
    return session.scalars(
        select(ProactivePerson.calendar_url).where(ProactivePerson.user_id == user_pk)
    ).one_or_none()


def note_calendar(session: Session, user_pk: int, at: dt.datetime, error: str | None) -> None:
    """When the person's feed was last read, and why it failed (None: it worked)."""
    person = session.scalars(
        select(ProactivePerson).where(ProactivePerson.user_id == user_pk)
    ).one_or_none()
    if person is not None:
        person.calendar_checked_at = at
        person.calendar_error = error


def user_pk_of(session: Session, platform: str, user_id: str) -> int | None:
    """The person's store id (None: Clara has never stored them)."""
    return session.scalars(
        select(User.id).where(User.platform == platform, User.platform_user_id == user_id)
    ).one_or_none()


def count_people(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ProactivePerson)) or 0)
