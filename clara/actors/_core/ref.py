"""ActorRef: the only handle other code holds on an actor."""

from __future__ import annotations

import math
from typing import Any

import trio

from ...errors import AskTimeout
from .ask import Ask
from .cell import _RUNNING, FAIRNESS_BATCH, ActorCell
from .statistics import ActorState, ActorStatistics

__all__ = ["DEFAULT_ASK_TIMEOUT", "ActorRef"]

#: The timeout of ``ask`` when the caller gives none, in seconds.
DEFAULT_ASK_TIMEOUT = 30.0


class ActorRef:
    """A handle on one actor; valid across its restarts, cheap to copy and share.

    Messages are frozen msgspec Structs, one class per intent (a convention, not checked, so
    that sending stays cheap).
    """

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell

    @property
    def path(self) -> str:
        return self._cell.path

    @property
    def state(self) -> ActorState:
        return self._cell.state

    async def tell(self, message: Any) -> None:
        """Send ``message`` without waiting for it to be handled.

        Under BACKPRESSURE a full mailbox makes the caller wait for room. Otherwise ``tell``
        returns at once: it is a schedule point only when it waits, and once every
        ``FAIRNESS_BATCH`` (256) calls, so a tight loop of tells cannot starve other tasks
        while costing about as much as a deque append.

        Raises:
            MailboxFull: the mailbox is full and its policy is REJECT.
            ActorDeadError: the actor is stopped (the message is dead-lettered).
        """
        cell = self._cell
        mailbox = cell.mailbox
        queue = mailbox._queue
        if queue is not None and cell._state is _RUNNING and len(queue) < mailbox.capacity:
            # Fast path: room in a running actor's mailbox.
            queue.append(message)
            mailbox.peak = max(mailbox.peak, len(queue))
            if not cell._scheduled:
                cell._schedule()
        else:
            await cell.enqueue(message)
        cell._fast_tells += 1
        if cell._fast_tells >= FAIRNESS_BATCH:
            cell._fast_tells = 0
            await trio.lowlevel.checkpoint()

    def tell_nowait(self, message: Any) -> None:
        """Send ``message`` from synchronous code; never waits.

        Raises:
            MailboxFull: the mailbox is full and its policy is REJECT or BACKPRESSURE.
            ActorDeadError: the actor is stopped.
        """
        self._cell.enqueue_nowait(message)

    async def ask(self, message: Any, timeout: float | None = DEFAULT_ASK_TIMEOUT) -> Any:
        """Send ``message`` and wait for the value ``on_receive`` returns for it.

        The timeout covers waiting for room in the mailbox, the wait in the queue and the
        handling. If the handler raises, that exception is raised here at once (and the actor
        crashes, as for any message). ``timeout=None`` waits without limit. An actor asking
        itself waits for the whole timeout: its only handler is busy asking.

        Raises:
            AskTimeout: no reply within ``timeout`` (the message may still be handled later;
                its reply is then discarded).
            ActorDeadError: the actor is stopped, or stopped before replying.
            MailboxFull: the mailbox refused the ask (REJECT) or dropped it on overflow.
            Exception: whatever the handler raised.
        """
        ask = Ask(message)
        if timeout is None or math.isinf(timeout):
            return await self._ask(ask, None)
        if not timeout > 0:
            raise ValueError(f"ask timeout must be positive seconds or None; got {timeout!r}")
        cell = self._cell
        if not cell.system.scheduler.serving:  # no tree running: a cancel scope does the same job
            with trio.move_on_after(timeout):
                return await self._ask(ask, None)
            raise AskTimeout(cell.path, f"no reply to {type(message).__name__} within {timeout:g}s")
        ask.path = cell.path
        ask.timeout = timeout
        return await self._ask(ask, trio.current_time() + timeout)

    async def _ask(self, ask: Ask, deadline: float | None) -> Any:
        cell = self._cell
        mailbox = cell.mailbox
        queue = mailbox._queue
        if queue is not None and cell._state is _RUNNING and len(queue) < mailbox.capacity:
            queue.append(ask)
            mailbox.peak = max(mailbox.peak, len(queue))
            if not cell._scheduled:
                cell._schedule()
        elif deadline is None:
            await cell.enqueue(ask)
        else:
            # Waiting for room counts against the timeout too.
            enqueued = False
            with trio.move_on_at(deadline):
                await cell.enqueue(ask)
                enqueued = True
            if not enqueued:
                raise AskTimeout(cell.path, ask.timeout_text())
        if deadline is not None:
            scheduler = cell.system.scheduler
            ask.scheduler = scheduler
            scheduler.schedule(ask, deadline)
        result = ask.result
        if result is None:
            ask.task = trio.lowlevel.current_task()
            return await trio.lowlevel.wait_task_rescheduled(ask.abort)
        await trio.lowlevel.checkpoint()
        return result.unwrap()

    async def stop(self) -> None:
        """Stop the actor for good (its supervisor will not restart it); idempotent.

        Waits until the actor has stopped: the running handler may finish within the child's
        shutdown timeout, queued messages are dead-lettered, pending asks get
        ``ActorDeadError``, ``on_stop`` runs.
        """
        cell = self._cell
        if cell.owner is not None:
            await cell.owner.stop_child(cell)
        else:
            await cell.stop_gracefully()

    def statistics(self) -> ActorStatistics:
        return self._cell.statistics()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return id(self._cell)

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.path} {self._cell.state.value}>"
