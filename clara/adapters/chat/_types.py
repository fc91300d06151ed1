"""What a chat platform hands Clara, and what Clara needs from one to answer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

import msgspec

__all__ = [
    "DISCORD_LIMIT",
    "Attachment",
    "Author",
    "ChatTransport",
    "MessageReceived",
    "nonce_for",
    "split_message",
]

#: Discord's limit on one message's length.
DISCORD_LIMIT = 2000


class Author(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    roles: tuple[str, ...] = ()
    is_admin: bool = False
    """Holds the server's administrator permission (or is the only person, in a DM)."""


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    filename: str
    content_type: str
    size: int
    url: str = ""
    data: bytes | None = None
    """Already fetched (the console, tests); otherwise fetched from ``url`` when needed."""


class MessageReceived(msgspec.Struct, frozen=True, kw_only=True):
    """A message someone sent where Clara can see it, as the platform adapter reports it."""

    platform: str
    message_id: str
    channel_id: str
    guild_id: str | None
    is_dm: bool
    author: Author
    content: str
    mentions_clara: bool = False
    reply_to_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    sent_at: float | None = None
    """When the person sent it (seconds since the epoch), when the platform says; a message
    resumed or caught up after a restart is answered only while it is younger than
    ``CLARA_RESUME_WINDOW``."""


class ChatTransport(Protocol):
    """How a channel actor speaks: the Discord adapter, the console, a fake in tests."""

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        """Post ``text`` (at most ``DISCORD_LIMIT`` characters), with ``files`` (name, bytes)
        attached; the new message's id.

        ``nonce`` is derived from the triggering message: a platform that enforces nonces
        (Discord) posts a retried send once.
        """
        ...

    async def typing(self, channel_id: str) -> None:
        """Show that Clara is writing (lasts a few seconds on Discord)."""
        ...

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        """Put ``emoji`` on someone's message (a queued one gets ⏳); where a platform has no
        reactions (the console), nothing. Raises ``PlatformError`` when the platform refuses.
        """
        ...

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        """Whether the person ``user_id`` may read the history of ``channel_id`` on this
        platform (what Clara may show them of it): a DM only its own person; a server's
        channel whoever may view it and read its history. An unknown channel: False.

        Raises:
            PlatformError: the platform could not be asked (not connected, a server error).
        """
        ...


def nonce_for(message_id: str, part: int | str) -> str:
    """A nonce for part ``part`` of what Clara posts about ``message_id`` (a reply piece's
    index, or a notice's kind): the same on every retry and in every process, distinct for
    every piece, so Discord's ``enforce_nonce`` drops a repeat and keeps everything else.

    Discord takes nonces of at most 25 characters.
    """
    digest = hashlib.blake2b(f"{message_id}:{part}".encode(), digest_size=12).hexdigest()
    return digest[:25]


_FENCE = re.compile(r"```([^\s`]{0,20})")


def _open_fence_after(piece: str, open_tag: str | None) -> str | None:
    """The code fence still open at the end of ``piece`` (its language tag, ``""`` when it has
    none), given the one open at its start; None when no fence is open."""
    tag = open_tag
    for match in _FENCE.finditer(piece):
        tag = None if tag is not None else match.group(1)
    return tag


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at the gentlest break.

    Prefers a paragraph break, then a line break, then a space; cuts words only when a
    single word is longer than the limit. A code fence open at a cut is closed at the end of
    its piece and reopened, with its language tag (```` ```python ````), at the start of the
    next, so every piece renders as code with the right highlighting.
    """
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    rest = text
    tag: str | None = None  # the fence open where the rest begins
    while rest:
        reopen = "" if tag is None else f"```{tag}\n"
        budget = limit - len(reopen) - 4  # room for reopening and closing a fence
        if len(rest) <= budget:
            pieces.append(reopen + rest)
            break
        window = rest[:budget]
        cut = max(window.rfind("\n\n"), -1)
        if cut < budget // 2:
            cut = window.rfind("\n")
        if cut < budget // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = budget
        piece, rest = rest[:cut], rest[cut:].lstrip("\n ")
        body = reopen + piece
        tag = _open_fence_after(piece, tag)
        if tag is not None:
            body += "\n```"
        pieces.append(body)
    return pieces
