"""Ask deadlines: one task per actor system expires asks, instead of a cancel scope per ask.

A trio cancel scope with a deadline costs about as much as the rest of an ask round trip, so
``ActorRef.ask`` registers its deadline here: a heap of (deadline, ask) served by one task
that sleeps until the earliest one and fails the asks still waiting with ``AskTimeout``.
Answered asks are left in the heap and skipped; the heap is rebuilt without them whenever
they outnumber the live ones, so it stays proportional to the asks in flight.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING

import outcome
import trio

from ..errors import AskTimeout

if TYPE_CHECKING:
    from ._cell import Ask

__all__ = ["AskDeadlines"]

#: Stale entries tolerated before the heap is rebuilt (on top of twice the live entries).
_SLACK = 1024


class AskDeadlines:
    """Expires asks at their deadline; ``serve`` must run for ``register`` to be used."""

    __slots__ = ("_heap", "_live", "_order", "_scope", "_wake_at")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Ask]] = []
        self._order = itertools.count()
        self._live = 0
        self._scope: trio.CancelScope | None = None
        self._wake_at = math.inf

    @property
    def serving(self) -> bool:
        return self._scope is not None

    def register(self, ask: Ask, deadline: float) -> None:
        """Fail ``ask`` with AskTimeout at ``deadline`` (trio time) unless it is settled first."""
        heap = self._heap
        heapq.heappush(heap, (deadline, next(self._order), ask))
        self._live += 1
        ask.deadlines = self
        if len(heap) > 2 * self._live + _SLACK:
            self._compact()
        if deadline < self._wake_at:
            self._wake_at = deadline
            scope = self._scope
            if scope is not None:
                scope.deadline = deadline

    def settled(self) -> None:
        """An ask registered here got its answer (called by the ask)."""
        self._live -= 1

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if entry[2].pending]
        heapq.heapify(self._heap)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Expire asks until cancelled (the root supervisor runs this in its nursery)."""
        task_status.started()
        try:
            while True:
                heap = self._heap
                now = trio.current_time()
                while heap and heap[0][0] <= now:
                    _, _, ask = heapq.heappop(heap)
                    if ask.pending:
                        ask.expire(outcome.Error(AskTimeout(ask.path, ask.timeout_text())))
                self._wake_at = heap[0][0] if heap else math.inf
                with trio.CancelScope(deadline=self._wake_at) as scope:
                    self._scope = scope
                    await trio.sleep_forever()
                self._scope = None
        finally:
            self._scope = None
            self._wake_at = math.inf
