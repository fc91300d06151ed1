"""Timers: a message an actor sends itself later, once or every so often."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .scheduler import Scheduler


class _Target(Protocol):
    """The actor side of a timer (an ActorCell)."""

    @property
    def incarnation(self) -> int: ...

    def alive(self) -> bool: ...

    def deliver_tick(self, message: Any) -> None: ...


__all__ = ["Timer"]


class Timer:
    """A message an actor will get later; made by ``context.send_after`` / ``send_every``.

    A timer belongs to the incarnation that made it: a crash, a restart, a stop or a
    passivation cancels it (a new incarnation sets up its own timers in ``on_start``). A tick
    goes to the actor's control lane (handled before ordinary messages, never subject to the
    mailbox's overflow policy); if the lane is full the tick is dead-lettered
    (``control_lane_full``), never waited for. Periodic timers run at a fixed rate from the
    first tick and do not pile up missed ticks beyond what the lane holds.
    """

    __slots__ = ("_cell", "_incarnation", "_scheduler", "done", "interval", "message", "ticks")

    def __init__(
        self,
        cell: _Target,
        incarnation: int,
        scheduler: Scheduler,
        message: Any,
        interval: float | None,
    ) -> None:
        self._cell = cell
        self._incarnation = incarnation
        self._scheduler = scheduler
        self.message = message
        self.interval = interval
        self.ticks = 0
        self.done = False

    @property
    def pending(self) -> bool:
        return not self.done

    @property
    def active(self) -> bool:
        """Still going to deliver: not cancelled, not fired (one-shot), incarnation alive."""
        return not self.done and self._cell.incarnation == self._incarnation

    def cancel(self) -> None:
        """Stop the timer; idempotent. A tick already in the control lane stays there."""
        if not self.done:
            self.done = True
            self._scheduler.settled()

    def fire(self, scheduler: Scheduler, now: float) -> None:
        cell = self._cell
        if cell.incarnation != self._incarnation or not cell.alive():
            self.cancel()
            return
        self.ticks += 1
        cell.deliver_tick(self.message)
        if self.interval is None:
            self.cancel()
        else:
            scheduler.schedule(self, now + self.interval, new=False)
