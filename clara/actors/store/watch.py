"""StoreWatch: asks the database a trivial question now and then, so that readiness says
when the store is down even when nobody is talking, and says it is back as soon as it is.

Every unit of work and every write already tells ``Database.health`` how it went; the
watch fills the silences: every ``interval`` seconds while the store answers, every
``interval_down`` while it does not. Its ``describe()`` is what ``/status`` shows of the
store (up, since when it is down and why, how many outages).
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from sqlalchemy import text
from sqlalchemy.orm import Session

from ...errors import StoreUnavailable
from ...health import Readiness
from ...store import Database
from ...supervisors import ChildSpec
from .. import Actor

__all__ = ["StoreWatch", "store_subsystem"]

logger = logging.getLogger(__name__)


class _Probe:
    """Time to ask the database again."""


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


class StoreWatch(Actor):
    """Probes ``database`` and logs each outage once, when it starts and when it ends.

    Args:
        database: the store.
        interval: seconds between probes while the store answers.
        interval_down: seconds between probes while it does not.
        timeout: a probe that takes longer counts as the store not answering.
    """

    def __init__(
        self,
        database: Database,
        *,
        interval: float = 5.0,
        interval_down: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self.database = database
        self.interval = interval
        self.interval_down = interval_down
        self.timeout = timeout
        self.probes = 0
        self._was_up = True

    async def on_start(self) -> None:
        self.context.tell_self(_Probe())

    async def on_receive(self, message: Any) -> Any:
        if not isinstance(message, _Probe):
            raise TypeError(f"StoreWatch does not handle {type(message).__name__}")
        self.context.start_task(self._probe, name="probe")
        return None

    async def _probe(self) -> None:
        self.probes += 1
        health = self.database.health
        with trio.move_on_after(self.timeout) as waited:
            try:
                await self.database.run(_ping)
            except Exception as error:  # reported through the health, whatever it was
                health.failed(error)
        if waited.cancelled_caught:
            health.failed(StoreUnavailable(f"the database did not answer within {self.timeout:g}s"))
        up = health.up
        if up != self._was_up:
            if up:
                logger.warning("store: the database answers again")
            else:
                logger.warning("store: %s", health.problem())
            self._was_up = up
        self.context.send_after(self.interval if up else self.interval_down, _Probe())

    def describe(self) -> dict[str, Any] | None:
        return {**self.database.health.describe(), "probes": self.probes}


def store_subsystem(database: Database, readiness: Readiness) -> ChildSpec:
    """The watch's spec; ``/readyz`` reports ``store`` while the database does not answer."""
    readiness.register("store", database.health.problem)
    return ChildSpec("store", lambda: StoreWatch(database))
