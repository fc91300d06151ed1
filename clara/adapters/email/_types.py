"""What the IMAP adapter takes and gives: an endpoint, a mailbox's state, a new message."""

from __future__ import annotations

import datetime as dt

import msgspec

__all__ = ["FetchedMail", "ImapEndpoint", "MailboxState"]


class ImapEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where and as whom to log in: with a password (LOGIN), or with an OAuth access token
    (``access_token``: AUTHENTICATE XOAUTH2, what Gmail and Outlook take). ``repr`` never
    shows either (they are only ever handed to the login)."""

    host: str
    port: int
    username: str
    password: str = ""
    use_tls: bool = True
    timeout: float = 30.0
    """Seconds to connect, and for each command's answer."""
    access_token: str | None = None
    """An OAuth access token: log in with XOAUTH2 instead of the password."""

    def __repr__(self) -> str:
        secret = "access_token=***" if self.uses_oauth2 else "password=***"
        return (
            f"ImapEndpoint(host={self.host!r}, port={self.port!r}, username={self.username!r}, "
            f"{secret}, use_tls={self.use_tls!r}, timeout={self.timeout!r})"
        )

    __str__ = __repr__

    @property
    def label(self) -> str:
        """``user@host:port``, for messages and logs."""
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def uses_oauth2(self) -> bool:
        """Whether the login is XOAUTH2 with ``access_token`` (else LOGIN with the password)."""
        return self.access_token is not None


class MailboxState(msgspec.Struct, frozen=True, kw_only=True):
    """INBOX as SELECT found it."""

    uidvalidity: int
    uidnext: int
    exists: int
    can_idle: bool


class FetchedMail(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules and the alert need of one new message (never the whole body)."""

    uid: int
    sender: str
    """``Name <mailbox@host>`` or ``mailbox@host``."""
    sender_address: str
    """``mailbox@host``, lower case."""
    subject: str
    date: dt.datetime | None
    """The Date header, aware, or None."""
    internal_date: dt.datetime | None
    """When the server received it (INTERNALDATE), aware."""
    has_attachments: bool
    snippet: str
    """The start of the first text part, decoded, at most ``SNIPPET_CHARS`` characters."""
    message_id: str | None
    """The Message-ID header, if any."""
