"""ProactiveScheduler: wakes the people whose check is due, never all at once.

The schedule is the store's (``proactive_people.next_check_at``), so it outlives every
actor. On start the scheduler moves the checks a restart (or an outage) left overdue to
``now + stagger(person, spread)``: a deterministic offset per person, so 10,000 people who
were all due while Clara was down are checked over ``spread``, not in one burst. Then every
``tick`` seconds it asks the store for at most ``batch`` people due and tells each one's
actor ``Check`` (started, or restored from its snapshot, by the people's
DynamicSupervisor); and it delivers the proactive messages still open (a crash between
recording one and sending it, a platform that refused it).

A person whose actor is busy or whose mailbox is full is simply due again on the next tick:
the check writes the next ``next_check_at`` only once it is done.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from ...errors import ClaraError, StoreUnavailable
from ...proactive import stagger
from ...store import Database
from ...store._proactive import due_people, spread_overdue
from ...supervisors import DynamicSupervisor
from .. import Actor
from .delivery import Delivery
from .messages import Check, Tick

__all__ = ["ProactiveScheduler"]

logger = logging.getLogger(__name__)


class ProactiveScheduler(Actor):
    """See the module's docstring.

    Args:
        people: the DynamicSupervisor of person actors, keyed ``platform:user id``.
        database: where the schedule lives.
        delivery: delivers the open proactive messages each tick.
        clock: the wall clock (aware UTC).
        tick: seconds between two looks at the schedule.
        batch: people woken at most per tick.
        spread: how far a restart spreads the overdue checks.
        active_days: only people who wrote within this many days are checked (None: all).
    """

    def __init__(
        self,
        people: DynamicSupervisor,
        database: Database,
        delivery: Delivery,
        clock: Callable[[], dt.datetime],
        *,
        tick: float = 30.0,
        batch: int = 200,
        spread: dt.timedelta = dt.timedelta(minutes=30),
        active_days: int | None = 30,
    ) -> None:
        self.people = people
        self.database = database
        self.delivery = delivery
        self.clock = clock
        self.tick = tick
        self.batch = batch
        self.spread = spread
        self.active_days = active_days
        self.woken = 0
        self.skipped = 0
        self.spread_at_start = 0
        self.last_tick_at: dt.datetime | None = None
        self._resuming = False

    async def on_start(self) -> None:
        now = self.clock()
        try:
            self.spread_at_start = await self.database.write(
                spread_overdue, now, lambda key: stagger(key, self.spread)
            )
        except StoreUnavailable as error:
            logger.warning("proactive: overdue checks not spread: %s", error)
        if self.spread_at_start:
            logger.info(
                "proactive: %d overdue checks spread over %s", self.spread_at_start, self.spread
            )
        self.context.send_every(self.tick, Tick(), first=0.0)

    def describe(self) -> dict[str, Any] | None:
        return {
            "woken": self.woken,
            "skipped": self.skipped,
            "spread_at_start": self.spread_at_start,
            "delivered": self.delivery.delivered,
            "failed": self.delivery.failed,
            "expired": self.delivery.expired,
            "last_tick": self.last_tick_at.isoformat() if self.last_tick_at else None,
        }

    async def _resume(self) -> None:
        try:
            await self.delivery.resume()
        finally:
            self._resuming = False

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            await self._tick()
            return None
        raise TypeError(f"ProactiveScheduler does not handle {type(message).__name__}")

    async def _tick(self) -> None:
        now = self.clock()
        self.last_tick_at = now
        if not self._resuming:
            # Beside the tick: a post that hangs must not hold up anyone's check.
            self._resuming = True
            self.context.start_task(self._resume, name="proactive resume")
        try:
            since = (
                now - dt.timedelta(days=self.active_days) if self.active_days is not None else None
            )
            due = await self.database.run(due_people, now, self.batch, active_since=since)
        except StoreUnavailable as error:
            logger.warning("proactive: the schedule could not be read: %s", error)
            return
        for platform, user_id in due:
            key = f"{platform}:{user_id}"
            try:
                ref = await self.people.get_or_start(key)
                ref.tell_nowait(Check())
            except (ClaraError, RuntimeError) as error:
                self.skipped += 1
                logger.debug("proactive: %s not woken this tick: %s", key, error)
                continue
            self.woken += 1
