"""Clara's own inbox in the store: where reading the mailbox stands, and each message's reply.

Every step of a reply is a durable promise, recorded before the act and after it:

- a message is recorded (``new``, or ``skipped`` with its reason) in the same unit of work
  that moves the mailbox's ``last_uid`` past it, so a message is either still new on the
  server or has its row, never neither;
- its summary and draft are recorded (``summarised``) before they are posted, and the post
  (``posted``) after, with the message id the chat gave;
- an operator's approval is recorded (``approved``: who, when, and the reply's Message-ID,
  minted here) before anything is sent; ``sending`` is recorded before the SMTP exchange and
  ``sent`` after. A crash between the two leaves ``sending``: the next start sends again with
  the same Message-ID (the idempotency key; docs/mailroom.md says what a receiver sees).

Every transition names the states it may leave (compare-and-set), so a decision and the desk
racing over one message cannot both win: a reply rejected a moment before its send is not
sent, and nothing is sent without an approval on record.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import MailroomMailbox, MailroomMessage, utcnow

__all__ = [
    "MAILROOM_OPEN_STATES",
    "MAILROOM_STATES",
    "MAX_DRAFT_CHARS",
    "MAX_SUMMARY_CHARS",
    "MailroomDraft",
    "StoredMailroomMailbox",
    "StoredMailroomMessage",
    "decide_mailroom_message",
    "ensure_mailroom_mailbox",
    "finish_mailroom_send",
    "known_mailroom_keys",
    "load_mailroom_message",
    "mailroom_counts",
    "mark_mailroom_posted",
    "mint_message_id",
    "note_mailroom_send_failure",
    "note_mailroom_summary_failure",
    "note_mailroom_synced",
    "open_mailroom_messages",
    "pending_mailroom_messages",
    "record_mailroom_messages",
    "save_mailroom_summary",
    "start_mailroom_send",
]

#: Every state of a message (docs/mailroom.md draws the transitions).
MAILROOM_STATES = (
    "new",
    "skipped",
    "summarised",
    "posted",
    "approved",
    "sending",
    "sent",
    "rejected",
    "failed",
)
#: The states the desk still has work for (resumed at start).
MAILROOM_OPEN_STATES = ("new", "summarised", "approved", "sending")
#: The states an operator may still decide on.
_DECIDABLE = ("summarised", "posted", "failed")
#: What an operator sees with ``pending``: waiting for them, or on its way out.
_PENDING = ("summarised", "posted", "approved", "sending", "failed")

#: Bounds of what is kept (the columns' sizes, and a draft an embed shows whole).
MAX_BODY_CHARS = 8000
MAX_DRAFT_CHARS = 3500
MAX_SUMMARY_CHARS = 1000


class StoredMailroomMailbox(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    address: str
    uidvalidity: int | None
    last_uid: int | None
    newest_seen_at: dt.datetime | None
    synced_at: dt.datetime | None


class MailroomDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A message about to be recorded: ``skip_reason`` set means skipped, else new."""

    uid: int
    message_key: str
    sender: str
    reply_to: str
    subject: str
    received_at: dt.datetime | None
    message_id: str | None
    references: str
    body: str
    skip_reason: str | None = None


class StoredMailroomMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded message and where its reply stands."""

    id: int
    mailbox_id: int
    uidvalidity: int
    uid: int
    state: str
    sender: str
    reply_to: str
    subject: str
    received_at: dt.datetime | None
    message_id: str | None
    references: str
    body: str | None
    skip_reason: str | None
    summary: str | None
    draft: str | None
    edited_by: str | None
    posted_message_id: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    approvals: int
    reply_message_id: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None


def _message(row: MailroomMessage) -> StoredMailroomMessage:
    return StoredMailroomMessage(
        id=row.id,
        mailbox_id=row.mailbox_id,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        state=row.state,
        sender=row.sender,
        reply_to=row.reply_to,
        subject=row.subject,
        received_at=row.received_at,
        message_id=row.message_id,
        references=row.thread_references,
        body=row.body,
        skip_reason=row.skip_reason,
        summary=row.summary,
        draft=row.draft,
        edited_by=row.edited_by,
        posted_message_id=row.posted_message_id,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        approvals=row.approvals,
        reply_message_id=row.reply_message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
    )


def _mailbox(row: MailroomMailbox) -> StoredMailroomMailbox:
    return StoredMailroomMailbox(
        id=row.id,
        address=row.address,
        uidvalidity=row.uidvalidity,
        last_uid=row.last_uid,
        newest_seen_at=row.newest_seen_at,
        synced_at=row.synced_at,
    )


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


# -- the mailbox ------------------------------------------------------------------------------


def ensure_mailroom_mailbox(session: Session, address: str) -> StoredMailroomMailbox:
    """The mailbox of ``address`` (lower case), made on first use. Both actors of the
    mailroom call it; the unique address makes a race harmless."""
    key = address.strip().lower()
    insert = _insert(session)
    session.execute(
        insert(MailroomMailbox).values(address=key, created_at=utcnow()).on_conflict_do_nothing()
    )
    row = session.scalars(select(MailroomMailbox).where(MailroomMailbox.address == key)).one()
    return _mailbox(row)


def note_mailroom_synced(
    session: Session,
    mailbox_id: int,
    uidvalidity: int,
    last_uid: int,
    *,
    newest_seen: dt.datetime | None,
    rebase: bool = False,
) -> None:
    """The mailbox was caught up to ``last_uid`` (which only grows, unless ``rebase``: a
    new UIDVALIDITY, where the old numbers mean nothing)."""
    row = session.get(MailroomMailbox, mailbox_id)
    if row is None:
        raise LookupError(f"no mailroom mailbox {mailbox_id}")
    if rebase or row.uidvalidity != uidvalidity or row.last_uid is None or row.last_uid < last_uid:
        row.last_uid = last_uid
    row.uidvalidity = uidvalidity
    if newest_seen is not None and (row.newest_seen_at is None or newest_seen > row.newest_seen_at):
        row.newest_seen_at = newest_seen
    row.synced_at = utcnow()


# -- recording --------------------------------------------------------------------------------


def record_mailroom_messages(
    session: Session,
    mailbox_id: int,
    uidvalidity: int,
    drafts: Sequence[MailroomDraft],
    *,
    last_uid: int,
    newest_seen: dt.datetime | None,
    rebase: bool = False,
) -> list[StoredMailroomMessage]:
    """Record a row per draft and move the mailbox to ``last_uid``, in one unit of work.

    A message already recorded under this UIDVALIDITY (a fetch repeated after a reconnect)
    is left as it is (the unique key).

    Returns:
        The rows recorded now, in UID order (the desk's new work: those ``new``).
    """
    insert = _insert(session)
    now = utcnow()
    recorded: list[StoredMailroomMessage] = []
    for draft in sorted(drafts, key=lambda item: item.uid):
        skipped = draft.skip_reason is not None
        statement = (
            insert(MailroomMessage)
            .values(
                mailbox_id=mailbox_id,
                uidvalidity=uidvalidity,
                uid=draft.uid,
                message_key=draft.message_key[:200],
                state="skipped" if skipped else "new",
                sender=draft.sender[:320],
                reply_to=draft.reply_to[:320],
                subject=draft.subject[:1000],
                received_at=draft.received_at,
                message_id=None if draft.message_id is None else draft.message_id[:500],
                thread_references=draft.references[:4000],
                body=None if skipped else draft.body[:MAX_BODY_CHARS],
                skip_reason=None if draft.skip_reason is None else draft.skip_reason[:200],
                approvals=0,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(MailroomMessage.id)
        )
        row_id = session.execute(statement).scalar_one_or_none()
        if row_id is not None:
            row = session.get(MailroomMessage, row_id)
            assert row is not None
            recorded.append(_message(row))
    note_mailroom_synced(
        session, mailbox_id, uidvalidity, last_uid, newest_seen=newest_seen, rebase=rebase
    )
    return recorded


def known_mailroom_keys(session: Session, mailbox_id: int, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` a recorded message of the mailbox carries (under any UIDVALIDITY)."""
    if not keys:
        return set()
    return set(
        session.scalars(
            select(MailroomMessage.message_key).where(
                MailroomMessage.mailbox_id == mailbox_id,
                MailroomMessage.message_key.in_([key[:200] for key in keys]),
            )
        )
    )


# -- reading ----------------------------------------------------------------------------------


def load_mailroom_message(session: Session, message_id: int) -> StoredMailroomMessage | None:
    row = session.get(MailroomMessage, message_id)
    return None if row is None else _message(row)


def open_mailroom_messages(session: Session, mailbox_id: int) -> list[StoredMailroomMessage]:
    """What the desk still has to do (``MAILROOM_OPEN_STATES``), oldest first."""
    rows = session.scalars(
        select(MailroomMessage)
        .where(
            MailroomMessage.mailbox_id == mailbox_id,
            MailroomMessage.state.in_(MAILROOM_OPEN_STATES),
        )
        .order_by(MailroomMessage.id)
    )
    return [_message(row) for row in rows]


def pending_mailroom_messages(session: Session, limit: int = 20) -> list[StoredMailroomMessage]:
    """Messages waiting for an operator or on their way out, oldest first, at most
    ``limit``."""
    rows = session.scalars(
        select(MailroomMessage)
        .where(MailroomMessage.state.in_(_PENDING))
        .order_by(MailroomMessage.id)
        .limit(limit)
    )
    return [_message(row) for row in rows]


def mailroom_counts(session: Session, mailbox_id: int) -> dict[str, int]:
    """How many messages of the mailbox are in each state (states with none left out)."""
    rows = session.execute(
        select(MailroomMessage.state, func.count())
        .where(MailroomMessage.mailbox_id == mailbox_id)
        .group_by(MailroomMessage.state)
    )
    return {state: count for state, count in rows}


# -- the desk's steps -------------------------------------------------------------------------


def _move(session: Session, message_id: int, leaving: Sequence[str], **values: Any) -> bool:
    """Compare-and-set: move the message if it is in one of ``leaving``."""
    result = session.execute(
        update(MailroomMessage)
        .where(MailroomMessage.id == message_id, MailroomMessage.state.in_(list(leaving)))
        .values(updated_at=utcnow(), **values)
    )
    return bool(getattr(result, "rowcount", 0))


def save_mailroom_summary(session: Session, message_id: int, summary: str, draft: str) -> bool:
    """The model's summary and draft: ``new`` → ``summarised``; the mail's body is dropped
    (what Clara keeps of a stranger's mail is the summary). False: not ``new`` any more."""
    return _move(
        session,
        message_id,
        ("new",),
        state="summarised",
        summary=summary[:MAX_SUMMARY_CHARS],
        draft=draft[:MAX_DRAFT_CHARS],
        body=None,
        attempts=0,
        last_error=None,
    )


def note_mailroom_summary_failure(session: Session, message_id: int, error: str) -> int:
    """One more failed attempt at summarising a ``new`` message; how many so far."""
    row = session.get(MailroomMessage, message_id)
    if row is None:
        raise LookupError(f"no mailroom message {message_id}")
    if row.state == "new":
        row.attempts += 1
        row.last_error = error[:500]
    return row.attempts


def mark_mailroom_posted(session: Session, message_id: int, posted_message_id: str | None) -> bool:
    """The summary and draft are in the operator channel: ``summarised`` → ``posted``."""
    return _move(
        session, message_id, ("summarised",), state="posted", posted_message_id=posted_message_id
    )


def decide_mailroom_message(
    session: Session,
    message_id: int,
    decision: str,
    by: str,
    *,
    draft: str | None = None,
    message_id_domain: str = "clara.invalid",
) -> tuple[bool, StoredMailroomMessage | None]:
    """Record an operator's decision: ``approve``, ``reject`` or ``edit`` (with ``draft``).

    - approve: from ``summarised``, ``posted`` or ``failed``, with a draft to send; the
      reply's Message-ID is minted now (kept if one was minted before for this same draft),
      the attempts start again.
    - reject: from those, or from ``approved`` (not yet ``sending``).
    - edit: replaces the draft, from ``summarised``, ``posted`` or ``failed``; a new draft
      gets a new Message-ID when it is approved.

    Returns:
        (done, the message after): ``done`` False when the message is in a state the
        decision cannot leave (the message tells which), or missing (None).

    Raises:
        ValueError: an unknown decision, or ``edit`` without a draft.
    """
    row = session.get(MailroomMessage, message_id)
    if row is None:
        return False, None
    now = utcnow()
    if decision == "approve":
        if row.state not in _DECIDABLE or not (row.draft or "").strip():
            return False, _message(row)
        minted = row.reply_message_id or mint_message_id(row.id, message_id_domain)
        done = _move(
            session,
            message_id,
            _DECIDABLE,
            state="approved",
            decided_by=by[:100],
            decided_at=now,
            approvals=MailroomMessage.approvals + 1,
            reply_message_id=minted,
            attempts=0,
            last_error=None,
            next_attempt_at=None,
        )
    elif decision == "reject":
        done = _move(
            session,
            message_id,
            (*_DECIDABLE, "approved"),
            state="rejected",
            decided_by=by[:100],
            decided_at=now,
        )
    elif decision == "edit":
        if draft is None or not draft.strip():
            raise ValueError("edit needs the new draft's text")
        done = _move(
            session,
            message_id,
            _DECIDABLE,
            draft=draft[:MAX_DRAFT_CHARS],
            edited_by=by[:100],
            reply_message_id=None,
        )
    else:
        raise ValueError(f"decision must be approve, reject or edit; got {decision!r}")
    session.expire(row)
    return done, load_mailroom_message(session, message_id)


def mint_message_id(row_id: int, domain: str) -> str:
    """A fresh Message-ID for the reply to message ``row_id``: unique (random), and
    recognisable as the mailroom's (``<mailroom.ROW.RANDOM@domain>``)."""
    return f"<mailroom.{row_id}.{secrets.token_hex(8)}@{domain}>"


def start_mailroom_send(session: Session, message_id: int) -> StoredMailroomMessage | None:
    """``approved`` (or ``sending``, resumed after a crash) → ``sending``, recorded before
    the SMTP exchange. Only with an approval on record (who, when, a Message-ID): None
    otherwise, and when it was rejected meanwhile or is already sent."""
    done = session.execute(
        update(MailroomMessage)
        .where(
            MailroomMessage.id == message_id,
            MailroomMessage.state.in_(("approved", "sending")),
            MailroomMessage.decided_by.is_not(None),
            MailroomMessage.decided_at.is_not(None),
            MailroomMessage.reply_message_id.is_not(None),
        )
        .values(state="sending", updated_at=utcnow())
    )
    if not getattr(done, "rowcount", 0):
        return None
    return load_mailroom_message(session, message_id)


def finish_mailroom_send(session: Session, message_id: int) -> bool:
    """The SMTP server took the reply: ``sending`` → ``sent``."""
    return _move(
        session,
        message_id,
        ("sending",),
        state="sent",
        sent_at=utcnow(),
        last_error=None,
        next_attempt_at=None,
        attempts=MailroomMessage.attempts + 1,
    )


def note_mailroom_send_failure(
    session: Session,
    message_id: int,
    error: str,
    *,
    retry_at: dt.datetime | None,
    max_attempts: int,
) -> tuple[str, int]:
    """A send failed: back to ``approved`` to be tried at ``retry_at``, or ``failed`` when
    ``retry_at`` is None (the server refused it for good) or the attempts are spent.

    Returns:
        (its state now, the attempts so far).
    """
    row = session.get(MailroomMessage, message_id)
    if row is None:
        raise LookupError(f"no mailroom message {message_id}")
    if row.state != "sending":
        return row.state, row.attempts
    row.attempts += 1
    row.last_error = error[:500]
    if retry_at is None or row.attempts >= max_attempts:
        row.state, row.next_attempt_at = "failed", None
    else:
        row.state, row.next_attempt_at = "approved", retry_at
    row.updated_at = utcnow()
    return row.state, row.attempts
