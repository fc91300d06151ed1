"""Tools for looking back: search what was said before, read a channel's earlier messages.

What the model may show is what the person it answers may see: the channel they are in,
their own DM with Clara (only when they ask in that DM: a reply in a server channel is read
by others), and the channels of the same server the platform says they may read
(``ChatTransport.can_read``). Never another server's channels, never another person's
DM. A channel they cannot see is an error naming it, not an empty answer, so the model does
not conclude that nothing was said there.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ..adapters.chat import MessageReceived
from ..adapters.llm import ToolSpec
from ..errors import PlatformError
from ..store import (
    ChannelPlace,
    ChatLine,
    Database,
    channel_messages,
    channel_place,
    dm_channels,
    search_messages,
    server_channels,
)

__all__ = ["CanRead", "ChatHistoryTools"]

logger = logging.getLogger(__name__)

CanRead = Callable[[str, str], Awaitable[bool]]
"""``can_read(user_id, channel_id)``: may that person read that channel's history."""

#: Search results: by default, and at most.
SEARCH_RESULTS = 8
MAX_SEARCH_RESULTS = 20
#: Messages in one page of a channel: by default, and at most.
PAGE_SIZE = 15
MAX_PAGE_SIZE = 40
#: A search looks for at most this many words of the query.
MAX_WORDS = 8
#: Characters of a message shown: around the match in a search, from the start in a page.
SNIPPET_CHARS = 240
LINE_CHARS = 500

_CHANNEL_MENTION = re.compile(r"^<#([\w-]+)>$")
_EDGES = "\"'`.,;:!?()[]{}<>*_~"


