"""What a check reads beyond the store: a person's calendar feed, and the mood of their words.

``CalendarSource`` fetches a person's iCalendar feed (its URL decrypted only here, never
logged) at most every ``every`` and keeps the parsed events of the window around now (two
hours back, a day ahead) in memory; a feed that fails is recorded on the person's row
(``calendar_error``, the host only) and tried again after ``every``.

``mood_and_topics`` scores the person's own recent messages (VADER), describes the arc of
their last conversation after a silence, and names topics they came back to at least twice
in 14 days. Blocking (the libraries are synchronous): run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence

import httpx
import trio

from ...errors import ClaraError, StoreUnavailable
from ...store import Database
from ...store._proactive import PersonLine, PersonState, calendar_url_of, note_calendar
from ...store._secrets import SecretBox
from .context import UpcomingEvent

__all__ = ["CalendarSource", "mood_and_topics"]

logger = logging.getLogger(__name__)

_BEHIND = dt.timedelta(hours=2)
_AHEAD = dt.timedelta(hours=24)


class CalendarSource:
    """``await source(person, now)``: the person's events from two hours ago to a day ahead."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        http: httpx.AsyncClient,
        *,
        every: dt.timedelta = dt.timedelta(hours=1),
        max_bytes: int = 2_000_000,
        timeout: float = 15.0,
    ) -> None:
        self.database = database
        self.box = box
        self.http = http
        self.every = every
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._cache: dict[int, tuple[dt.datetime, list[UpcomingEvent]]] = {}
        self.fetches = 0
        self.failures = 0

    async def __call__(self, person: PersonState, now: dt.datetime) -> list[UpcomingEvent]:
        cached = self._cache.get(person.user_pk)
        if cached is not None and now - cached[0] < self.every:
            return [event for event in cached[1] if event.end >= now - _BEHIND]
        events = await self._fetch(person, now)
        self._cache[person.user_pk] = (now, events)
        return events

    def forget(self, user_pk: int) -> None:
        """Drop what is cached for a person (their feed changed)."""
        self._cache.pop(user_pk, None)

    async def _fetch(self, person: PersonState, now: dt.datetime) -> list[UpcomingEvent]:
        from ...proactive.calendar import events_between, fetch_feed  # noqa: PLC0415 - heavy
        from ...proactive.zones import zone  # noqa: PLC0415

        try:
            sealed = await self.database.run(calendar_url_of, person.user_pk)
        except StoreUnavailable as error:
            logger.warning("proactive: calendar of %s not read: %s", person.user_id, error)
            return []
        if sealed is None:
            return []
        error_text: str | None = None
        events: list[UpcomingEvent] = []
        try:
            url = self.box.decrypt(sealed, "a calendar feed URL")
            data = await fetch_feed(self.http, url, max_bytes=self.max_bytes, timeout=self.timeout)
            try:
                person_zone = zone(person.time_zone)
            except ValueError:
                person_zone = zone("UTC")
            found = await trio.to_thread.run_sync(
                lambda: events_between(data, now - _BEHIND, now + _AHEAD, zone=person_zone)
            )
            events = [
                UpcomingEvent(
                    summary=event.summary, start=event.start, end=event.end, all_day=event.all_day
                )
                for event in found
            ]
            self.fetches += 1
        except ClaraError as error:
            self.failures += 1
            error_text = str(error)[:300]
            logger.info("proactive: calendar of %s not fetched: %s", person.user_id, error_text)
        with contextlib.suppress(StoreUnavailable):
            await self.database.write(note_calendar, person.user_pk, now, error_text)
        return events


def mood_and_topics(lines: Sequence[PersonLine], now: dt.datetime) -> tuple[str, list[str]]:
    """(one line on the arc of the person's last conversation, their recurring topics)."""
    from ...proactive.mood import (  # noqa: PLC0415 - VADER and YAKE load on first use
        arc,
        describe,
        last_conversation,
        sentiment,
        topics,
    )

    own = [line for line in lines if line.role == "user"]
    if not own:
        return "", []
    scores = [(line.at, sentiment(line.content)) for line in own]
    conversation = last_conversation(scores)
    mood = describe(arc(conversation), now=now) if conversation else ""
    found = topics([(line.at, line.content) for line in own], now)
    return mood, [topic.text for topic in found]


MoodFunction = Callable[[Sequence[PersonLine], dt.datetime], tuple[str, list[str]]]
