"""Email accounts, their rules and their alerts: what the account actors keep in the store.

An alert is a durable promise, kept the way the inbox keeps replies: recorded ``pending`` in
the same unit of work that moves the account's ``last_uid`` past its message (so a message
is either still "new" on the server or has an alert row, never neither), sent, then marked
``delivered``. At start an account resends what is still pending, with the same nonce.
During the owner's quiet hours a non-urgent alert is ``held`` instead, and every held alert
is marked ``delivered`` at once when their one digest is posted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ._conversations import ensure_user
from ._repositories import add_email_account
from ._secrets import SecretBox
from .models import EmailAccount, EmailAlert, EmailOAuthToken, EmailRule, User, utcnow

__all__ = [
    "ALERT_STATES",
    "ConnectedEmailAccount",
    "EmailAccountSummary",
    "EmailAlertDraft",
    "EmailRuleRecord",
    "StoredEmailAccount",
    "StoredEmailAlert",
    "change_email_rules",
    "connect_email_account",
    "delete_email_account",
    "email_account_owners",
    "email_accounts_of",
    "enabled_email_accounts",
    "finish_email_alert",
    "finish_email_digest",
    "held_email_alerts",
    "hold_email_alert",
    "known_message_keys",
    "load_email_account",
    "load_email_rules",
    "mark_email_account_error",
    "note_email_alert_failure",
    "note_email_failure",
    "note_email_synced",
    "pending_email_alerts",
    "person_email_accounts",
    "record_email_alerts",
    "save_email_rules",
    "set_email_alert_channel",
    "set_email_error_notified",
    "set_email_ping_owner",
    "set_email_quiet_hours",
]

#: How much of a message's text an alert keeps (the embed shows less).
SNIPPET_KEPT = 300

#: ``pending`` is a promise not yet kept; ``held`` one kept later, in a digest after the
#: owner's quiet hours; the other two are final.
ALERT_STATES = ("pending", "held", "delivered", "failed")

_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class StoredEmailAccount(msgspec.Struct, frozen=True, kw_only=True):
    """An account as its actor loads it (never its password: ``email_password`` decrypts
    that, only when connecting)."""

    id: int
    user_id: int
    owner_platform: str
    owner_platform_user_id: str
    address: str
    imap_host: str
    imap_port: int
    username: str
    use_tls: bool
    enabled: bool
    uidvalidity: int | None
    last_uid: int | None
    status: str
    failures: int
    last_error: str | None
    error_notified: bool
    synced_at: dt.datetime | None
    newest_seen_at: dt.datetime | None
    newest_seen_keys: list[str]
    last_mail_at: dt.datetime | None
    alert_channel_id: str | None
    ping_owner: bool = False
    """Whether alerts ping the owner (migration 0006)."""
    quiet_start: str | None = None
    """Quiet hours' start, ``HH:MM`` in the owner's zone; None: none (migration 0007)."""
    quiet_end: str | None = None
    auth_method: str = "password"
    """``password`` or ``oauth2`` (IMAP XOAUTH2; migration 0008)."""
    oauth_provider: str | None = None
    """The OAuth provider's name in Clara, for an ``oauth2`` account."""


class EmailRuleRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored rule; ``criteria`` is ``{"conditions": [{"kind": ..., "value": ...}]}``,
    read and checked by the rules module (``clara.actors.email.rules``)."""

    name: str
    criteria: dict[str, Any]
    enabled: bool = True
    position: int = 0
    importance: str = "normal"
    match: str = "any"


class EmailAlertDraft(msgspec.Struct, frozen=True, kw_only=True):
    """An alert about to be recorded, for one message."""

    uid: int
    subject: str
    sender: str
    importance: str
    rule_name: str | None
    message_key: str | None
    received_at: dt.datetime | None
    snippet: str = ""
    """The start of the message's text (kept up to ``SNIPPET_KEPT`` characters)."""


