"""The bounded mailbox: a FIFO with a capacity and an overflow policy."""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import Any

import msgspec
import trio

__all__ = ["Mailbox", "MailboxStatistics", "Overflow"]


class Overflow(enum.Enum):
    """What a full mailbox does with one more message.

    ``BACKPRESSURE``: the sender waits for room (``tell_nowait`` raises ``MailboxFull``).
    ``REJECT``: the sender gets ``MailboxFull`` at once; the message is dead-lettered.
    ``DROP_OLDEST``: the oldest queued message is dead-lettered to make room.
    ``DROP_NEWEST``: the new message is dead-lettered; the queue is unchanged.
    """

    BACKPRESSURE = "backpressure"
    REJECT = "reject"
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"


class MailboxStatistics(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A snapshot of one mailbox."""

    depth: int
    capacity: int
    peak: int
    overflow: str
    waiting_senders: int


class Mailbox:
    """A bounded FIFO of messages for one actor; it outlives the actor's incarnations.

    The mailbox does no scheduling of its own: the actor cell decides what to do on overflow
    (dead-letter, raise, wait) and wakes senders parked on ``space_available``.

    Args:
        capacity: the most messages it holds; a positive, finite int.
        overflow: what to do when full; an ``Overflow``.

    Raises:
        ValueError: capacity is not a positive finite int, or overflow is not an ``Overflow``.
    """

    __slots__ = ("_queue", "_space_available", "capacity", "overflow", "peak")

    def __init__(self, capacity: int, overflow: Overflow = Overflow.BACKPRESSURE) -> None:
        self.capacity = validate_capacity(capacity)
        if not isinstance(overflow, Overflow):
            allowed = ", ".join(policy.name for policy in Overflow)
            raise ValueError(f"mailbox overflow must be an Overflow ({allowed}); got {overflow!r}")
        self.overflow = overflow
        # Created on first use: an idle actor that never got a message costs no deque (760 B).
        self._queue: deque[Any] | None = None
        self.peak = 0
        # Senders waiting for room under BACKPRESSURE; created on first wait, like the queue.
        self._space_available: trio.lowlevel.ParkingLot | None = None

    @property
    def queue(self) -> deque[Any]:
        """The underlying deque (created on first use)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        return queue

    @property
    def space_available(self) -> trio.lowlevel.ParkingLot:
        """Where senders park while the mailbox is full (created on first use)."""
        lot = self._space_available
        if lot is None:
            lot = self._space_available = trio.lowlevel.ParkingLot()
        return lot

    def waiting_senders(self) -> int:
        lot = self._space_available
        return 0 if lot is None else len(lot)

    def wake_one_sender(self) -> None:
        """Let one sender parked on a full mailbox try again (called after a message left)."""
        lot = self._space_available
        if lot:
            lot.unpark()

    def wake_all_senders(self) -> None:
        lot = self._space_available
        if lot:
            lot.unpark_all()

    def __len__(self) -> int:
        queue = self._queue
        return 0 if queue is None else len(queue)

    def is_full(self) -> bool:
        return len(self) >= self.capacity

    def drain(self) -> list[Any]:
        """Remove and return every queued message, oldest first."""
        queue = self._queue
        if not queue:
            return []
        items = list(queue)
        queue.clear()
        return items

    def statistics(self) -> MailboxStatistics:
        return MailboxStatistics(
            depth=len(self),
            capacity=self.capacity,
            peak=self.peak,
            overflow=self.overflow.value,
            waiting_senders=self.waiting_senders(),
        )


def validate_capacity(capacity: object, field: str = "capacity") -> int:
    """Return ``capacity`` if it is a positive finite int, else raise ``ValueError`` naming it."""
    if isinstance(capacity, bool) or not isinstance(capacity, int | float):
        raise ValueError(f"mailbox {field} must be a positive int; got {capacity!r}")
    if isinstance(capacity, float):
        if math.isinf(capacity) or math.isnan(capacity):
            raise ValueError(
                f"mailbox {field} must be finite: every mailbox is bounded; got {capacity!r}"
            )
        if not capacity.is_integer():
            raise ValueError(f"mailbox {field} must be a positive int; got {capacity!r}")
        capacity = int(capacity)
    if capacity <= 0:
        raise ValueError(f"mailbox {field} must be at least 1; got {capacity!r}")
    return capacity
