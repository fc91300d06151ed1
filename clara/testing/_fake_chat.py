"""A chat transport that records what Clara says, for channel tests (and the benchmarks)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import trio

from ..adapters.chat import Author, Embed, MessageReceived, Pings, fit_embed

__all__ = ["FakeTransport", "Sent", "SentEmbed", "incoming"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Sent:
    channel_id: str
    text: str
    reply_to: str | None
    nonce: str
    at: float
    files: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class SentEmbed:
    """An embed as posted (already fitted to Discord's limits), with who it may ping."""

    channel_id: str
    embed: Embed
    content: str
    pings: Pings
    nonce: str
    at: float


@dataclass
class FakeTransport:
    """Records every message sent; ``nonce`` deduplicates like Discord's enforce_nonce.

    ``can_read`` answers from ``readable``: (person, channel) pairs, none at first
    (``allow_reading`` adds some). Embeds land in ``embeds`` (sharing the nonces of
    ``sent``); a person's DM channel is ``dm-<user id>``, opened on first use
    (``dm_channels``).
    """

    sent: list[Sent] = field(default_factory=list)
    typing_calls: int = 0
    reactions: list[tuple[str, str, str, float]] = field(default_factory=list)
    """(channel id, message id, emoji, virtual time) of each reaction, in order."""
    readable: set[tuple[str, str]] = field(default_factory=set)
    """(user id, channel id): who may read which channel's history."""
    embeds: list[SentEmbed] = field(default_factory=list)
    dm_channels: dict[str, str] = field(default_factory=dict)
    """user id → DM channel id, for each person a DM channel was asked for."""
    _nonces: set[str] = field(default_factory=set)
    _arrived: trio.Event = field(default_factory=trio.Event)

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        if nonce in self._nonces:  # a retry of something already posted
            return f"dup-{nonce}"
        self._nonces.add(nonce)
        self.sent.append(Sent(channel_id, text, reply_to, nonce, trio.current_time(), tuple(files)))
        self._arrived.set()
        return f"sent-{len(self.sent)}"

    async def send_embed(
        self,
        channel_id: str,
        embed: Embed,
        *,
        nonce: str,
        content: str = "",
        pings: Pings = Pings(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> str:
        if nonce in self._nonces:  # a retry of something already posted
            return f"dup-{nonce}"
        self._nonces.add(nonce)
        at = trio.current_time()
        self.embeds.append(SentEmbed(channel_id, fit_embed(embed), content, pings, nonce, at))
        self._arrived.set()
        return f"embed-{len(self.embeds)}"

    async def dm_channel(self, user_id: str) -> str:
        return self.dm_channels.setdefault(user_id, f"dm-{user_id}")

    async def typing(self, channel_id: str) -> None:
        self.typing_calls += 1

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        self.reactions.append((channel_id, message_id, emoji, trio.current_time()))

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        return (user_id, channel_id) in self.readable

    def allow_reading(self, user_id: str, *channel_ids: str) -> None:
        """Let ``user_id`` read the history of ``channel_ids``."""
        self.readable.update((user_id, channel_id) for channel_id in channel_ids)

    def texts(self, channel_id: str | None = None) -> list[str]:
        return [s.text for s in self.sent if channel_id is None or s.channel_id == channel_id]

    async def wait_for(self, count: int) -> None:
        """Wait until ``count`` messages have been sent in all."""
        while len(self.sent) < count:
            self._arrived = trio.Event()
            await self._arrived.wait()


def incoming(
    content: str,
    *,
    channel_id: str = "c1",
    author: str = "ada",
    guild_id: str | None = "g1",
    mention: bool = False,
    is_dm: bool = False,
    roles: tuple[str, ...] = (),
    admin: bool = False,
    message_id: str | None = None,
    platform: str = "discord",
    sent_at: float | None = None,
) -> MessageReceived:
    """A message as a platform adapter would report it."""
    return MessageReceived(
        platform=platform,
        message_id=message_id or str(next(_ids)),
        channel_id=channel_id,
        guild_id=None if is_dm else guild_id,
        is_dm=is_dm,
        author=Author(id=author, name=author.capitalize(), roles=roles, is_admin=admin),
        content=("<@999> " if mention else "") + content,
        mentions_clara=mention,
        sent_at=sent_at,
    )