class ChatHistoryTools:
    """``search_chat_history`` and ``read_chat_history`` for one reply, to one person.

    Made per reply: what it may show depends on who asks and where.

    Args:
        database: the store the conversations are recorded in.
        asker: the message being answered (its author, channel, server, DM or not).
        can_read: asks the platform whether a person may read a channel's history.
        platform: the platform the conversations are on (default: ``asker``'s).
    """

    name = "history"

    def __init__(
        self,
        database: Database,
        asker: MessageReceived,
        can_read: CanRead,
        *,
        platform: str | None = None,
    ) -> None:
        self._database = database
        self._asker = asker
        self._can_read = can_read
        self._platform = platform or asker.platform

    def specs(self) -> list[ToolSpec]:
        channel = {
            "type": "string",
            "description": "A channel's id (a Discord channel mention <#id> works too); "
            "default: this channel.",
        }
        return [
            ToolSpec(
                name="search_chat_history",
                description="Search earlier messages (what people said and your replies) for "
                "words, in the channels the person you are answering can see: this channel "
                "(and, in a server, its other channels they may read). Most matching words "
                "first, then newest.",
                parameters={
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "words to look for"},
                        "channel_id": {**channel, "description": "only this channel"},
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_SEARCH_RESULTS,
                            "description": f"at most this many results (default {SEARCH_RESULTS})",
                        },
                    },
                    "required": ["query"],
                },
            ),
            ToolSpec(
                name="read_chat_history",
                description="Read earlier messages of a channel the person you are answering "
                "can see, oldest first; page back with before_message_id.",
                parameters={
                    "type": "object",
                    "properties": {
                        "channel_id": channel,
                        "before_message_id": {
                            "type": "string",
                            "description": "only messages before this one (default: the latest)",
                        },
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE_SIZE,
                            "description": f"at most this many messages (default {PAGE_SIZE})",
                        },
                    },
                },
            ),
        ]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """Run ``tool``.

        Raises:
            ValueError: an argument is missing or out of range, a channel the person cannot
                see (named), an unknown ``before_message_id``.
            PlatformError: the platform could not say whether the person may see the channel
                asked for.
        """
        if tool == "search_chat_history":
            return await self._search(arguments)
        if tool == "read_chat_history":
            return await self._read(arguments)
        raise ValueError(f"no such tool {tool!r}")

    # -- the tools ------------------------------------------------------------------------------

    async def _search(self, arguments: dict[str, Any]) -> str:
        query = str(arguments.get("query") or "").strip()
        words = _words(query)
        if not words:
            raise ValueError("query must hold at least one word to look for")
        limit = _limit(arguments.get("limit"), SEARCH_RESULTS, MAX_SEARCH_RESULTS)
        dms = await self._database.run(dm_channels, self._platform, self._asker.author.id)
        unchecked = 0
        named = _given(arguments.get("channel_id"))
        if named is not None:
            channels = [await self._visible_channel(named)]
        else:
            channels, unchecked = await self._searchable(dms)
        found = await self._database.run(search_messages, self._platform, channels, words, limit)
        skipped = (
            f"\n({unchecked} channel(s) of this server could not be checked just now and were "
            "left out.)"
            if unchecked
            else ""
        )
        if not found:
            return f"No earlier messages match {query!r} in the channels they can see.{skipped}"
        lines = [
            f"- {_when(line)} · {self._where(line.channel_id, set(dms))} · {_who(line)}: "
            f"{_snippet(line.text, words)}"
            for line in found
        ]
        return (
            f"{len(found)} earlier message(s) matching {query!r}, most matching words first, "
            "then newest:\n" + "\n".join(lines) + skipped
        )

    async def _read(self, arguments: dict[str, Any]) -> str:
        limit = _limit(arguments.get("limit"), PAGE_SIZE, MAX_PAGE_SIZE)
        named = _given(arguments.get("channel_id"))
        channel_id = self._asker.channel_id if named is None else await self._visible_channel(named)
        before_id = _given(arguments.get("before_message_id"))
        page = await self._database.run(
            channel_messages,
            self._platform,
            channel_id,
            before_message_id=before_id,
            limit=limit + 1,  # one more, to know whether older ones remain
        )
        older = len(page) > limit
        page = page[-limit:]
        name = "this channel" if channel_id == self._asker.channel_id else f"channel {channel_id}"
        if not page:
            return f"No earlier messages of {name} are stored" + (
                f" before message {before_id}." if before_id else "."
            )
        lines = [
            f"- {_when(line)} · {_who(line)}: {_shorten(line.text, LINE_CHARS)}" for line in page
        ]
        more = ""
        if older:
            cursor = next((line.message_id for line in page if line.message_id), None)
            more = (
                f" (older ones exist: before_message_id={cursor!r})"
                if cursor
                else " (older ones exist)"
            )
        return f"{len(page)} message(s) of {name}, oldest first{more}:\n" + "\n".join(lines)

    # -- who may see what -----------------------------------------------------------------------

    async def _visible_channel(self, named: str) -> str:
        """The channel id ``named`` (an id or a ``<#id>`` mention), if the person may see it.

        Raises:
            ValueError: a channel they cannot see (or one with nothing stored: the same
                answer, so it tells nothing of other places).
        """
        mention = _CHANNEL_MENTION.match(named)
        channel_id = mention.group(1) if mention else named
        if channel_id == self._asker.channel_id:
            return channel_id
        place = await self._database.run(channel_place, self._platform, channel_id)
        if place is None or not await self._may_see(place):
            raise ValueError(
                f"you can't see channel {channel_id} (or no conversation there is stored)"
            )
        return channel_id

    async def _may_see(self, place: ChannelPlace) -> bool:
        asker = self._asker
        if place.is_dm:
            # Their own DM, and only from a DM: a server channel's reply is read by others.
            return asker.is_dm and place.people == (asker.author.id,)
        if asker.guild_id is None or place.guild_id != asker.guild_id:
            return False
        return await self._can_read(asker.author.id, place.channel_id)

    async def _searchable(self, dms: list[str]) -> tuple[list[str], int]:
        """The channels a search looks in (here, the asker's ``dms``, the server's channels
        they may read), and how many of the server's could not be checked (left out: when in
        doubt, nothing is shown)."""
        asker = self._asker
        channels = [asker.channel_id]
        for channel in dms if asker.is_dm else ():
            if channel not in channels:
                channels.append(channel)
        unchecked = 0
        if asker.guild_id is not None:
            server = await self._database.run(server_channels, self._platform, asker.guild_id)
            for channel in server:
                if channel in channels:
                    continue
                try:
                    if await self._can_read(asker.author.id, channel):
                        channels.append(channel)
                except PlatformError as error:
                    unchecked += 1
                    logger.info(
                        "history tools: channel %s left out of a search for %s: %s",
                        channel,
                        asker.author.id,
                        error,
                    )
        return channels, unchecked

    def _where(self, channel_id: str, dms: set[str]) -> str:
        if channel_id == self._asker.channel_id:
            return "this channel"
        if channel_id in dms:
            return "their DM with you (private)"
        return f"channel {channel_id}"


def _given(value: object) -> str | None:
    """An optional text argument: None when left out or empty (models send ``""`` too)."""
    text = "" if value is None else str(value).strip()
    return text or None


def _words(query: str) -> list[str]:
    """The distinct words of ``query``, lowercased, without edge punctuation; one-letter
    words only when there is nothing else (they match almost everything)."""
    words = list(dict.fromkeys(w.strip(_EDGES).lower() for w in query.split()))
    words = [word for word in words if word]
    longer = [word for word in words if len(word) > 1]
    return (longer or words)[:MAX_WORDS]


def _limit(value: object, default: int, most: int) -> int:
    if value is None:
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 1 <= number <= most:
        raise ValueError(f"limit must be a whole number from 1 to {most}; got {value!r}")
    return number


def _when(line: ChatLine) -> str:
    return f"{line.at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _who(line: ChatLine) -> str:
    name = "you (Clara)" if line.from_clara else line.author
    return f"{name} (message {line.message_id})" if line.message_id else name


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _snippet(text: str, words: list[str]) -> str:
    """Up to ``SNIPPET_CHARS`` characters of ``text``, around the first word found in it."""
    flat = " ".join(text.split())
    if len(flat) <= SNIPPET_CHARS:
        return flat
    lowered = flat.lower()
    hits = [index for word in words if (index := lowered.find(word)) >= 0]
    start = max(0, min(hits, default=0) - SNIPPET_CHARS // 3)
    end = min(len(flat), start + SNIPPET_CHARS)
    start = max(0, end - SNIPPET_CHARS)
    return ("…" if start else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")
