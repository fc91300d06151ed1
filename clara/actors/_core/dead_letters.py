"""Dead letters: a bounded record of every message that was not handled, and why."""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from typing import Any

import msgspec
import trio

__all__ = ["DeadLetter", "DeadLetterReason", "DeadLetterStatistics", "DeadLetters"]

logger = logging.getLogger(__name__)


class DeadLetterReason(enum.Enum):
    """Why a message became a dead letter."""

    #: The mailbox was full and its policy is REJECT (or an ask was refused for lack of room).
    REJECTED = "rejected"
    #: DROP_OLDEST evicted it to make room for a newer message.
    DROPPED_OLDEST = "dropped_oldest"
    #: DROP_NEWEST refused it because the mailbox was full.
    DROPPED_NEWEST = "dropped_newest"
    #: It was sent to a stopped actor, or was still queued when the actor stopped.
    ACTOR_STOPPED = "actor_stopped"
    #: Its handler raised: the poison-message rule dead-letters it instead of retrying it.
    CRASHED = "crashed"
    #: The actor sent it to itself (a timer tick, ``tell_self``) and its control lane was full.
    CONTROL_LANE_FULL = "control_lane_full"


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One message that was not handled.

    ``message`` is the message object itself, for tests and debugging; views meant for
    operators (the status endpoint, logs above DEBUG) show only ``message_type``, since
    messages may carry what users wrote.
    """

    recipient: str
    message_type: str
    reason: DeadLetterReason
    at: float
    """trio's clock (virtual under MockClock) when it was recorded."""
    wall_time: float
    """``time.time()`` when it was recorded, for humans."""
    error: str | None = None
    """``"Type: text"`` of the crash, for ``CRASHED``."""
    message: Any = None


class DeadLetterStatistics(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    by_reason: dict[str, int]
    retained: int
    capacity: int


class DeadLetters:
    """The dead-letter office of one actor system: the last ``capacity`` letters and counters.

    One per ``ActorSystem``, passed down the tree (never a module-level singleton).

    Args:
        capacity: how many recent letters to keep (the counters count all of them).
    """

    __slots__ = ("_by_reason", "_letters", "_total")

    def __init__(self, capacity: int = 1000) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"dead letters capacity must be a positive int; got {capacity!r}")
        self._letters: deque[DeadLetter] = deque(maxlen=capacity)
        self._by_reason: dict[DeadLetterReason, int] = dict.fromkeys(DeadLetterReason, 0)
        self._total = 0

    def record(
        self,
        recipient: str,
        message: object,
        reason: DeadLetterReason,
        error: BaseException | None = None,
    ) -> DeadLetter:
        """Record one dead letter and return it."""
        try:
            now = trio.current_time()
        except RuntimeError:  # outside trio.run (a sync test, a shutdown hook)
            now = time.monotonic()
        letter = DeadLetter(
            recipient=recipient,
            message_type=type(message).__name__,
            reason=reason,
            at=now,
            wall_time=time.time(),
            error=None if error is None else f"{type(error).__name__}: {error}",
            message=message,
        )
        self._letters.append(letter)
        self._by_reason[reason] += 1
        self._total += 1
        # Content only at DEBUG: messages may carry what users wrote.
        logger.debug(
            "dead letter to %s (%s): %s %r", recipient, reason.value, letter.message_type, message
        )
        return letter

    def letters(self, recipient_prefix: str = "") -> list[DeadLetter]:
        """The retained letters, oldest first, optionally only for paths under a prefix."""
        if not recipient_prefix:
            return list(self._letters)
        return [item for item in self._letters if item.recipient.startswith(recipient_prefix)]

    def count(self, reason: DeadLetterReason | None = None) -> int:
        return self._total if reason is None else self._by_reason[reason]

    def statistics(self) -> DeadLetterStatistics:
        return DeadLetterStatistics(
            total=self._total,
            by_reason={reason.value: count for reason, count in self._by_reason.items()},
            retained=len(self._letters),
            capacity=self._letters.maxlen or 0,
        )
