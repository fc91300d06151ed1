"""TreeWatch: what the overview may reuse between polls, because only lifecycle events change it.

An actor's or supervisor's state changes at its lifecycle events (started, crashed,
backing off, restarted, stopped, passivated, restored; a supervisor's escalation). So the
tree's counts by state, and which actors of a dynamic supervisor need attention, are
looked for again only once the tree reported an event, or once ``max_age`` seconds passed:
a start or a stop under way changes a state before its event, which comes at its end.
What is reused is which nodes to show; their snapshots are always taken afresh.

Watching costs the runtime one event object and one call per start, crash and stop (never
per message); unwatched (the endpoint not running), everything is looked for afresh.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ...actors import ActorRef, ActorSystem, LifecycleEvent
from ...supervisors import Census, SupervisorBase

__all__ = ["COUNT_SLICE", "Stamp", "TreeWatch"]

#: Children counted between two checkpoints when a census is taken.
COUNT_SLICE = 64

#: When something was looked for: the watch's generation then, and trio's clock.
Stamp = tuple[int, float]


class TreeWatch:
    """Counts a tree's lifecycle events, and keeps what was found while none happened.

    ``start`` registers it with the tree's system (the status endpoint does, while it runs).

    Args:
        max_age: seconds (trio's clock) anything found is reused for at most.

    Raises:
        ValueError: ``max_age`` is not positive.
    """

    def __init__(self, max_age: float = 1.0) -> None:
        if not max_age > 0:
            raise ValueError(f"max_age must be a positive number of seconds; got {max_age!r}")
        self.max_age = max_age
        self.generation = 0
        self._forget: Callable[[], None] | None = None
        self._census: Census | None = None
        self._census_stamp: Stamp | None = None
        self._attention: dict[str, list[ActorRef]] = {}
        self._attention_stamp: Stamp | None = None

    @property
    def watching(self) -> bool:
        return self._forget is not None

    def start(self, system: ActorSystem) -> None:
        """Observe ``system``'s lifecycle events (once; a second call changes nothing)."""
        if self._forget is None:
            self._forget = system.observe(self._seen)

    def stop(self) -> None:
        """Stop observing, and forget what was found."""
        if self._forget is not None:
            self._forget()
            self._forget = None
        self._census = self._census_stamp = self._attention_stamp = None
        self._attention = {}

    def _seen(self, event: LifecycleEvent) -> None:
        self.generation += 1

    def stamp(self) -> Stamp:
        """Now, for what is about to be looked for (taken before looking: an event during
        the look makes the next request look again)."""
        return self.generation, trio.current_time()

    def unchanged_since(self, stamp: Stamp | None) -> bool:
        """Whether no event happened since ``stamp``, which is younger than ``max_age``."""
        return (
            stamp is not None
            and self._forget is not None
            and stamp[0] == self.generation
            and trio.current_time() - stamp[1] < self.max_age
        )

    async def census(self, root: SupervisorBase) -> Census:
        """Counts of the whole tree by state: the last ones while nothing changed, else
        counted afresh with a checkpoint every ``COUNT_SLICE`` children."""
        if self._census is not None and self.unchanged_since(self._census_stamp):
            return self._census
        stamp = self.stamp()
        census = Census()
        for _ in root.count_into(census, COUNT_SLICE):
            await trio.lowlevel.checkpoint()
        self._census, self._census_stamp = census, stamp
        return census

    def attention(self) -> dict[str, list[ActorRef]] | None:
        """The actors needing attention found last, by their supervisor's path, while
        nothing changed since; else None (search again)."""
        return self._attention if self.unchanged_since(self._attention_stamp) else None

    def remember_attention(self, stamp: Stamp, found: dict[str, list[ActorRef]]) -> None:
        self._attention, self._attention_stamp = found, stamp
