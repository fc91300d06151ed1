"""The scheduler: one task per actor system fires ask deadlines and actor timers.

A trio cancel scope with a deadline costs about as much as the rest of an ask round trip, and
a task per timer costs memory an idle actor should not pay. So both register here instead:
a heap of (time, entry) served by one task, in the root supervisor's nursery, that sleeps
until the earliest entry and fires the ones still pending. Entries settled early (an answered
ask, a cancelled timer) are skipped when they come up; the heap is rebuilt without them
whenever they outnumber the live ones, so it stays proportional to what is pending.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Protocol

import trio

__all__ = ["Scheduled", "Scheduler"]

#: Stale entries tolerated before the heap is rebuilt (on top of twice the live entries).
_SLACK = 1024


class Scheduled(Protocol):
    """Something the scheduler fires at a time: an ask's deadline, an actor's timer."""

    @property
    def pending(self) -> bool:
        """False once settled: it will not be fired."""
        ...

    def fire(self, scheduler: Scheduler, now: float) -> None:
        """Its time has come (it is still pending)."""
        ...


class Scheduler:
    """Fires scheduled entries at their time; ``serve`` must run for ``schedule`` to be used."""

    __slots__ = ("_heap", "_live", "_order", "_scope", "_wake_at")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Scheduled]] = []
        self._order = itertools.count()
        self._live = 0
        self._scope: trio.CancelScope | None = None
        self._wake_at = math.inf

    @property
    def serving(self) -> bool:
        return self._scope is not None

    @property
    def live(self) -> int:
        """Entries scheduled and not settled yet."""
        return self._live

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, entry: Scheduled, at: float, *, new: bool = True) -> None:
        """Fire ``entry`` at ``at`` (trio time) unless it is settled first.

        ``new=False`` re-arms an entry already counted as live (a periodic timer).
        """
        heap = self._heap
        heapq.heappush(heap, (at, next(self._order), entry))
        if new:
            self._live += 1
        if len(heap) > 2 * self._live + _SLACK:
            self._heap = [item for item in heap if item[2].pending]
            heapq.heapify(self._heap)
        if at < self._wake_at:
            self._wake_at = at
            scope = self._scope
            if scope is not None:
                scope.deadline = at

    def settled(self) -> None:
        """An entry scheduled here will not need firing any more (called by the entry)."""
        self._live -= 1

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire entries until cancelled (the root supervisor runs this in its nursery)."""
        task_status.started()
        try:
            while True:
                now = trio.current_time()
                while self._heap and self._heap[0][0] <= now:
                    _, _, entry = heapq.heappop(self._heap)
                    if entry.pending:
                        entry.fire(self, now)
                heap = self._heap
                self._wake_at = heap[0][0] if heap else math.inf
                with trio.CancelScope(deadline=self._wake_at) as scope:
                    self._scope = scope
                    await trio.sleep_forever()
                self._scope = None
        finally:
            self._scope = None
            self._wake_at = math.inf
