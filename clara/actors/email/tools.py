"""Keeping the mail tools' index of account owners fresh: the ``mail_tools`` child.

``MailToolbox.owners`` answers "has this person connected a mail account?" from memory (the
tools a reply may use are chosen without awaiting). This actor loads it at start and again
every ``every`` seconds, so an account added or removed elsewhere (another replica, the
database by hand) is seen within that time. A failed refresh (the store away) keeps the
previous answer and is tried again at the next tick: it never crashes the actor.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import trio

from ...supervisors import ChildSpec
from ...tools import MailToolbox
from .. import Actor

__all__ = ["MailOwnersRefresher", "mail_tools_child"]

logger = logging.getLogger(__name__)

#: Seconds between two loads of the owners index.
REFRESH_EVERY = 300.0


class MailOwnersRefresher(Actor):
    """Loads ``toolbox.owners`` now and every ``every`` seconds.

    Args:
        toolbox: the mail tools' shared parts.
        every: seconds between loads.
    """

    def __init__(self, toolbox: MailToolbox, every: float = REFRESH_EVERY) -> None:
        if not (isinstance(every, int | float) and math.isfinite(every) and every > 0):
            raise ValueError(f"every must be a positive number of seconds; got {every!r}")
        self.toolbox = toolbox
        self.every = float(every)
        self.refreshes = 0
        self.failures = 0

    async def on_start(self) -> None:
        self.context.start_task(self._loop, name="refresh")

    async def _loop(self) -> None:
        while True:
            try:
                await self.toolbox.owners.refresh()
                self.refreshes += 1
            except Exception as error:  # the store away: keep the last answer, retry later
                self.failures += 1
                logger.warning("mail tools: the owners index could not be loaded: %s", error)
            await trio.sleep(self.every)

    async def on_receive(self, message: Any) -> None:
        raise TypeError(f"MailOwnersRefresher takes no messages; got {type(message).__name__}")

    def describe(self) -> dict[str, Any]:
        return {
            "people_with_accounts": len(self.toolbox.owners),
            "refreshes": self.refreshes,
            "failures": self.failures,
        }


def mail_tools_child(toolbox: MailToolbox, every: float = REFRESH_EVERY) -> ChildSpec:
    """The ``mail_tools`` child for the root's children (with email enabled)."""
    return ChildSpec("mail_tools", lambda: MailOwnersRefresher(toolbox, every))