class StoredEmailAlert(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded alert."""

    id: int
    account_id: int
    uidvalidity: int
    uid: int
    subject: str
    sender: str
    importance: str
    rule_name: str | None
    state: str
    attempts: int
    posted_message_id: str | None
    received_at: dt.datetime | None
    snippet: str = ""
    digest_key: str | None = None
    """The digest a held alert was given to (before it was posted); None: none yet."""


def _account(row: EmailAccount, owner: User) -> StoredEmailAccount:
    return StoredEmailAccount(
        id=row.id,
        user_id=row.user_id,
        owner_platform=owner.platform,
        owner_platform_user_id=owner.platform_user_id,
        address=row.address,
        imap_host=row.imap_host,
        imap_port=row.imap_port,
        username=row.username,
        use_tls=row.use_tls,
        enabled=row.enabled,
        uidvalidity=row.uidvalidity,
        last_uid=row.last_uid,
        status=row.status,
        failures=row.failures,
        last_error=row.last_error,
        error_notified=row.error_notified,
        synced_at=row.synced_at,
        newest_seen_at=row.newest_seen_at,
        newest_seen_keys=[str(key) for key in row.newest_seen_keys or []],
        last_mail_at=row.last_mail_at,
        alert_channel_id=row.alert_channel_id,
        ping_owner=row.ping_owner,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        auth_method=row.auth_method,
        oauth_provider=row.oauth_provider,
    )


def _alert(row: EmailAlert) -> StoredEmailAlert:
    return StoredEmailAlert(
        id=row.id,
        account_id=row.account_id,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        subject=row.subject,
        sender=row.sender,
        importance=row.importance,
        rule_name=row.rule_name,
        state=row.state,
        attempts=row.attempts,
        posted_message_id=row.posted_message_id,
        received_at=row.received_at,
        snippet=row.snippet,
        digest_key=row.digest_key,
    )


def load_email_account(session: Session, account_id: int) -> StoredEmailAccount | None:
    """The account and its owner, or None when it no longer exists."""
    found = session.execute(
        select(EmailAccount, User)
        .join(User, User.id == EmailAccount.user_id)
        .where(EmailAccount.id == account_id)
    ).first()
    return None if found is None else _account(found[0], found[1])


def enabled_email_accounts(session: Session) -> list[int]:
    """The ids of the accounts to watch, oldest first."""
    return list(
        session.scalars(
            select(EmailAccount.id).where(EmailAccount.enabled.is_(True)).order_by(EmailAccount.id)
        )
    )


def email_accounts_of(
    session: Session, platform: str, platform_user_id: str
) -> list[StoredEmailAccount]:
    """The enabled accounts one person connected (by their chat identity), oldest first.

    The one way the model's mail tools find accounts: a person only ever reaches their own.
    """
    rows = session.execute(
        select(EmailAccount, User)
        .join(User, User.id == EmailAccount.user_id)
        .where(
            User.platform == platform,
            User.platform_user_id == platform_user_id,
            EmailAccount.enabled.is_(True),
        )
        .order_by(EmailAccount.id)
    )
    return [_account(account, owner) for account, owner in rows]


def email_account_owners(session: Session) -> set[tuple[str, str]]:
    """``(platform, platform_user_id)`` of every person with at least one enabled account:
    the cheap check of whether to offer someone the mail tools."""
    rows = session.execute(
        select(User.platform, User.platform_user_id)
        .join(EmailAccount, EmailAccount.user_id == User.id)
        .where(EmailAccount.enabled.is_(True))
        .distinct()
    )
    return {(platform, user_id) for platform, user_id in rows}


def load_email_rules(session: Session, account_id: int) -> list[EmailRuleRecord]:
    """The account's rules in their order (``position``, then the order they were added)."""
    rows = session.scalars(
        select(EmailRule)
        .where(EmailRule.account_id == account_id)
        .order_by(EmailRule.position, EmailRule.id)
    )
    return [
        EmailRuleRecord(
            name=row.name,
            criteria=dict(row.criteria or {}),
            enabled=row.enabled,
            position=row.position,
            importance=row.importance,
            match=row.match,
        )
        for row in rows
    ]


def save_email_rules(session: Session, account_id: int, rules: Sequence[EmailRuleRecord]) -> None:
    """Replace the account's rules with ``rules``, numbered in the order given."""
    for row in session.scalars(select(EmailRule).where(EmailRule.account_id == account_id)):
        session.delete(row)
    session.flush()
    for position, rule in enumerate(rules):
        session.add(
            EmailRule(
                account_id=account_id,
                name=rule.name[:200],
                criteria=rule.criteria,
                enabled=rule.enabled,
                position=position,
                importance=rule.importance,
                match=rule.match,
            )
        )


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives datetimes back without their zone: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def record_email_alerts(
    session: Session,
    account_id: int,
    uidvalidity: int,
    drafts: Sequence[EmailAlertDraft],
    *,
    last_uid: int,
    rebase: bool = False,
    at: dt.datetime | None = None,
    newest_seen: dt.datetime | None = None,
    newest_seen_keys: Sequence[str] = (),
) -> list[StoredEmailAlert]:
    """Record an alert per draft (``pending``) and move the account to ``last_uid``, at once.

    ``newest_seen`` / ``newest_seen_keys``: the server's date of the newest message seen
    (alerted or not) and the keys of the messages seen with it, as the account actor keeps
    them (they only grow).

    A message already alerted under this UIDVALIDITY (a fetch repeated after a reconnect)
    is skipped by the unique key. ``last_uid`` only grows, unless ``rebase`` (a new
    UIDVALIDITY: the old numbers mean nothing) sets it as given.

    Returns:
        The alerts recorded now, in UID order: the ones to send.
    """
    now = at or utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    recorded: list[StoredEmailAlert] = []
    for draft in sorted(drafts, key=lambda item: item.uid):
        statement = (
            insert(EmailAlert)
            .values(
                account_id=account_id,
                uidvalidity=uidvalidity,
                uid=draft.uid,
                subject=draft.subject[:1000],
                sender=draft.sender[:320],
                alerted_at=now,
                state="pending",
                importance=draft.importance,
                rule_name=None if draft.rule_name is None else draft.rule_name[:200],
                attempts=0,
                message_key=None if draft.message_key is None else draft.message_key[:200],
                received_at=draft.received_at,
                snippet=draft.snippet[:SNIPPET_KEPT],
            )
            .on_conflict_do_nothing()
            .returning(EmailAlert.id)
        )
        alert_id = session.execute(statement).scalar_one_or_none()
        if alert_id is not None:
            recorded.append(
                StoredEmailAlert(
                    id=alert_id,
                    account_id=account_id,
                    uidvalidity=uidvalidity,
                    uid=draft.uid,
                    subject=draft.subject[:1000],
                    sender=draft.sender[:320],
                    importance=draft.importance,
                    rule_name=draft.rule_name,
                    state="pending",
                    attempts=0,
                    posted_message_id=None,
                    received_at=draft.received_at,
                    snippet=draft.snippet[:SNIPPET_KEPT],
                )
            )
    values: dict[str, Any] = {"uidvalidity": uidvalidity, "synced_at": now}
    if rebase:
        values["last_uid"] = last_uid
    if newest_seen is not None:
        values["newest_seen_at"] = newest_seen
        values["newest_seen_keys"] = list(newest_seen_keys)
    if drafts:
        values["last_mail_at"] = now
    session.execute(update(EmailAccount).where(EmailAccount.id == account_id).values(**values))
    # last_uid never moves back (two writes of one account cannot race, but be exact anyway).
    session.execute(
        update(EmailAccount)
        .where(
            EmailAccount.id == account_id,
            (EmailAccount.last_uid.is_(None)) | (EmailAccount.last_uid < last_uid),
        )
        .values(last_uid=last_uid)
    )
    return recorded


def known_message_keys(session: Session, account_id: int, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` an alert of the account already carries (under any UIDVALIDITY)."""
    if not keys:
        return set()
    return set(
        key
        for key in session.scalars(
            select(EmailAlert.message_key).where(
                EmailAlert.account_id == account_id,
                EmailAlert.message_key.in_([key[:200] for key in keys]),
            )
        )
        if key is not None
    )


def pending_email_alerts(session: Session, account_id: int) -> list[StoredEmailAlert]:
    """The account's alerts recorded but not yet delivered (nor given up), oldest first."""
    rows = session.scalars(
        select(EmailAlert)
        .where(EmailAlert.account_id == account_id, EmailAlert.state == "pending")
        .order_by(EmailAlert.id)
    )
    return [_alert(row) for row in rows]


def finish_email_alert(session: Session, alert_id: int, posted_message_id: str | None) -> None:
    """The alert was posted (as ``posted_message_id``, when the sink knows it)."""
    session.execute(
        update(EmailAlert)
        .where(EmailAlert.id == alert_id, EmailAlert.state == "pending")
        .values(
            state="delivered",
            posted_message_id=posted_message_id,
            delivered_at=utcnow(),
            attempts=EmailAlert.attempts + 1,
        )
    )


def hold_email_alert(session: Session, alert_id: int) -> None:
    """Keep a pending alert for the digest after the owner's quiet hours."""
    session.execute(
        update(EmailAlert)
        .where(EmailAlert.id == alert_id, EmailAlert.state == "pending")
        .values(state="held")
    )


def held_email_alerts(session: Session, account_id: int) -> list[StoredEmailAlert]:
    """The account's alerts waiting for the digest, oldest first."""
    rows = session.scalars(
        select(EmailAlert)
        .where(EmailAlert.account_id == account_id, EmailAlert.state == "held")
        .order_by(EmailAlert.id)
    )
    return [_alert(row) for row in rows]


def start_email_digest(session: Session, alert_ids: Sequence[int], key: str) -> None:
    """Held alerts ``alert_ids`` go in the digest ``key``: recorded before it is posted, so
    after a crash the same alerts are posted again as that digest (same nonce), and alerts
    held later go in a digest of their own."""
    if not alert_ids:
        return
    session.execute(
        update(EmailAlert)
        .where(
            EmailAlert.id.in_(list(alert_ids)),
            EmailAlert.state == "held",
            EmailAlert.digest_key.is_(None),
        )
        .values(digest_key=key)
    )


def finish_email_digest(
    session: Session, alert_ids: Sequence[int], posted_message_id: str | None
) -> None:
    """The digest of ``alert_ids`` was posted (as ``posted_message_id``): all delivered."""
    if not alert_ids:
        return
    session.execute(
        update(EmailAlert)
        .where(EmailAlert.id.in_(list(alert_ids)), EmailAlert.state == "held")
        .values(
            state="delivered",
            posted_message_id=posted_message_id,
            delivered_at=utcnow(),
            attempts=EmailAlert.attempts + 1,
        )
    )


def set_email_quiet_hours(
    session: Session, account_id: int, start: str | None, end: str | None
) -> None:
    """Set the account's quiet hours (``HH:MM`` each, in the owner's zone) or clear them
    (both None).

    Raises:
        ValueError: only one is given, or one is not ``HH:MM``.
        LookupError: there is no such account.
    """
    if (start is None) != (end is None):
        raise ValueError("quiet_start and quiet_end are set together (or both None)")
    for name, value in (("quiet_start", start), ("quiet_end", end)):
        if value is not None and (not isinstance(value, str) or not _CLOCK.fullmatch(value)):
            raise ValueError(f"{name} must be a 24-hour time HH:MM; got {value!r}")
    row = session.get(EmailAccount, account_id)
    if row is None:
        raise LookupError(f"no email account {account_id}")
    row.quiet_start, row.quiet_end = start, end


def note_email_alert_failure(session: Session, alert_id: int, max_attempts: int) -> str:
    """One more failed attempt at sending the alert; ``failed`` once ``max_attempts`` are
    spent. Returns its state now."""
    row = session.get(EmailAlert, alert_id)
    if row is None:
        raise LookupError(f"no email alert {alert_id}")
    if row.state != "pending":
        return row.state
    row.attempts += 1
    if row.attempts >= max_attempts:
        row.state = "failed"
    return row.state


def note_email_synced(
    session: Session,
    account_id: int,
    uidvalidity: int,
    last_uid: int,
    at: dt.datetime,
    *,
    newest_seen: dt.datetime | None = None,
    newest_seen_keys: Sequence[str] = (),
) -> None:
    """The account is connected and caught up to ``last_uid``: its failures are over.
    ``newest_seen`` / ``newest_seen_keys``, when given: the server's date of the newest
    message seen so far, and the keys of the messages seen with it."""
    extra: dict[str, Any] = (
        {}
        if newest_seen is None
        else {"newest_seen_at": newest_seen, "newest_seen_keys": list(newest_seen_keys)}
    )
    session.execute(
        update(EmailAccount)
        .where(EmailAccount.id == account_id)
        .values(
            **extra,
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            synced_at=at,
            status="connected",
            failures=0,
            last_error=None,
            error_notified=False,
        )
    )


def note_email_failure(session: Session, account_id: int, error: str) -> int:
    """One more consecutive failure to connect or stay connected; returns how many now.

    ``error`` must already be free of secrets (an adapter error's message is).
    """
    row = session.get(EmailAccount, account_id)
    if row is None:
        raise LookupError(f"no email account {account_id}")
    row.failures += 1
    row.last_error = error[:500]
    if row.status != "error":
        row.status = "failing"
    return row.failures


def mark_email_account_error(session: Session, account_id: int, error: str) -> bool:
    """The account is in error (wrong password, or too many failures in a row).

    Returns:
        True if its owner was already told about this error (tell them only when False).
    """
    row = session.get(EmailAccount, account_id)
    if row is None:
        raise LookupError(f"no email account {account_id}")
    row.status = "error"
    row.last_error = error[:500]
    return row.error_notified


def set_email_error_notified(session: Session, account_id: int, notified: bool = True) -> None:
    """Remember that the owner was told (``notified``) of the account's error."""
    session.execute(
        update(EmailAccount).where(EmailAccount.id == account_id).values(error_notified=notified)
    )


def set_email_ping_owner(session: Session, account_id: int, ping: bool) -> None:
    """Whether the account's alerts ping its owner from now on.

    Raises:
        LookupError: there is no account ``account_id``.
    """
    row = session.get(EmailAccount, account_id)
    if row is None:
        raise LookupError(f"no email account {account_id}")
    row.ping_owner = ping


# -- what people do with their own accounts (``/email``) --------------------------------------


class EmailAccountSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One of a person's accounts, as ``/email status`` shows it."""

    account: StoredEmailAccount
    rules: int
    """How many rules it has."""
    enabled_rules: int


class ConnectedEmailAccount(msgspec.Struct, frozen=True, kw_only=True):
    """What ``connect_email_account`` did."""

    id: int
    created: bool
    """True: a new account; False: the person's account with that address, updated."""
    mailbox_changed: bool = False
    """An update to another server or login: where alerting stood was started afresh."""


def person_email_accounts(
    session: Session, platform: str, platform_user_id: str
) -> list[EmailAccountSummary]:
    """Every account one person connected (enabled or not), oldest first, with its number of
    rules. Never anyone else's: the owner is the one given."""
    counts = (
        select(
            EmailRule.account_id,
            func.count(EmailRule.id).label("rules"),
            func.sum(case((EmailRule.enabled.is_(True), 1), else_=0)).label("enabled"),
        )
        .group_by(EmailRule.account_id)
        .subquery()
    )
    rows = session.execute(
        select(EmailAccount, User, counts.c.rules, counts.c.enabled)
        .join(User, User.id == EmailAccount.user_id)
        .outerjoin(counts, counts.c.account_id == EmailAccount.id)
        .where(User.platform == platform, User.platform_user_id == platform_user_id)
        .order_by(EmailAccount.id)
    )
    return [
        EmailAccountSummary(
            account=_account(account, owner), rules=rules or 0, enabled_rules=enabled or 0
        )
        for account, owner, rules, enabled in rows
    ]


def connect_email_account(
    session: Session,
    box: SecretBox,
    *,
    platform: str,
    platform_user_id: str,
    display_name: str,
    address: str,
    imap_host: str,
    imap_port: int,
    username: str,
    password: str,
    use_tls: bool,
) -> ConnectedEmailAccount:
    """Save a password account for a person (their user row made if needed): a new one, or
    their account with the same address (any case) updated with the new server, login and
    password, enabled again and its error forgotten.

    The password is stored only encrypted (``box``). An update that keeps the server and the
    login keeps where alerting stood (UIDVALIDITY, last UID), so mail that came meanwhile is
    still alerted; one to another server or login starts afresh (the old UIDs mean nothing
    there), as a new account does: mail already in the mailbox is not news. An account that
    signed in with OAuth becomes a password account, and its tokens are deleted.
    """
    owner = ensure_user(session, platform, platform_user_id, display_name)
    row = session.scalars(
        select(EmailAccount).where(
            EmailAccount.user_id == owner.id,
            func.lower(EmailAccount.address) == address.lower(),
        )
    ).one_or_none()
    if row is None:
        created = add_email_account(
            session,
            box,
            user_id=owner.id,
            address=address,
            imap_host=imap_host,
            imap_port=imap_port,
            username=username,
            password=password,
            use_tls=use_tls,
        )
        return ConnectedEmailAccount(id=created.id, created=True)
    changed = (row.imap_host.lower(), row.imap_port, row.username) != (
        imap_host.lower(),
        imap_port,
        username,
    )
    row.imap_host, row.imap_port, row.username, row.use_tls = (
        imap_host,
        imap_port,
        username,
        use_tls,
    )
    row.password_encrypted = box.encrypt(password)
    row.enabled = True
    row.status, row.failures, row.last_error, row.error_notified = "new", 0, None, False
    if row.auth_method != "password":
        row.auth_method, row.oauth_provider = "password", None
        session.execute(delete(EmailOAuthToken).where(EmailOAuthToken.account_id == row.id))
    if changed:
        row.uidvalidity = row.last_uid = None
        row.synced_at = row.newest_seen_at = None
        row.newest_seen_keys = []
    session.flush()
    return ConnectedEmailAccount(id=row.id, created=False, mailbox_changed=changed)


def delete_email_account(session: Session, account_id: int) -> bool:
    """Delete the account with its rules, alerts and OAuth tokens (the foreign keys cascade).
    Returns whether it existed."""
    deleted = session.execute(
        delete(EmailAccount).where(EmailAccount.id == account_id).returning(EmailAccount.id)
    ).scalar_one_or_none()
    return deleted is not None


def set_email_alert_channel(session: Session, account_id: int, channel_id: str | None) -> None:
    """Where the account's alerts go from now on: a channel's id, or None for a DM to its
    owner.

    Raises:
        LookupError: there is no account ``account_id``.
    """
    row = session.get(EmailAccount, account_id)
    if row is None:
        raise LookupError(f"no email account {account_id}")
    row.alert_channel_id = channel_id


def change_email_rules(
    session: Session,
    account_id: int,
    change: Callable[[list[EmailRuleRecord]], list[EmailRuleRecord]],
) -> list[EmailRuleRecord]:
    """Read the account's rules, let ``change`` make the new list, save it: one unit of work,
    so two changes at once cannot lose one another (run it through ``Database.write``).

    ``change`` gets the rules in order and returns them in their new order; what it raises
    leaves the rules as they were.

    Returns:
        The rules as saved, in order.

    Raises:
        LookupError: there is no account ``account_id``.
    """
    if session.get(EmailAccount, account_id) is None:
        raise LookupError(f"no email account {account_id}")
    rules = change(load_email_rules(session, account_id))
    save_email_rules(session, account_id, rules)
    session.flush()
    return load_email_rules(session, account_id)
