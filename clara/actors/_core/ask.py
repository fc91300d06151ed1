"""Ask: a message that wants a reply, and the caller waiting for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import outcome
import trio

from ...errors import AskTimeout

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["Ask", "DeferredReply"]


class Ask:
    """A message that wants a reply, and the task waiting for it.

    It is *pending* until exactly one of: a reply or failure settles it, its deadline fires
    (the system's ``Scheduler``), or its caller is cancelled and abandons it.
    """

    __slots__ = (
        "abandoned",
        "deferred",
        "message",
        "path",
        "result",
        "scheduler",
        "task",
        "timeout",
    )

    def __init__(self, message: Any) -> None:
        self.message = message
        self.task: trio.lowlevel.Task | None = None
        self.result: outcome.Outcome[Any] | None = None
        self.abandoned = False
        self.deferred = False
        self.scheduler: Scheduler | None = None
        self.path = ""
        self.timeout = 0.0

    @property
    def pending(self) -> bool:
        return self.result is None and not self.abandoned

    def reply(self, value: Any) -> None:
        self._settle(outcome.Value(value))

    def fail(self, error: BaseException) -> None:
        self._settle(outcome.Error(error))

    def _settle(self, result: outcome.Outcome[Any]) -> None:
        if self.result is not None or self.abandoned:
            return
        self.result = result
        self._release()
        task = self.task
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task, result)

    def fire(self, scheduler: Scheduler, now: float) -> None:
        """The deadline passed: wake the caller with ``AskTimeout``."""
        if not self.pending:
            return
        self.abandoned = True
        self._release()
        task = self.task
        self.task = None
        if task is not None:
            error = AskTimeout(self.path, self.timeout_text())
            trio.lowlevel.reschedule(task, outcome.Error(error))

    def abort(self, _: Any) -> trio.lowlevel.Abort:
        """The caller was cancelled while waiting: the reply, if any, is discarded."""
        self.task = None
        if self.pending:
            self.abandoned = True
            self._release()
        return trio.lowlevel.Abort.SUCCEEDED

    def timeout_text(self) -> str:
        return f"no reply to {type(self.message).__name__} within {self.timeout:g}s"

    def _release(self) -> None:
        scheduler = self.scheduler
        if scheduler is not None:
            self.scheduler = None
            scheduler.settled()


class DeferredReply:
    """The reply to an ask, to be given later: what ``context.defer()`` returns.

    Return it from ``on_receive`` (or anything else: the value is ignored once deferred),
    hand it to a background task, and call ``reply`` or ``fail`` exactly once. If the
    incarnation ends first, the asker gets ``ActorDeadError``.
    """

    __slots__ = ("_ask", "_on_settled", "_pending")

    def __init__(
        self, ask: Ask, pending: set[Ask], on_settled: Callable[[], None] | None = None
    ) -> None:
        self._ask = ask
        self._pending = pending
        self._on_settled = on_settled
        pending.add(ask)

    @property
    def done(self) -> bool:
        return not self._ask.pending

    def reply(self, value: Any) -> None:
        self._pending.discard(self._ask)
        self._ask.reply(value)
        self._settled()

    def fail(self, error: BaseException) -> None:
        self._pending.discard(self._ask)
        self._ask.fail(error)
        self._settled()

    def _settled(self) -> None:
        if not self._pending and self._on_settled is not None:
            self._on_settled()
