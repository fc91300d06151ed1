"""Where alerts go: the ``AlertSink`` protocol, and a sink that posts plain text to a chat.

An account actor hands each recorded alert to its sink and marks it delivered with the id
the sink returns. Delivery must be idempotent: a crash between posting and marking resends
the alert at start, so a sink posts with ``alert.nonce`` (the same for every attempt at one
alert, distinct for every alert) and a platform that enforces nonces (Discord) drops the
repeat. Notices to an account's owner (wrong password, failing for a while, working again)
take the same road with their own nonce.

Two sinks implement it: ``EmbedAlertSink`` posts an embed coloured by importance to the
account's alert channel, else in a DM to its owner, pinging the owner only when the account
asks for it; ``ChatAlertSink`` posts plain text through any ``ChatTransport``. Quiet hours
decide *when* an alert goes (the account actor, ``quiet.py``), a sink *how*: alerts held
through quiet hours reach it as one ``Digest``, whose nonce comes from the held alerts' ids.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Sequence
from typing import Protocol

import msgspec

from ...adapters.chat import (
    DISCORD_LIMIT,
    ChatTransport,
    Embed,
    EmbedField,
    EmbedTransport,
    Pings,
    nonce_for,
)
from ...errors import PlatformError

__all__ = [
    "IMPORTANCE_COLOURS",
    "AccountNotice",
    "Alert",
    "AlertSink",
    "AlertUndeliverable",
    "ChatAlertSink",
    "Digest",
    "EmbedAlertSink",
    "NoticeKind",
    "alert_embed",
    "alert_text",
    "digest_embed",
    "digest_key",
    "digest_text",
    "notice_embed",
    "notice_text",
]

logger = logging.getLogger(__name__)


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One message worth telling the account's owner about."""

    alert_id: int
    account_id: int
    address: str
    """The account's address (whose mail this is)."""
    owner_platform_user_id: str
    channel_id: str | None
    """Where the account's alerts go; None: the sink decides (a DM, a default)."""
    uidvalidity: int
    uid: int
    sender: str
    subject: str
    importance: str
    rule_name: str | None
    received_at: dt.datetime | None
    snippet: str = ""
    """The start of the message's text (empty: none was read)."""
    ping_owner: bool = False
    """Whether the post pings the owner (the account's setting)."""

    @property
    def nonce(self) -> str:
        """The same on every attempt at this alert, in every process."""
        return nonce_for(f"email:{self.account_id}:{self.uidvalidity}:{self.uid}", "alert")


class Digest(msgspec.Struct, frozen=True, kw_only=True):
    """The alerts held through one account's quiet hours, posted as one message."""

    account_id: int
    address: str
    owner_platform_user_id: str
    channel_id: str | None
    alerts: tuple[Alert, ...]
    """Oldest first; never empty."""
    ping_owner: bool = False
    key: str = ""
    """The digest's key, recorded with its alerts before it is posted (``digest_key``)."""

    @property
    def nonce(self) -> str:
        """From the digest's key (or its alerts' ids): a retry of the same digest (a crash
        between posting and marking) repeats it, so the platform drops the repeat."""
        return nonce_for(f"email:{self.account_id}:{self.key or digest_key(self.alerts)}", "digest")


def digest_key(alerts: Sequence[Alert]) -> str:
    """The key of a digest of ``alerts``: their ids' span and count."""
    ids = [alert.alert_id for alert in alerts]
    return f"{min(ids)}-{max(ids)}:{len(ids)}"


class NoticeKind(enum.StrEnum):
    LOGIN_REFUSED = "login_refused"
    AUTHORIZATION_LOST = "authorization_lost"
    """An OAuth account's grant was revoked or expired: only signing in again helps."""
    FAILING = "failing"
    RECOVERED = "recovered"


class AccountNotice(msgspec.Struct, frozen=True, kw_only=True):
    """Something the owner must know about the account itself (told once per episode)."""

    account_id: int
    address: str
    owner_platform_user_id: str
    channel_id: str | None
    kind: NoticeKind
    detail: str
    """Free of secrets (an adapter error's message)."""
    episode: str
    """Distinguishes one episode of trouble from the next (the nonce's part)."""

    @property
    def nonce(self) -> str:
        return nonce_for(f"email:{self.account_id}:{self.episode}", self.kind.value)


class AlertUndeliverable(PlatformError):
    """A sink has nowhere to post (no channel) or the platform refused."""


class AlertSink(Protocol):
    """Posts alerts and notices; each call returns the posted message's id (None when the
    platform gives none).

    Raises ``PlatformError`` (``AlertUndeliverable``) when it could not post: the alert stays
    pending and is tried again (up to the account's attempt limit).
    """

    async def deliver(self, alert: Alert) -> str | None: ...

    async def notify(self, notice: AccountNotice) -> str | None: ...

    async def deliver_digest(self, digest: Digest) -> str | None: ...


