"""Frozen snapshots that ``statistics()`` returns, and the states they report."""

from __future__ import annotations

import enum
import time
import traceback
from typing import Any

import msgspec
import trio

from .mailbox import MailboxStatistics

__all__ = [
    "ActorState",
    "ActorStatistics",
    "BackoffSnapshot",
    "Failure",
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


class FailureInfo(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The last crash of an actor or supervisor."""

    type: str
    message: str
    at: float
    """trio's clock when it happened (virtual under MockClock)."""
    wall_time: float
    traceback: str
    """The formatted traceback, its last ``TRACEBACK_LIMIT`` characters."""


class BackoffSnapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where a child is in its restart backoff."""

    attempt: int
    """Restarts since the child was last stable (0: not backing off)."""
    delay: float
    """The delay chosen before the current (or last) restart, in seconds."""
    next_start_at: float | None
    """trio's clock time of the pending restart, or None when none is pending."""
    next_start_in: float | None = None
    """Seconds from the snapshot to the pending restart (never negative), or None."""

    def at(self, now: float) -> BackoffSnapshot:
        """This snapshot with ``next_start_in`` as seen at ``now``."""
        if self.next_start_at is None:
            return self
        return msgspec.structs.replace(
            self, next_start_in=max(0.0, round(self.next_start_at - now, 6))
        )


# gc=False: snapshots hold only numbers, strings and other snapshots, so they cannot form
# cycles; untracked, thousands of them per status poll do not wake the garbage collector.
class ActorStatistics(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="actor", tag_field="type"
):
    """A snapshot of one actor, as the status endpoint shows it (``"type": "actor"``)."""

    path: str
    kind: str
    """The actor's class name."""
    state: ActorState
    mailbox: MailboxStatistics
    processed: int
    failed: int
    dropped: int
    """Messages this actor's mailbox dead-lettered on overflow or at stop."""
    dead_letters: int
    """Dead letters addressed to this actor, for any reason (dropped, crashed, stopped)."""
    restarts: int
    last_failure: FailureInfo | None
    backoff: BackoffSnapshot | None
    details: Any = None
    """What the actor's ``describe()`` adds (e.g. an LLM gateway's providers), or null."""


def now() -> float:
    """trio's clock inside trio.run, the monotonic clock outside it."""
    try:
        return trio.current_time()
    except RuntimeError:
        return time.monotonic()


class Failure:
    """A crash, remembered cheaply: its traceback is formatted only when someone looks.

    Formatting a traceback costs more than the rest of a restart, so the error is kept as is
    and turned into a ``FailureInfo`` (then dropped, releasing its frames) on first ``info()``.
    """

    __slots__ = ("_error", "_info", "at", "wall_time")

    def __init__(self, error: BaseException) -> None:
        self._error: BaseException | None = error
        self._info: FailureInfo | None = None
        self.at = now()
        self.wall_time = time.time()

    def info(self) -> FailureInfo:
        info = self._info
        if info is None:
            error = self._error
            assert error is not None
            text = "".join(traceback.format_exception(error))
            if len(text) > TRACEBACK_LIMIT:
                text = "..." + text[-TRACEBACK_LIMIT:]
            info = self._info = FailureInfo(
                type=type(error).__name__,
                message=str(error),
                at=self.at,
                wall_time=self.wall_time,
                traceback=text,
            )
            self._error = None
        return info


def failure_info(error: BaseException) -> FailureInfo:
    """Describe ``error`` for statistics now (the traceback is truncated to its tail)."""
    return Failure(error).info()
