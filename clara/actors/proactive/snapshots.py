"""The person actors' snapshots, kept in the store (the runtime has only the in-memory one).

A passivated person actor's state goes on their ``proactive_people`` row (``snapshot``, JSON)
and comes back when the actor is started again, in this process or the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

from ...errors import StoreUnavailable
from ...store import Database
from ...store._proactive import load_snapshot, save_snapshot

__all__ = ["StoreSnapshots"]

logger = logging.getLogger(__name__)


class StoreSnapshots:
    """A ``SnapshotStore`` over ``proactive_people.snapshot``; keys are ``platform:user id``.

    A store that is away loses the snapshot (logged), never the person: what the snapshot
    holds (mail hints) is a convenience, and the schedule is in the store already.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.saves = 0
        self.loads = 0

    async def save(self, key: Hashable, snapshot: Any) -> None:
        platform, _, user_id = str(key).partition(":")
        try:
            await self.database.write(save_snapshot, platform, user_id, snapshot)
        except StoreUnavailable as error:
            logger.warning("proactive %s: snapshot not kept: %s", key, error)
            return
        self.saves += 1

    async def load(self, key: Hashable) -> Any:
        platform, _, user_id = str(key).partition(":")
        try:
            snapshot = await self.database.run(load_snapshot, platform, user_id)
        except StoreUnavailable as error:
            logger.warning("proactive %s: snapshot not read: %s", key, error)
            return None
        self.loads += 1
        return snapshot
