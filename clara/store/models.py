"""The tables: SQLAlchemy 2 typed models, with real booleans and time-zone-aware timestamps.

Columns holding secrets end in ``_encrypted`` and hold Fernet tokens (bytes); the
``ENCRYPTED_COLUMNS`` list names them all, so key rotation can reach every one. Columns
holding settings are JSON, read through ``clara.store.records`` so that a record written by
an older schema still loads and a broken one is reported, not fatal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ENCRYPTED_COLUMNS",
    "AuditLogEntry",
    "Base",
    "ChannelSettings",
    "ChannelSummary",
    "Conversation",
    "ConversationParticipant",
    "EmailAccount",
    "EmailAlert",
    "EmailOAuthToken",
    "EmailRule",
    "GuildSettings",
    "InboxMessage",
    "InteractionPattern",
    "MailroomMailbox",
    "MailroomMessage",
    "McpServer",
    "Message",
    "OAuthToken",
    "ProactiveAssessment",
    "ProactiveMessage",
    "ProactiveNote",
    "ProactivePerson",
    "ProactiveServerSettings",
    "SandboxRun",
    "SandboxServerSettings",
    "User",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Names for constraints and indexes, so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps with a time zone on every engine: stored as UTC, read back aware.

    PostgreSQL keeps the zone itself; SQLite has no such type, so values are normalised to
    UTC on the way in and marked UTC on the way out. A naive datetime is refused: it has no
    meaning to compare with.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamps must carry a time zone; got the naive {value!r}")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declared configuration
        dt.datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class User(Base):
    """A person Clara talks with, on one platform."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """A channel or a DM: the place messages are exchanged in."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(64))
    guild_id: Mapped[str | None] = mapped_column(String(64), default=None)
    is_dm: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.id", cascade="all, delete-orphan"
    )
    participants: Mapped[list[ConversationParticipant]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan"
    )


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="participants")
    user: Mapped[User] = relationship()


