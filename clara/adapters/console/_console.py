"""A terminal as a chat platform: lines in, replies out."""

from __future__ import annotations

import itertools
import sys
import time
import uuid
from collections.abc import Sequence
from typing import TextIO

from ..chat import Author, Embed, MessageReceived, Pings, embed_text, fit_embed

__all__ = ["CONSOLE_CHANNEL", "ConsoleTransport", "PlainTransport", "console_message"]

CONSOLE_CHANNEL = "console"


class ConsoleTransport:
    """Prints what Clara says. Typing indicators and notices are shown dimmed."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._count = itertools.count(1)

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        self._out.write(f"clara> {text}\n")
        for name, data in files:
            self._out.write(f"clara> [attached {name}, {len(data):,} bytes]\n")
        self._out.flush()
        return f"console-{next(self._count)}"

    async def send_embed(
        self,
        channel_id: str,
        embed: Embed,
        *,
        nonce: str,
        content: str = "",
        pings: Pings = Pings(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> str:
        """Print the embed as text, each line marked (a terminal pings nobody)."""
        text = embed_text(fit_embed(embed))
        if content:
            text = f"{content}\n{text}"
        for line in text.splitlines():
            self._out.write(f"clara> | {line}\n")
        self._out.flush()
        return f"console-{next(self._count)}"

    async def dm_channel(self, user_id: str) -> str:
        """The console is its one person's DM: every DM goes there."""
        return CONSOLE_CHANNEL

    async def typing(self, channel_id: str) -> None:
        return None

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        return None  # a terminal has no reactions: a queued line just waits its turn

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        """The console's one person reads the console's one channel, and nothing else."""
        return channel_id == CONSOLE_CHANNEL


class PlainTransport:
    """For scripts (``run.py --once``): the reply's text alone on stdout, nothing else.

    Progress lines (``-# ...``) are for chat windows and are left out; files are named.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        if not text.startswith("-# "):
            self._out.write(text + "\n")
        for name, data in files:
            self._out.write(f"[attached {name}, {len(data):,} bytes]\n")
        self._out.flush()
        return "once"

    async def send_embed(
        self,
        channel_id: str,
        embed: Embed,
        *,
        nonce: str,
        content: str = "",
        pings: Pings = Pings(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> str:
        """The embed as plain text (its title, description, fields and footer)."""
        text = embed_text(fit_embed(embed))
        self._out.write((f"{content}\n{text}" if content else text) + "\n")
        self._out.flush()
        return "once"

    async def dm_channel(self, user_id: str) -> str:
        return CONSOLE_CHANNEL

    async def typing(self, channel_id: str) -> None:
        return None

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        return None

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        return channel_id == CONSOLE_CHANNEL


def console_message(text: str, user: str = "you") -> MessageReceived:
    """A line typed in the console, as a direct message to Clara."""
    return MessageReceived(
        platform="console",
        message_id=f"console-{uuid.uuid4().hex}",  # unique across runs: the store dedups
        channel_id=CONSOLE_CHANNEL,
        guild_id=None,
        is_dm=True,
        author=Author(id=user, name=user, is_admin=True),
        content=text,
        sent_at=time.time(),
    )
