"""Emotional continuity and recurring topics, as context for Clara's replies.

When a person writes after a long silence, a reply should know how their last conversation
went ("it started low and ended better") and what they keep coming back to. ``Continuity``
gives a channel one short paragraph for the system prompt, from the person's own messages
(``mood_and_topics``: VADER per message, YAKE for topics mentioned in two messages or more
within 14 days), cached per person and place for ``ttl``.

Privacy: in a server's channel only what the person said in servers is used; their DMs feed
the paragraph only in their DMs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import trio

from ...adapters.chat import MessageReceived
from ...errors import StoreUnavailable
from ...store import Database
from ...store._proactive import PersonLine, person_lines, user_pk_of
from .sources import mood_and_topics

__all__ = ["Continuity"]

logger = logging.getLogger(__name__)

#: A silence at least this long makes the last conversation's arc worth a line.
LONG_GAP = dt.timedelta(hours=6)


class Continuity:
    """``await continuity(message)``: a paragraph for the reply to ``message`` ('' for none).

    Never raises: a store that is away or a library that fails leaves the reply without it.
    """

    def __init__(
        self,
        database: Database,
        clock: Callable[[], dt.datetime],
        *,
        ttl: dt.timedelta = dt.timedelta(minutes=10),
        history: dt.timedelta = dt.timedelta(days=14),
        max_people: int = 10_000,
    ) -> None:
        self.database = database
        self.clock = clock
        self.ttl = ttl
        self.history = history
        self.max_people = max_people
        self._cache: dict[tuple[str, str, bool], tuple[dt.datetime, str]] = {}

    async def __call__(self, message: MessageReceived) -> str:
        try:
            return await self._paragraph(message)
        except (StoreUnavailable, ValueError, RuntimeError) as error:
            logger.info("continuity for %s not made: %s", message.author.id, error)
            return ""

    async def _paragraph(self, message: MessageReceived) -> str:
        now = self.clock()
        key = (message.platform, message.author.id, message.is_dm)
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        user_pk = await self.database.run(user_pk_of, message.platform, message.author.id)
        if user_pk is None:
            return ""
        lines = await self.database.run(
            lambda session: person_lines(session, user_pk, since=now - self.history, limit=200)
        )
        own = [
            line
            for line in lines
            if line.role == "user"
            and (message.is_dm or not line.is_dm)
            and line.message_id != message.message_id
        ]
        text = await trio.to_thread.run_sync(self._text, own, now) if own else ""
        if len(self._cache) >= self.max_people:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (now, text)
        return text

    @staticmethod
    def _text(own: list[PersonLine], now: dt.datetime) -> str:
        mood, topics = mood_and_topics(own, now)
        parts = []
        if own and now - own[-1].at >= LONG_GAP and mood:
            parts.append(f"They have been away a while; {mood}.")
        if topics:
            parts.append("Topics they keep coming back to: " + ", ".join(topics[:5]) + ".")
        return " ".join(parts)
