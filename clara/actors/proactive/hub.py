"""ActivityHub: every message a person writes, on its way to their pattern; never in the way.

Channels hand each message over with ``offer`` (synchronous, never waits, never raises:
a conversation must not stall or crash for the proactive engine's sake). The hub keeps
them in a bounded buffer and writes them in one transaction every ``flush`` seconds
(``note_activity``: last seen, channel, active hours in the person's own time zone, a first
check for someone new, the link from a proactive message to its reply). A full buffer drops
the newest and counts it; a store that is away keeps the buffer for the next flush (up to
its bound).

Mail hints from email accounts take the same road (``offer_mail``) and are told to the
person's actor, started if need be, from the hub's own task.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from ...errors import ClaraError, StoreUnavailable
from ...proactive import stagger
from ...store import Database
from ...store._proactive import Activity, note_activity
from ...supervisors import DynamicSupervisor
from .. import Actor, ActorRef
from .context import MailHint
from .messages import MailArrived, Tick

__all__ = ["ActivityHub", "ActivitySink"]

logger = logging.getLogger(__name__)


class _Flush:
    """Timer: write what was gathered."""


class ActivitySink:
    """The synchronous hand-off channels and email accounts call; it never blocks or
    raises (a hub that is gone, full or not started yet costs a counted drop)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.buffer: deque[Activity] = deque()
        self.mail: deque[tuple[str, MailHint]] = deque()
        self.dropped = 0
        self.offered = 0
        self.written = 0
        """Activities the hub has written to the store (committed)."""

    def offer(self, activity: Activity) -> None:
        try:
            self.offered += 1
            if len(self.buffer) >= self.capacity:
                self.dropped += 1
                return
            self.buffer.append(activity)
        except Exception:  # never the sender's problem
            self.dropped += 1
            logger.exception("proactive: an activity could not be taken")

    def offer_mail(self, key: str, hint: MailHint) -> None:
        try:
            if len(self.mail) >= 1000:
                self.dropped += 1
                return
            self.mail.append((key, hint))
        except Exception:
            self.dropped += 1
            logger.exception("proactive: a mail hint could not be taken")


class ActivityHub(Actor):
    """Writes what the sink gathered; see the module's docstring.

    Args:
        sink: the buffer channels and accounts write into.
        database: where patterns live.
        people: the person actors (mail hints are told to them).
        clock: the wall clock (aware UTC).
        flush: seconds between two writes.
        first_check: how long after someone's first message their first check comes (their
            own stagger spreads it further within ``first_check``).
        reply_window: a message this soon after a proactive one answers it.
    """

    def __init__(
        self,
        sink: ActivitySink,
        database: Database,
        people: DynamicSupervisor,
        clock: Callable[[], dt.datetime],
        *,
        flush: float = 2.0,
        first_check: dt.timedelta = dt.timedelta(minutes=30),
        reply_window: dt.timedelta = dt.timedelta(hours=12),
        batch: int = 500,
    ) -> None:
        self.sink = sink
        self.database = database
        self.people = people
        self.clock = clock
        self.flush = flush
        self.first_check = first_check
        self.reply_window = reply_window
        self.batch = batch
        self.written = 0
        self.replies_linked = 0
        self.mail_told = 0

    async def on_start(self) -> None:
        self.context.send_every(self.flush, _Flush(), first=self.flush)

    async def on_stop(self) -> None:
        # What is gathered is written on the way out (within the stop's deadline).
        with trio.move_on_after(5.0):
            await self._write()

    def describe(self) -> dict[str, Any] | None:
        return {
            "waiting": len(self.sink.buffer),
            "written": self.written,
            "dropped": self.sink.dropped,
            "replies_linked": self.replies_linked,
            "mail_told": self.mail_told,
        }

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Flush | Tick):
            await self._write()
            await self._tell_mail()
            return None
        raise TypeError(f"ActivityHub does not handle {type(message).__name__}")

    async def _write(self) -> None:
        sink = self.sink
        while sink.buffer:
            batch = [sink.buffer.popleft() for _ in range(min(self.batch, len(sink.buffer)))]
            now = self.clock()

            try:
                linked: int = await self.database.write(
                    note_activity,
                    batch,
                    first_check=functools.partial(self._first_check, now),
                    reply_window=self.reply_window,
                )
            except StoreUnavailable as error:
                sink.buffer.extendleft(reversed(batch))  # kept for the next flush
                logger.warning("proactive: %d activities wait for the store: %s", len(batch), error)
                return
            self.written += len(batch)
            sink.written += len(batch)
            self.replies_linked += linked

    def _first_check(self, now: dt.datetime, key: str) -> dt.datetime:
        """Someone's first check: ``first_check`` after now, plus their own stagger."""
        return now + self.first_check + stagger(key, self.first_check)

    async def _tell_mail(self) -> None:
        while self.sink.mail:
            key, hint = self.sink.mail.popleft()
            try:
                ref: ActorRef = await self.people.get_or_start(key)
                ref.tell_nowait(MailArrived(hint=hint))
            except (ClaraError, RuntimeError) as error:
                logger.info("proactive: mail for %s not told: %s", key, error)
                continue
            self.mail_told += 1