_MARKS = {"urgent": "🚨", "high": "❗", "normal": "📧", "low": "📨"}


def alert_text(alert: Alert) -> str:
    """The alert as plain text (under Discord's limit)."""
    mark = _MARKS.get(alert.importance, "📧")
    lines = [f"{mark} New mail for {alert.address} ({alert.importance})"]
    lines.append(f"From: {alert.sender or '(unknown sender)'}")
    lines.append(f"Subject: {alert.subject or '(no subject)'}")
    if alert.rule_name:
        lines.append(f"Rule: {alert.rule_name}")
    return "\n".join(lines)[:DISCORD_LIMIT]


#: Importances from the most to the least pressing (a digest takes its first one's colour).
_RANKED = ("urgent", "high", "normal", "low")


def _digest_head(digest: Digest) -> str:
    count = len(digest.alerts)
    return (
        f"📬 {count} new mail{'s' if count != 1 else ''} for {digest.address} in your quiet hours"
    )


def _digest_line(alert: Alert) -> str:
    mark = _MARKS.get(alert.importance, "📧")
    return f"{mark} {alert.subject.strip() or '(no subject)'} — {alert.sender.strip() or '?'}"


def digest_text(digest: Digest) -> str:
    """The digest as plain text (under Discord's limit)."""
    lines = [_digest_head(digest)] + [_digest_line(alert) for alert in digest.alerts]
    return "\n".join(lines)[:DISCORD_LIMIT]


def digest_embed(digest: Digest) -> Embed:
    """The digest as one embed: a line per held alert (subject and sender, marked by
    importance), coloured by the most pressing of them. The embed's fitting trims a long
    list; the footer still says how many there were."""
    present = {alert.importance for alert in digest.alerts}
    top = next((name for name in _RANKED if name in present), "normal")
    return Embed(
        title=_digest_head(digest),
        description="\n".join(_digest_line(alert) for alert in digest.alerts),
        colour=IMPORTANCE_COLOURS[top],
        footer=f"{len(digest.alerts)} held during quiet hours · {digest.address}",
    )


def _notice_parts(notice: AccountNotice) -> tuple[str, str]:
    """The notice's headline and what happens next."""
    if notice.kind is NoticeKind.LOGIN_REFUSED:
        head = f"⚠️ I cannot log in to {notice.address}: the server refused the password."
        tail = "Reconnect the account with the right password; until then I am not watching it."
    elif notice.kind is NoticeKind.AUTHORIZATION_LOST:
        head = f"⚠️ I cannot log in to {notice.address}: its sign-in no longer works."
        tail = (
            "Sign in again with /email connect provider:… (as when you connected it); "
            "until then I am not watching it."
        )
    elif notice.kind is NoticeKind.FAILING:
        head = f"⚠️ I cannot reach the mail server of {notice.address}."
        tail = "I keep trying, slowly, and will tell you when it works again."
    else:
        head = f"✅ {notice.address} is connected again."
        tail = "Mail that arrived meanwhile is being checked now."
    return head, tail


def notice_text(notice: AccountNotice) -> str:
    head, tail = _notice_parts(notice)
    detail = f"({notice.detail})" if notice.detail else ""
    return "\n".join(part for part in (head, detail, tail) if part)[:DISCORD_LIMIT]


class ChatAlertSink:
    """Posts plain-text alerts and notices through a ``ChatTransport`` with their nonces.

    Args:
        transport: the chat platform (Discord, the console, a fake).
        default_channel: where alerts of accounts without their own channel go; None: such
            alerts are undeliverable (they stay pending until one is set).
    """

    def __init__(self, transport: ChatTransport, default_channel: str | None = None) -> None:
        self.transport = transport
        self.default_channel = default_channel

    def _channel(self, channel_id: str | None, account_id: int) -> str:
        channel = channel_id or self.default_channel
        if not channel:
            raise AlertUndeliverable(
                "email",
                f"account {account_id} has no alert channel and there is no default",
            )
        return channel

    async def deliver(self, alert: Alert) -> str | None:
        channel = self._channel(alert.channel_id, alert.account_id)
        return await self.transport.send(
            channel, alert_text(alert), reply_to=None, nonce=alert.nonce
        )

    async def notify(self, notice: AccountNotice) -> str | None:
        channel = self._channel(notice.channel_id, notice.account_id)
        return await self.transport.send(
            channel, notice_text(notice), reply_to=None, nonce=notice.nonce
        )

    async def deliver_digest(self, digest: Digest) -> str | None:
        channel = self._channel(digest.channel_id, digest.account_id)
        return await self.transport.send(
            channel, digest_text(digest), reply_to=None, nonce=digest.nonce
        )


