"""Frozen snapshots that ``statistics()`` returns, and the states they report."""

from __future__ import annotations

import enum
import time
import traceback

import msgspec
import trio

from ._mailbox import MailboxStatistics

__all__ = [
    "ActorState",
    "ActorStatistics",
    "BackoffSnapshot",
    "FailureInfo",
    "failure_info",
]

#: How much of a traceback a FailureInfo keeps (the tail, where the error is).
TRACEBACK_LIMIT = 4000


class ActorState(enum.Enum):
    """The life cycle of an actor (and, with the same names, of a supervisor)."""

    STARTING = "starting"
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    """Crashed; its supervisor will start a new incarnation when the backoff delay ends."""
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    """Crashed and will not be restarted (temporary child, or its supervisor gave up)."""
    PASSIVATED = "passivated"
    """Stopped for being idle by a DynamicSupervisor; the next message starts it again."""


class FailureInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The last crash of an actor or supervisor."""

    type: str
    message: str
    at: float
    """trio's clock when it happened (virtual under MockClock)."""
    wall_time: float
    traceback: str
    """The formatted traceback, its last ``TRACEBACK_LIMIT`` characters."""


class BackoffSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Where a child is in its restart backoff."""

    attempt: int
    """Restarts since the child was last stable (0: not backing off)."""
    delay: float
    """The delay chosen before the current (or last) restart, in seconds."""
    next_start_at: float | None
    """trio's clock time of the pending restart, or None when none is pending."""


class ActorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor, as the status endpoint shows it."""

    path: str
    kind: str
    """The actor's class name."""
    state: ActorState
    mailbox: MailboxStatistics
    processed: int
    failed: int
    dropped: int
    """Messages this actor's mailbox dead-lettered on overflow or at stop."""
    restarts: int
    last_failure: FailureInfo | None
    backoff: BackoffSnapshot | None


def now() -> float:
    """trio's clock inside trio.run, the monotonic clock outside it."""
    try:
        return trio.current_time()
    except RuntimeError:
        return time.monotonic()


def failure_info(error: BaseException) -> FailureInfo:
    """Describe ``error`` for statistics (the traceback is truncated to its tail)."""
    text = "".join(traceback.format_exception(error))
    if len(text) > TRACEBACK_LIMIT:
        text = "..." + text[-TRACEBACK_LIMIT:]
    return FailureInfo(
        type=type(error).__name__,
        message=str(error),
        at=now(),
        wall_time=time.time(),
        traceback=text,
    )
