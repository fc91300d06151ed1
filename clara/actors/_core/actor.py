"""The Actor base class and the context an incarnation sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    import trio

    from .ask import DeferredReply
    from .ref import ActorRef
    from .system import ActorSystem
    from .timers import Timer

__all__ = ["Actor", "ActorContext"]

P = ParamSpec("P")
T = TypeVar("T")


class ActorContext(Protocol):
    """What an actor may ask of the runtime, through ``self.context``."""

    @property
    def path(self) -> str:
        """The actor's place in the tree, e.g. ``/clara/channels/1234``."""
        ...

    @property
    def ref(self) -> ActorRef:
        """The actor's own ref (valid across restarts): give it to others so they can reply."""
        ...

    @property
    def system(self) -> ActorSystem:
        """The actor system: dead letters and system-wide settings."""
        ...

    @property
    def restarts(self) -> int:
        """How many times this actor has been restarted (0 for the first incarnation)."""
        ...

    def stop(self) -> None:
        """End this incarnation normally once the current message is handled.

        ``on_stop`` then runs, and the supervisor treats it as a normal exit: a PERMANENT child
        is started again, TRANSIENT and TEMPORARY children are not. Queued messages stay in the
        mailbox for the next incarnation, or are dead-lettered if there is none.
        """
        ...

    def defer(self) -> DeferredReply:
        """Answer the ask being handled later, from a background task.

        Call it in ``on_receive`` while handling an ask; the return value of ``on_receive``
        is then not sent. Give the reply with ``reply(value)`` or ``fail(error)``; if the
        incarnation ends first, the asker gets ``ActorDeadError``. The mailbox moves on
        meanwhile, so an actor can have many asks in flight (a gateway, a channel).

        Raises:
            RuntimeError: the message being handled is a tell.
        """
        ...

    def start_task(
        self, function: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> trio.CancelScope:
        """Run ``function(*args)`` beside the mailbox, for the life of this incarnation.

        For work that must go on while messages keep being handled: a server's accept loop,
        a reply being generated while a stop request may arrive. The task is cancelled when
        the incarnation ends (stop, crash, restart, passivation); cancel it sooner through
        the returned scope. If it raises, the actor crashes as if a handler had raised.
        Messages to the actor are the way to hand results back (``self.context.ref.tell``).

        Raises:
            RuntimeError: called outside on_start / a handler of a live incarnation.
        """
        ...

    async def start_service(
        self, function: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None
    ) -> Any:
        """Like ``start_task``, for a function that takes ``task_status`` (trio's convention).

        Waits until it calls ``task_status.started(value)`` and returns ``value`` (a server's
        bound address, say). If it raises before that, the error is raised here; after
        that, it crashes the actor like a failing background task.
        """
        ...

    def send_after(self, delay: float, message: Any) -> Timer:
        """Send ``message`` to this actor after ``delay`` seconds (virtual under MockClock).

        The timer belongs to this incarnation: a restart or stop cancels it.

        Raises:
            ValueError: ``delay`` is negative, infinite or not a number.
            RuntimeError: the tree is not running.
        """
        ...

    def send_every(self, interval: float, message: Any, *, first: float | None = None) -> Timer:
        """Send ``message`` to this actor every ``interval`` seconds (first after ``first``).

        A tick that finds the mailbox full is dead-lettered, not queued up; ticks do not pile
        up while the actor is busy beyond what its mailbox holds.
        """
        ...

    async def run_blocking(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (an SDK that does I/O synchronously) in a worker thread.

        At most ``blocking_limit`` calls of this actor run at once (a ``trio.CapacityLimiter``
        per actor, kept across restarts), so one busy actor cannot take every worker thread.
        If the caller is cancelled the thread is left to finish; its result is discarded.
        """
        ...

    async def run_asyncio(self, function: Callable[..., Any], *args: Any) -> Any:
        """Await ``function(*args)``, an asyncio coroutine function, in the root's asyncio loop.

        Raises:
            AsyncioUnavailable: the tree does not run inside ``trio_asyncio.open_loop()``.
        """
        ...


class Actor:
    """Subclass this and override ``on_receive``; the runtime does the rest.

    An actor's state lives in its own attributes and is touched only by its own handlers,
    which run one at a time. One instance is one *incarnation*: after a crash the supervisor
    builds a fresh instance from its child spec, while the mailbox and the ``ActorRef`` stay.

    Hooks, in the order they run:

    - ``on_start()``: before the first message. If it raises, the incarnation is a crash
      (at first start: the supervisor's start fails with ``ChildStartError``).
    - ``on_receive(message)``: once per message, in mailbox order. Its return value is the
      reply to an ``ask`` (ignored for a ``tell``). If it raises, the actor crashes: the
      message is dead-lettered (never retried), the asker gets the exception, ``on_stop``
      runs, and the supervisor decides whether to restart.
    - ``on_stop()``: when the incarnation ends (stop, crash, passivation), within the child's
      shutdown timeout. What it raises is logged and otherwise ignored. It does not run when
      the whole subtree is cancelled abruptly.
    - ``on_passivate()`` / ``on_restore(snapshot)``: for children of a DynamicSupervisor: the
      value ``on_passivate`` returns is persisted when the actor is passivated for being idle,
      and handed to ``on_restore`` (before ``on_start``) when it is started again.

    Class attributes set per actor class:

    - ``blocking_limit``: how many ``run_blocking`` calls may run at once (default 1).
    """

    blocking_limit: int = 1

    # Set by the runtime before on_start; an Actor instance is bound to one cell for life.
    # Named so a subclass attribute is unlikely to shadow it.
    _actor_context_: ActorContext | None = None

    @property
    def context(self) -> ActorContext:
        """The runtime's services for this incarnation (its ref, path, threads, stop)."""
        context = self._actor_context_
        if context is None:
            raise RuntimeError(
                f"{type(self).__name__} is not started: its context exists from on_start on"
            )
        return context

    async def on_start(self) -> None:
        """Called once before the first message of this incarnation."""

    async def on_receive(self, message: Any) -> Any:
        """Handle one message; return the reply to an ask."""
        raise NotImplementedError(
            f"{type(self).__name__} received {type(message).__name__} but does not override "
            "on_receive"
        )

    async def on_stop(self) -> None:
        """Called once when this incarnation ends."""

    def describe(self) -> dict[str, Any] | None:
        """Extra state for the status endpoint (JSON-encodable), e.g. a gateway's providers.

        Called whenever statistics are taken; keep it cheap. None (the default) adds nothing.
        """
        return None

    async def on_passivate(self) -> Any:
        """Return the state to persist when a DynamicSupervisor passivates this actor."""
        return None

    async def on_restore(self, snapshot: Any) -> None:
        """Take back the state ``on_passivate`` returned, before ``on_start``."""
