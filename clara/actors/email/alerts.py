"""Where alerts go: the ``AlertSink`` protocol, and a sink that posts plain text to a chat.

An account actor hands each recorded alert to its sink and marks it delivered with the id
the sink returns. Delivery must be idempotent: a crash between posting and marking resends
the alert at start, so a sink posts with ``alert.nonce`` (the same for every attempt at one
alert, distinct for every alert) and a platform that enforces nonces (Discord) drops the
repeat. Notices to an account's owner (wrong password, failing for a while, working again)
take the same road with their own nonce.

The Discord embeds, DMs, pings and quiet hours of a later part implement this protocol;
``ChatAlertSink`` is the plain-text one, through any ``ChatTransport``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Protocol

import msgspec

from ...adapters.chat import DISCORD_LIMIT, ChatTransport, nonce_for
from ...errors import PlatformError

__all__ = [
    "AccountNotice",
    "Alert",
    "AlertSink",
    "AlertUndeliverable",
    "ChatAlertSink",
    "NoticeKind",
    "alert_text",
    "notice_text",
]


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

    @property
    def nonce(self) -> str:
        """The same on every attempt at this alert, in every process."""
        return nonce_for(f"email:{self.account_id}:{self.uidvalidity}:{self.uid}", "alert")


class NoticeKind(enum.StrEnum):
    LOGIN_REFUSED = "login_refused"
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


def notice_text(notice: AccountNotice) -> str:
    if notice.kind is NoticeKind.LOGIN_REFUSED:
        head = f"⚠️ I cannot log in to {notice.address}: the server refused the password."
        tail = "Reconnect the account with the right password; until then I am not watching it."
    elif notice.kind is NoticeKind.FAILING:
        head = f"⚠️ I cannot reach the mail server of {notice.address}."
        tail = "I keep trying, slowly, and will tell you when it works again."
    else:
        head = f"✅ {notice.address} is connected again."
        tail = "Mail that arrived meanwhile is being checked now."
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