class Message(Base):
    """One message in a conversation; ``user_id`` None is Clara's own."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    platform_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    user: Mapped[User | None] = relationship()


class InboxMessage(Base):
    """The durable inbox: one row per message addressed to Clara, ever (its dedup key), with
    where its answer stands, so that a crash, a deploy or a restarted actor loses nothing.

    ``state``: ``received`` (waiting), ``replying`` (a reply is being made; ``attempts``
    counts the tries), ``sending`` (the reply is made and stored in ``reply``; the first
    ``pieces_sent`` pieces are posted), or finished: ``answered``, ``stopped`` (a stop
    phrase ended it), ``skipped`` (over the person's rate), ``refused`` (the channel's queue
    was full), ``expired`` (too old to answer after a restart), ``failed`` (gave up after
    repeated crashes). A finished row keeps only its key: ``payload`` and ``reply`` (what
    people wrote, what Clara would say) are cleared.
    """

    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("platform", "message_id"),
        Index("ix_inbox_messages_open", "platform", "channel_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    reply: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pieces_sent: Mapped[int] = mapped_column(Integer, default=0)
    first_piece_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ChannelSummary(Base):
    """The rolling summary of a conversation's older messages."""

    __tablename__ = "channel_summaries"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    summary: Mapped[str] = mapped_column(Text, default="")
    covers_until_message_id: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelSettings(Base):
    __tablename__ = "channel_settings"
    __table_args__ = (UniqueConstraint("platform", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GuildSettings(Base):
    __tablename__ = "guild_settings"
    __table_args__ = (UniqueConstraint("platform", "guild_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    guild_id: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class McpServer(Base):
    """A configured MCP server (its configuration evolves: read it through records)."""

    __tablename__ = "mcp_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OAuthToken(Base):
    """OAuth tokens of a remote MCP server, encrypted at rest."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (UniqueConstraint("server_name", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    access_token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    scope: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    client_id: Mapped[str] = mapped_column(String(200), default="", server_default="")
    """The OAuth client Clara registered (or was given) at the server's authorization server."""
    client_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    token_endpoint: Mapped[str] = mapped_column(String(500), default="", server_default="")
    """Where the tokens are refreshed."""


class McpServerSecret(Base):
    """An environment variable an MCP server needs (an API key), encrypted at rest."""

    __tablename__ = "mcp_server_secrets"
    __table_args__ = (UniqueConstraint("server_name", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    value_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EmailAccount(Base):
    """An IMAP account Clara watches for a user; its password is encrypted at rest.

    ``uidvalidity`` / ``last_uid`` are where alerting stands: every message with a UID above
    ``last_uid`` (under that UIDVALIDITY) is new. ``synced_at`` is the last time the account
    was known connected and caught up; ``newest_seen_at`` the server's date of the newest
    message seen, after which a changed UIDVALIDITY alerts (docs/email.md). ``status`` /
    ``failures`` / ``last_error`` are what the account actor last saw, kept so a restart (or
    another replica) knows an account is in error and whether its owner was told
    (``error_notified``).
    """

    __tablename__ = "email_accounts"
    __table_args__ = (UniqueConstraint("user_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    username: Mapped[str] = mapped_column(String(320))
    password_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    use_tls: Mapped[bool] = mapped_column(default=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_uid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="new")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    error_notified: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    newest_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    """The server's INTERNALDATE of the newest message Clara has seen in the account (at
    first sight, or fetched since): after a UIDVALIDITY change, only mail the server
    received after it is news. The server's clock, so Clara's own cannot skew it."""
    newest_seen_keys: Mapped[list[Any]] = mapped_column(default=list)
    """The ``message_key`` of each message seen with that INTERNALDATE (it has whole seconds:
    one arriving in the same second later is told apart by its key)."""
    last_mail_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    alert_channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """Where the account's alerts go; None: a DM to its owner."""
    ping_owner: Mapped[bool] = mapped_column(default=False)
    """Whether an alert pings the owner (notifies them, not only shows up)."""
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)
    """When the owner's quiet hours begin, ``HH:MM`` in their own time zone; None: never."""
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)
    """When they end (``HH:MM``; before ``quiet_start``: the window crosses midnight)."""
    auth_method: Mapped[str] = mapped_column(String(16), default="password")
    """``password`` (``password_encrypted``) or ``oauth2`` (IMAP XOAUTH2 with the tokens in
    ``email_oauth_tokens``)."""
    oauth_provider: Mapped[str | None] = mapped_column(String(64), default=None)
    """The OAuth provider's name in Clara (``google``, ``microsoft``, or the operator's)."""


class EmailOAuthToken(Base):
    """The OAuth tokens of one email account that signs in with XOAUTH2, encrypted at rest
    (as ``OAuthToken`` for MCP servers); refreshed before they expire."""

    __tablename__ = "email_oauth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("email_accounts.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    access_token_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    scope: Mapped[str] = mapped_column(String(500), default="")
    token_endpoint: Mapped[str] = mapped_column(String(500), default="")
    client_id: Mapped[str] = mapped_column(String(200), default="")
    client_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EmailRule(Base):
    """One rule of an account: conditions (``criteria``), matched any or all, in ``position``
    order; the first enabled rule that matches gives the alert its importance."""

    __tablename__ = "email_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("email_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    importance: Mapped[str] = mapped_column(String(8), default="normal")
    match: Mapped[str] = mapped_column(String(3), default="any")


class EmailAlert(Base):
    """One alert per message: (account, UIDVALIDITY, UID) is unique, so none is sent twice.

    A durable promise: recorded ``pending`` before it is sent, ``delivered`` after (with the
    posted message's id), ``failed`` after too many attempts; ``held`` while the owner's
    quiet hours last (then delivered in one digest). ``message_key`` (the
    Message-ID header, or a digest of sender, subject and date) recognises a message seen
    before a UIDVALIDITY change.
    """

    __tablename__ = "email_alerts"
    __table_args__ = (
        UniqueConstraint("account_id", "uidvalidity", "uid"),
        Index("ix_email_alerts_open", "account_id", "state"),
        Index("ix_email_alerts_message_key", "account_id", "message_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("email_accounts.id", ondelete="CASCADE"))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    sender: Mapped[str] = mapped_column(String(320), default="")
    alerted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    importance: Mapped[str] = mapped_column(String(8), default="normal")
    rule_name: Mapped[str | None] = mapped_column(String(200), default=None)
    posted_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_key: Mapped[str | None] = mapped_column(String(200), default=None)
    received_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    snippet: Mapped[str] = mapped_column(String(300), default="")
    """The start of the message's text, as the alert shows it (kept so a resent alert shows
    it too; bounded, like the subject)."""
    digest_key: Mapped[str | None] = mapped_column(String(64), default=None)
    """Set on held alerts, before their digest is posted: the digest they belong to (a crash
    before ``delivered`` posts the same digest again, with the same nonce)."""


class ProactiveNote(Base):
    """Something a check decided to keep in mind (THINK), grounded in message ids; its
    relevance decays with age and it is archived at zero or at its expiry."""

    __tablename__ = "proactive_notes"
    __table_args__ = (Index("ix_proactive_notes_user", "user_id", "archived_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32), default="follow_up")
    confidence: Mapped[float] = mapped_column(default=0.5)
    relevance: Mapped[float] = mapped_column(default=1.0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    sources: Mapped[list[Any]] = mapped_column(default=list)
    """Platform ids of the messages the note stands on."""
    archived_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ProactiveAssessment(Base):
    __tablename__ = "proactive_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assessed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    valid: Mapped[bool] = mapped_column(default=True)
    """False when the model's answer was not a valid decision (taken as WAIT)."""
    next_check_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ProactiveMessage(Base):
    """A message Clara sends on its own: a promise, recorded with its idempotency key before
    it is sent (``state`` ``claimed``; ``sent_at`` is when), ``delivered`` after (or
    ``failed`` / ``expired``), and linked to the person's reply when one comes."""

    __tablename__ = "proactive_messages"
    __table_args__ = (Index("ix_proactive_messages_open", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="claimed")
    kind: Mapped[str] = mapped_column(String(32), default="check_in")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    platform_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    replied_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reply_message_id: Mapped[str | None] = mapped_column(String(64), default=None)


class ProactivePerson(Base):
    """One person's proactive state: opt-out, quiet hours, where to reach them, the next
    check (timers end with an actor's incarnation: the schedule lives here), the last
    decision and counts, their calendar feed (encrypted URL), the passivated actor's
    snapshot."""

    __tablename__ = "proactive_people"
    __table_args__ = (Index("ix_proactive_people_due", "next_check_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    quiet_hours: Mapped[str | None] = mapped_column(String(5), default=None)
    reach_channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """Where Clara reaches the person; None: their DMs."""
    next_check_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_check_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_decision: Mapped[str | None] = mapped_column(String(16), default=None)
    last_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    checks: Mapped[int] = mapped_column(default=0)
    speaks: Mapped[int] = mapped_column(default=0)
    thinks: Mapped[int] = mapped_column(default=0)
    waits: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    calendar_url: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """The iCalendar feed's URL, encrypted (it carries a secret token)."""
    calendar_checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    calendar_error: Mapped[str | None] = mapped_column(String(300), default=None)
    snapshot: Mapped[Any | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProactiveServerSettings(Base):
    """A server's opt-out of proactive messages (administrators, audited)."""

    __tablename__ = "proactive_server_settings"
    __table_args__ = (UniqueConstraint("platform", "guild_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    guild_id: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InteractionPattern(Base):
    """When and how a user talks with Clara, in their own time zone."""

    __tablename__ = "interaction_patterns"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    active_hours: Mapped[list[Any]] = mapped_column(default=list)
    message_count: Mapped[int] = mapped_column(default=0)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_channel_id: Mapped[str | None] = mapped_column(String(64), default=None)
    last_guild_id: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditLogEntry(Base):
    """An administrative action: who, what, when, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500), default="")
    outcome: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


#: Every column that holds a Fernet token: (model, attribute). Key rotation walks these.
ENCRYPTED_COLUMNS: tuple[tuple[type[Base], str], ...] = (
    (OAuthToken, "access_token_encrypted"),
    (OAuthToken, "refresh_token_encrypted"),
    (OAuthToken, "client_secret_encrypted"),
    (McpServerSecret, "value_encrypted"),
    (EmailAccount, "password_encrypted"),
    (EmailOAuthToken, "access_token_encrypted"),
    (EmailOAuthToken, "refresh_token_encrypted"),
    (EmailOAuthToken, "client_secret_encrypted"),
    (ProactivePerson, "calendar_url"),
)


class MailroomMailbox(Base):
    """Clara's own mailbox (one per address): where reading it stands.

    As for an email account, every message with a UID above ``last_uid`` (under
    ``uidvalidity``) is new; ``newest_seen_at`` (the server's INTERNALDATE of the newest
    message seen) decides what is new after a changed UIDVALIDITY (docs/mailroom.md).
    """

    __tablename__ = "mailroom_mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    last_uid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    newest_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailroomMessage(Base):
    """One message to Clara's own address, and where its reply stands: a durable promise.

    ``state``: ``new`` (recorded, not yet summarised; ``body`` holds its bounded text) →
    ``skipped`` (automated mail, ``skip_reason``) | ``summarised`` (summary and draft kept,
    ``body`` cleared) → ``posted`` (in the operator channel) → ``approved`` (an operator's
    decision: ``decided_by``, ``decided_at``, and the reply's ``reply_message_id`` minted)
    → ``sending`` → ``sent``; or ``rejected``, or ``failed`` (refused by the server, or out
    of attempts; approving again retries). (mailbox, UIDVALIDITY, UID) is unique, so a
    message is recorded once; ``message_key`` (its Message-ID, else a digest) recognises it
    after a UIDVALIDITY change.
    """

    __tablename__ = "mailroom_messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "uidvalidity", "uid"),
        Index("ix_mailroom_messages_open", "mailbox_id", "state"),
        Index("ix_mailroom_messages_key", "mailbox_id", "message_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailroom_mailboxes.id", ondelete="CASCADE"))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(320), default="")
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    """The one address a reply goes to (Reply-To, else From); empty: none usable."""
    subject: Mapped[str] = mapped_column(String(1000), default="")
    received_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    message_id: Mapped[str | None] = mapped_column(String(500), default=None)
    """The message's own Message-ID (the reply's In-Reply-To)."""
    thread_references: Mapped[str] = mapped_column(Text, default="")
    """Its References, space-separated (the reply's References, with ``message_id``)."""
    body: Mapped[str | None] = mapped_column(Text, default=None)
    """Its text, bounded, until it is summarised (then cleared: the mail is not kept)."""
    skip_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    draft: Mapped[str | None] = mapped_column(Text, default=None)
    """The reply to send: the model's draft, or an operator's edit (``edited_by``)."""
    edited_by: Mapped[str | None] = mapped_column(String(100), default=None)
    posted_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    approvals: Mapped[int] = mapped_column(Integer, default=0)
    """How many times it was approved (each approval's notices get nonces of their own)."""
    reply_message_id: Mapped[str | None] = mapped_column(String(300), default=None)
    """The reply's Message-ID, minted before the first attempt and kept for every retry:
    the idempotency key of the send."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SandboxRun(Base):
    """One run in a person's sandbox: written before it starts, finished after it ends.

    A row without ``finished_at`` is a run that was cut short (Clara died, the sandbox actor
    crashed mid-run): visible, never silently missing. The code itself is not kept, only its
    SHA-256 (``code_hash``), so the audit shows what ran twice without holding people's code.
    """

    __tablename__ = "sandbox_runs"
    __table_args__ = (
        Index("ix_sandbox_runs_person", "platform", "user_id", "started_at"),
        Index("ix_sandbox_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64), default="")
    guild_id: Mapped[str | None] = mapped_column(String(64), default=None)
    tool: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(32), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    duration: Mapped[float | None] = mapped_column(default=None)
    """Seconds, as the backend measured the run."""
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    output_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    truncated: Mapped[bool] = mapped_column(default=False)
    killed: Mapped[bool] = mapped_column(default=False)
    """Killed at its time limit, for memory, or (with ``error``) dropped with its sandbox."""
    error: Mapped[str | None] = mapped_column(String(500), default=None)


class SandboxServerSettings(Base):
    """Who may run code on one server (``mode``: off, admins, everyone), and whether its
    sandboxes have a network (an administrator's choice, audited)."""

    __tablename__ = "sandbox_server_settings"
    __table_args__ = (UniqueConstraint("platform", "guild_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    guild_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16), default="everyone")
    network: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
