"""What an incarnation may ask of the runtime beyond messages: deferred replies, tasks, timers,
threads, asyncio.

``ContextServices`` is a mixin of ``ActorCell`` (kept apart so the cell module stays about
mailboxes and life cycle). Everything here belongs to one incarnation: it ends with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

import trio

from ...errors import ActorDeadError, AsyncioUnavailable
from .ask import DeferredReply
from .statistics import ActorState
from .timers import Timer

if TYPE_CHECKING:
    from .actor import Actor
    from .ask import Ask
    from .mailbox import Mailbox
    from .system import ActorSystem

__all__ = ["ContextServices"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_RUNNING = ActorState.RUNNING

#: In a background task or service: the cell and the incarnation that started it. A task of
#: an ended incarnation can still run a moment (its ``finally`` after the cancellation), and
#: ``tell_self`` uses this to keep its reports from reaching the next incarnation.
TASK_OWNER: ContextVar[tuple[object, int] | None] = ContextVar("clara_task_owner", default=None)


class _StartedFlag:
    """Wraps a task_status to remember whether ``started()`` was called."""

    __slots__ = ("_inner", "started_yet")

    def __init__(self, inner: trio.TaskStatus[Any]) -> None:
        self._inner = inner
        self.started_yet = False

    def started(self, value: Any = None) -> None:
        self.started_yet = True
        self._inner.started(value)


class ContextServices:
    """Background tasks, services, timers, worker threads and the asyncio bridge."""

    __slots__ = ("_deferred", "_limiter", "_tasks")

    # Provided by ActorCell.
    path: str
    system: ActorSystem
    mailbox: Mailbox
    _host: trio.Nursery | None
    _state: ActorState
    _incarnation: int
    _actor: Actor | None
    _current_ask: Ask | None
    idle_hook: Callable[[Any], None] | None

    def _init_services(self) -> None:
        # Asks answered later (defer()), made on the first one: most actors never defer.
        self._deferred: set[Ask] | None = None
        self._tasks: set[trio.CancelScope] | None = None
        # Created on the first run_blocking: kept across restarts, one per actor.
        self._limiter: trio.CapacityLimiter | None = None

    if TYPE_CHECKING:
        # What the cell this mixin is part of provides (``ActorCell``); declared for the
        # type checker only, so a missing one fails loudly as an AttributeError.

        @property
        def incarnation(self) -> int:
            """Counts the incarnations started in this cell (timers and tasks belong to one)."""

        def tell_self(self, message: Any) -> None: ...
        def alive(self) -> bool: ...
        def is_idle(self) -> bool: ...

        async def _fail_from_task(self, error: Exception) -> None: ...

    # -- deferred replies ---------------------------------------------------------------

    def defer(self) -> DeferredReply:
        ask = self._current_ask
        if ask is None:
            raise RuntimeError(
                f"{self.path}: defer() is for the ask being handled; this message is a tell"
            )
        ask.deferred = True
        pending = self._deferred
        if pending is None:
            pending = self._deferred = set()
        return DeferredReply(ask, pending, self._deferred_settled)

    def _deferred_settled(self) -> None:
        """The last deferred reply was given: the actor may be idle now."""
        if self.idle_hook is not None and self.is_idle():
            self.idle_hook(self)

    def _fail_deferred(self) -> None:
        pending = self._deferred
        if pending:
            for ask in list(pending):
                ask.fail(ActorDeadError(self.path, "the actor ended before replying"))
            pending.clear()

    # -- tasks and services -------------------------------------------------------------

    def _new_task_scope(self, what: str) -> tuple[trio.Nursery, trio.CancelScope]:
        """The host nursery and a cancel scope registered with this incarnation's tasks."""
        state = self._state
        host = self._host
        if host is None or (state is not _RUNNING and state is not ActorState.STARTING):
            raise RuntimeError(
                f"{self.path}: {what} needs a running incarnation; the actor is {state.value}"
            )
        scope = trio.CancelScope()
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(scope)
        return host, scope

    def start_task(
        self, function: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> trio.CancelScope:
        host, scope = self._new_task_scope("start_task")
        label = name or getattr(function, "__name__", "task")
        host.start_soon(
            self._run_task, scope, self._incarnation, function, args, name=f"{self.path}:{label}"
        )
        return scope

    async def start_service(
        self, function: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> Any:
        host, scope = self._new_task_scope("start_service")
        label = name or getattr(function, "__name__", "service")
        try:
            return await host.start(
                self._run_service,
                scope,
                self._incarnation,
                function,
                args,
                name=f"{self.path}:{label}",
            )
        except BaseException:
            if self._tasks is not None:
                self._tasks.discard(scope)
            raise

    async def _run_service(
        self,
        scope: trio.CancelScope,
        incarnation: int,
        function: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        status = _StartedFlag(task_status)
        error: Exception | None = None
        TASK_OWNER.set((self, incarnation))  # this task's own context: nothing else sees it
        try:
            with scope:
                await function(*args, task_status=status)
        except Exception as exc:
            if not status.started_yet:
                raise  # before started(): start_service raises it to its caller
            error = exc
        finally:
            if self._tasks is not None:
                self._tasks.discard(scope)
        if error is not None and incarnation == self._incarnation:
            await self._fail_from_task(error)

    async def _run_task(
        self,
        scope: trio.CancelScope,
        incarnation: int,
        function: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
    ) -> None:
        error: Exception | None = None
        TASK_OWNER.set((self, incarnation))  # this task's own context: nothing else sees it
        try:
            with scope:
                await function(*args)
        except Exception as exc:
            error = exc
        finally:
            if self._tasks is not None:
                self._tasks.discard(scope)
        if error is not None and incarnation == self._incarnation:
            await self._fail_from_task(error)

    def _cancel_tasks(self) -> None:
        tasks = self._tasks
        if tasks:
            for scope in tasks:
                scope.cancel()
            tasks.clear()

    def send_after(self, delay: float, message: Any) -> Timer:
        return self._timer(delay, message, None)

    def send_every(self, interval: float, message: Any, *, first: float | None = None) -> Timer:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
            raise ValueError(f"send_every interval must be positive seconds; got {interval!r}")
        return self._timer(interval if first is None else first, message, float(interval))

    def _timer(self, delay: float, message: Any, interval: float | None) -> Timer:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
            raise ValueError(f"timer delay must be seconds of at least 0; got {delay!r}")
        if math.isinf(delay):
            raise ValueError(f"timer delay must be finite; got {delay!r}")
        scheduler = self.system.scheduler
        if not scheduler.serving:
            raise RuntimeError(f"{self.path}: timers need the running tree (its scheduler)")
        timer = Timer(self, self._incarnation, scheduler, message, interval)
        scheduler.schedule(timer, trio.current_time() + delay)
        return timer

    def deliver_tick(self, message: Any) -> None:
        """Put a timer's message in the control lane now (dead-lettered if the lane is full)."""
        self.tell_self(message)

    async def run_blocking(
        self,
        function: Callable[[*Ts], T],
        *args: *Ts,
        abandon_on_cancel: bool = False,
    ) -> T:
        actor = self._actor
        limiter = getattr(actor, "blocking_limiter", None)  # shared by a family of actors
        if limiter is None:
            limiter = self._limiter
            if limiter is None:  # one per actor, kept across restarts
                limit = getattr(actor, "blocking_limit", 1)
                limiter = self._limiter = trio.CapacityLimiter(limit)
        elif not isinstance(limiter, trio.CapacityLimiter):
            raise TypeError(
                f"{self.path}: blocking_limiter must be a trio.CapacityLimiter or None; "
                f"got {type(limiter).__name__}"
            )
        return await trio.to_thread.run_sync(
            function, *args, abandon_on_cancel=abandon_on_cancel, limiter=limiter
        )

    async def run_asyncio(self, function: Callable[..., Any], *args: Any) -> Any:
        import trio_asyncio  # noqa: PLC0415 - only actors that bridge to asyncio pay for it

        if trio_asyncio.current_loop.get(None) is None:
            raise AsyncioUnavailable(
                f"{self.path}: run_asyncio needs the trio-asyncio loop that the root opens "
                "(async with trio_asyncio.open_loop(): ...)"
            )
        return await trio_asyncio.aio_as_trio(function)(*args)
