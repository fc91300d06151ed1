"""What features do with the store, as functions over a session (inside a unit of work)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from ._secrets import SecretBox
from .models import (
    ENCRYPTED_COLUMNS,
    AuditLogEntry,
    Conversation,
    ConversationParticipant,
    EmailAccount,
    EmailAlert,
    OAuthToken,
    ProactiveMessage,
)

__all__ = [
    "add_email_account",
    "audit",
    "email_password",
    "load_conversation",
    "load_oauth_token",
    "record_email_alert",
    "record_proactive_message",
    "rotate_secrets",
    "store_oauth_token",
]


def _insert_once(session: Session, model: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if the row is new."""
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    # RETURNING says whether a row went in, on both engines (rowcount is unreliable here).
    inserted = session.execute(statement.returning(model.id)).scalar_one_or_none()
    return inserted is not None


def record_email_alert(
    session: Session, *, account_id: int, uidvalidity: int, uid: int, subject: str, sender: str
) -> bool:
    """Claim the alert for one message: False if it was already alerted."""
    return _insert_once(
        session,
        EmailAlert,
        {
            "account_id": account_id,
            "uidvalidity": uidvalidity,
            "uid": uid,
            "subject": subject[:1000],
            "sender": sender[:320],
        },
    )


def record_proactive_message(
    session: Session, user_id: int, idempotency_key: str, channel_id: str, content: str
) -> bool:
    """Claim a proactive message: False if one with this key was already sent."""
    return _insert_once(
        session,
        ProactiveMessage,
        {
            "user_id": user_id,
            "idempotency_key": idempotency_key,
            "channel_id": channel_id,
            "content": content,
        },
    )


def load_conversation(session: Session, platform: str, channel_id: str) -> Conversation | None:
    """A conversation with its messages and participants (and their users).

    Three statements whatever the number of messages: the conversation, then its messages
    and its participants with their users, each loaded in one go (``selectinload``).
    """
    statement = (
        select(Conversation)
        .where(Conversation.platform == platform, Conversation.channel_id == channel_id)
        .options(
            selectinload(Conversation.messages),
            selectinload(Conversation.participants).joinedload(ConversationParticipant.user),
        )
    )
    return session.scalars(statement).one_or_none()


def store_oauth_token(
    session: Session,
    box: SecretBox,
    *,
    server_name: str,
    user_id: int | None,
    access_token: str,
    refresh_token: str | None,
    expires_at: dt.datetime | None,
    scope: str = "",
) -> OAuthToken:
    """Insert or replace the tokens of one server (and user), encrypted."""
    token = session.scalars(
        select(OAuthToken).where(
            OAuthToken.server_name == server_name, OAuthToken.user_id == user_id
        )
    ).one_or_none()
    if token is None:
        token = OAuthToken(server_name=server_name, user_id=user_id, access_token_encrypted=b"")
        session.add(token)
    token.access_token_encrypted = box.encrypt(access_token)
    token.refresh_token_encrypted = box.encrypt(refresh_token) if refresh_token else None
    token.expires_at = expires_at
    token.scope = scope
    session.flush()
    return token


def load_oauth_token(
    session: Session, box: SecretBox, server_name: str, user_id: int | None
) -> tuple[str, str | None, dt.datetime | None] | None:
    """(access token, refresh token, expiry) in clear, or None if there are none."""
    token = session.scalars(
        select(OAuthToken).where(
            OAuthToken.server_name == server_name, OAuthToken.user_id == user_id
        )
    ).one_or_none()
    if token is None:
        return None
    what = f"oauth_tokens {token.id}"
    access = box.decrypt(token.access_token_encrypted, what)
    refresh = (
        box.decrypt(token.refresh_token_encrypted, what)
        if token.refresh_token_encrypted is not None
        else None
    )
    return access, refresh, token.expires_at


def add_email_account(
    session: Session,
    box: SecretBox,
    *,
    user_id: int,
    address: str,
    imap_host: str,
    imap_port: int,
    username: str,
    password: str,
    use_tls: bool = True,
) -> EmailAccount:
    account = EmailAccount(
        user_id=user_id,
        address=address,
        imap_host=imap_host,
        imap_port=imap_port,
        username=username,
        password_encrypted=box.encrypt(password),
        use_tls=use_tls,
    )
    session.add(account)
    session.flush()
    return account


def email_password(session: Session, box: SecretBox, account_id: int) -> str:
    account = session.get(EmailAccount, account_id)
    if account is None:
        raise LookupError(f"no email account {account_id}")
    return box.decrypt(account.password_encrypted, f"email_accounts {account_id}")


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    details: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Append one administrative action to the audit log."""
    entry = AuditLogEntry(
        actor=actor, action=action, target=target, outcome=outcome, details=details or {}
    )
    session.add(entry)
    session.flush()
    return entry


def rotate_secrets(
    session: Session, box: SecretBox, columns: Sequence[tuple[type, str]] = ENCRYPTED_COLUMNS
) -> int:
    """Re-encrypt every stored secret with the newest key; return how many were."""
    count = 0
    for model, attribute in columns:
        table = model.__tablename__  # type: ignore[attr-defined]
        row: Any
        for row in session.scalars(select(model)):
            token = getattr(row, attribute)
            if token is None:
                continue
            setattr(row, attribute, box.rotate(token, f"{table} {row.id}.{attribute}"))
            count += 1
    session.flush()
    return count
