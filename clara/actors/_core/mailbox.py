"""The bounded mailbox: a FIFO with a capacity and an overflow policy, and a control lane.

Two lanes, both bounded:

- the **ordinary** lane holds what others send (``tell``, ``ask``); when it is full, the
  overflow policy decides (wait, reject, drop);
- the **control** lane holds what the actor sends itself: timer ticks and
  ``context.tell_self`` (its background tasks reporting back). It is handled first, is never
  subject to the overflow policy, and has a small bound of its own (``control_capacity``,
  default 64); a message that finds it full is dead-lettered (``control_lane_full``), never
  raised. Akka's control-aware mailboxes have the same shape.

Both lanes are made on first use: an idle actor that never got a message holds neither (a
control lane given a bound other than the default is made with the mailbox).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import Any

import msgspec
import trio

__all__ = ["DEFAULT_CONTROL_CAPACITY", "Mailbox", "MailboxStatistics", "Overflow"]

#: The bound of a control lane when none is given: what an actor may have sent itself and
#: not handled yet (timer ticks, its tasks' reports).
DEFAULT_CONTROL_CAPACITY = 64


class Overflow(enum.Enum):
    """What a full mailbox does with one more message from outside (the control lane, where
    an actor's own messages go, is never subject to it).

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
    """Ordinary messages waiting (what ``capacity`` bounds)."""
    capacity: int
    peak: int
    overflow: str
    waiting_senders: int
    control_depth: int = 0
    """Messages the actor sent itself (timer ticks, ``tell_self``) waiting in its control lane."""
    control_capacity: int = DEFAULT_CONTROL_CAPACITY


class Mailbox:
    """A bounded FIFO of messages for one actor, and its control lane; it outlives the actor's
    incarnations.

    The mailbox does no scheduling of its own: the actor cell decides what to do on overflow
    (dead-letter, raise, wait) and wakes senders parked on ``space_available``. ``len()``
    counts both lanes (everything waiting for the actor); ``capacity`` and ``is_full`` are
    about the ordinary lane only.

    Args:
        capacity: the most ordinary messages it holds; a positive, finite int.
        overflow: what to do when the ordinary lane is full; an ``Overflow``.
        control_capacity: the most messages the control lane holds (default 64).

    Raises:
        ValueError: a capacity is not a positive finite int, or overflow is not an
            ``Overflow``.
    """

    __slots__ = ("_control", "_queue", "_space_available", "capacity", "overflow", "peak")

    def __init__(
        self,
        capacity: int,
        overflow: Overflow = Overflow.BACKPRESSURE,
        control_capacity: int = DEFAULT_CONTROL_CAPACITY,
    ) -> None:
        self.capacity = validate_capacity(capacity)
        if not isinstance(overflow, Overflow):
            allowed = ", ".join(policy.name for policy in Overflow)
            raise ValueError(f"mailbox overflow must be an Overflow ({allowed}); got {overflow!r}")
        self.overflow = overflow
        # Created on first use: an idle actor that never got a message costs no deque (760 B).
        self._queue: deque[Any] | None = None
        # The control lane, a deque whose maxlen is its bound. Made on first use with the
        # default bound; a mailbox given another bound makes it now, so that every idle
        # actor does not pay a slot for a number almost none of them changes.
        self._control: deque[Any] | None = None
        if control_capacity != DEFAULT_CONTROL_CAPACITY:
            bound = validate_capacity(control_capacity, "control_capacity")
            self._control = deque(maxlen=bound)
        self.peak = 0
        # Senders waiting for room under BACKPRESSURE; created on first wait, like the queue.
        self._space_available: trio.lowlevel.ParkingLot | None = None

    @property
    def queue(self) -> deque[Any]:
        """The ordinary lane's deque (created on first use)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        return queue

    @property
    def control(self) -> deque[Any]:
        """The control lane's deque (created on first use); its ``maxlen`` is its bound.

        Never append to it past ``maxlen``: a deque would silently drop its oldest message.
        """
        control = self._control
        if control is None:
            control = self._control = deque(maxlen=DEFAULT_CONTROL_CAPACITY)
        return control

    @property
    def control_capacity(self) -> int:
        control = self._control
        if control is None or control.maxlen is None:
            return DEFAULT_CONTROL_CAPACITY
        return control.maxlen

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
        """Messages waiting in both lanes."""
        queue = self._queue
        depth = 0 if queue is None else len(queue)
        control = self._control
        return depth if control is None else depth + len(control)

    def depth(self) -> int:
        """Ordinary messages waiting (the lane ``capacity`` bounds)."""
        queue = self._queue
        return 0 if queue is None else len(queue)

    def control_depth(self) -> int:
        """Messages waiting in the control lane."""
        control = self._control
        return 0 if control is None else len(control)

    def is_full(self) -> bool:
        """The ordinary lane holds ``capacity`` messages (the control lane does not count)."""
        return self.depth() >= self.capacity

    def drain(self) -> list[Any]:
        """Remove and return every queued message: the control lane's first, each oldest first."""
        items: list[Any] = []
        for lane in (self._control, self._queue):
            if lane:
                items.extend(lane)
                lane.clear()
        return items

    def statistics(self) -> MailboxStatistics:
        return MailboxStatistics(
            depth=self.depth(),
            capacity=self.capacity,
            peak=self.peak,
            overflow=self.overflow.value,
            waiting_senders=self.waiting_senders(),
            control_depth=self.control_depth(),
            control_capacity=self.control_capacity,
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