#: The colour bar of an alert's embed, by importance: urgent red, high orange, normal
#: blue, low grey (Discord's own palette, legible on dark and light themes).
IMPORTANCE_COLOURS = {"urgent": 0xED4245, "high": 0xE67E22, "normal": 0x3498DB, "low": 0x95A5A6}
_NOTICE_COLOURS = {
    NoticeKind.LOGIN_REFUSED: 0xED4245,
    NoticeKind.AUTHORIZATION_LOST: 0xED4245,
    NoticeKind.FAILING: 0xFEE75C,
    NoticeKind.RECOVERED: 0x57F287,
}
#: How much of the message's text an alert shows: a hint, not the mail.
SNIPPET_SHOWN = 300


def alert_embed(alert: Alert) -> Embed:
    """The alert as an embed: the subject as title, a short snippet, then sender, account
    and matched rule as fields; coloured by importance (named in the footer too, for
    those who cannot tell the colours apart)."""
    snippet = alert.snippet.strip()
    if len(snippet) > SNIPPET_SHOWN:
        snippet = snippet[: SNIPPET_SHOWN - 1] + "…"
    fields = [
        EmbedField(name="From", value=alert.sender.strip() or "(unknown sender)", inline=True),
        EmbedField(name="Account", value=alert.address, inline=True),
    ]
    if alert.rule_name:
        fields.append(EmbedField(name="Rule", value=alert.rule_name, inline=True))
    return Embed(
        title=f"{_MARKS.get(alert.importance, '📧')} {alert.subject.strip() or '(no subject)'}",
        description=snippet,
        colour=IMPORTANCE_COLOURS.get(alert.importance, IMPORTANCE_COLOURS["normal"]),
        fields=tuple(fields),
        footer=f"{alert.importance} importance · new mail for {alert.address}",
    )


def notice_embed(notice: AccountNotice) -> Embed:
    """The notice as an embed: yellow while failing, red when the password is refused,
    green when it works again."""
    head, tail = _notice_parts(notice)
    description = "\n".join(
        part for part in (f"({notice.detail})" if notice.detail else "", tail) if part
    )
    return Embed(
        title=head,
        description=description,
        colour=_NOTICE_COLOURS[notice.kind],
        footer=f"email account {notice.address}",
    )


class EmbedAlertSink:
    """Posts alerts and notices as embeds with their nonces: to the account's alert channel,
    else in a DM to its owner (their platform user id, from the store with the account).

    An alert pings its owner only when the account says so (``Alert.ping_owner``): then its
    text mentions the owner and the allowed mentions name the owner alone; otherwise it
    pings nobody (``allowed_mentions.parse`` empty), whatever a subject may contain.
    Notices never ping.

    Args:
        transport: a chat platform that posts embeds and opens DMs (Discord, the console,
            a fake).
    """

    def __init__(self, transport: EmbedTransport) -> None:
        self.transport = transport

    async def _destination(self, channel_id: str | None, owner: str, account_id: int) -> str:
        if channel_id:
            return channel_id
        if not owner:
            raise AlertUndeliverable(
                "email", f"account {account_id} has no alert channel and no owner to DM"
            )
        return await self.transport.dm_channel(owner)

    async def deliver(self, alert: Alert) -> str | None:
        owner = alert.owner_platform_user_id
        channel = await self._destination(alert.channel_id, owner, alert.account_id)
        ping = alert.ping_owner and bool(owner)
        logger.debug(
            "email account %s: alert %s to channel %s (ping: %s)",
            alert.account_id,
            alert.alert_id,
            channel,
            ping,
        )
        return await self.transport.send_embed(
            channel,
            alert_embed(alert),
            nonce=alert.nonce,
            content=f"<@{owner}>" if ping else "",
            pings=Pings(users=(owner,)) if ping else Pings(),
        )

    async def notify(self, notice: AccountNotice) -> str | None:
        channel = await self._destination(
            notice.channel_id, notice.owner_platform_user_id, notice.account_id
        )
        return await self.transport.send_embed(channel, notice_embed(notice), nonce=notice.nonce)

    async def deliver_digest(self, digest: Digest) -> str | None:
        """One embed for all the held alerts; pings as a single alert would."""
        owner = digest.owner_platform_user_id
        channel = await self._destination(digest.channel_id, owner, digest.account_id)
        ping = digest.ping_owner and bool(owner)
        logger.debug(
            "email account %s: digest of %d alert(s) to channel %s",
            digest.account_id,
            len(digest.alerts),
            channel,
        )
        return await self.transport.send_embed(
            channel,
            digest_embed(digest),
            nonce=digest.nonce,
            content=f"<@{owner}>" if ping else "",
            pings=Pings(users=(owner,)) if ping else Pings(),
        )
