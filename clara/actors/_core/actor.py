"""The Actor base class and the context an incarnation sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, TypeVarTuple

if TYPE_CHECKING:
    import trio

    from .ask import DeferredReply
    from .ref import ActorRef
    from .system import ActorSystem
    from .timers import Timer

__all__ = ["Actor", "ActorContext"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


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
        Messages to the actor are the way to hand results back: ``self.context.tell_self``,
        which no mailbox overflow policy can refuse.

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

    def tell_self(self, message: Any) -> None:
        """Send this actor ``message`` through its control lane: how its own background tasks
        and services report back.

        The control lane is handled before ordinary messages and is never subject to the
        mailbox's overflow policy, so a flooded REJECT or DROP mailbox still gets the report;
        it has a small bound of its own (``control_capacity``, default 64). Never waits and
        never raises: a message that finds the lane full is dead-lettered
        (``control_lane_full``, counted in the actor's ``dropped``), and so is one sent once
        the incarnation has ended (``actor_stopped``), which makes it safe in a task's
        ``finally``. Timer ticks take the same lane. It is for reports, not loops: a handler
        that keeps sending itself messages starves what others sent. For a message that
        should wait its turn behind theirs, use ``self.context.ref.tell``.
        """
        ...

    def send_after(self, delay: float, message: Any) -> Timer:
        """Send ``message`` to this actor after ``delay`` seconds (virtual under MockClock).

        The timer belongs to this incarnation: a crash, restart, stop or passivation cancels
        it. The tick goes to the control lane (see ``tell_self``).

        Raises:
            ValueError: ``delay`` is negative, infinite or not a number.
            RuntimeError: the tree is not running.
        """
        ...

    def send_every(self, interval: float, message: Any, *, first: float | None = None) -> Timer:
        """Send ``message`` to this actor every ``interval`` seconds (first after ``first``).

        A tick that finds the control lane full is dead-lettered (``control_lane_full``), not
        waited for; ticks do not pile up while the actor is busy beyond what the lane holds.
        """
        ...

    async def run_blocking(
        self,
        function: Callable[[*Ts], T],
        *args: *Ts,
        abandon_on_cancel: bool = False,
    ) -> T:
        """Run ``function(*args)``, a blocking call (an SDK doing I/O synchronously), in a
        worker thread, and return what it returns (or raise what it raised).

        Threads are bounded: by the actor's ``blocking_limiter`` when it has one (a
        ``trio.CapacityLimiter`` shared by a family of actors: one bound for every IMAP
        account's threads, say), else by ``blocking_limit`` calls of this actor at once (a
        limiter per actor, kept across restarts). Keyword arguments go through
        ``functools.partial``.

        Cancellation (a stop's shutdown timeout, a ``move_on_after`` around the call, a
        sibling's crash): a thread cannot be interrupted. By default the caller waits for the
        thread to return and the cancellation takes effect then, so a stop takes as long as
        the call. With ``abandon_on_cancel=True`` the caller returns at once (``Cancelled``
        goes on up as usual) and the thread runs on; what it returns or raises is discarded.
        It keeps its limiter token until it returns, so the bound still counts it. Close the
        resource it blocks on from ``on_stop``, so that it wakes and ends instead of waiting
        forever or touching what the next incarnation owns. ``on_stop`` gets what is left of
        the shutdown budget, nothing after a timeout: close synchronously there.

        Example: an IMAP account whose IDLE waits are abandoned when it stops::

            class ImapAccount(Actor):
                def __init__(self, connect: Callable[[], IMAPClient],
                             limiter: trio.CapacityLimiter) -> None:
                    self.connect = connect
                    self.blocking_limiter = limiter  # one bound for all accounts' threads
                    self.client: IMAPClient | None = None

                async def on_start(self) -> None:
                    self.client = await self.context.run_blocking(self.connect)
                    self.context.start_task(self.watch)

                async def watch(self) -> None:
                    assert self.client is not None
                    while True:
                        news = await self.context.run_blocking(
                            self.client.idle_check, 300, abandon_on_cancel=True
                        )
                        self.context.tell_self(NewMail(news))

                async def on_stop(self) -> None:
                    if self.client is not None:
                        self.client.shutdown()  # the abandoned idle_check wakes and ends

        Raises:
            TypeError: ``blocking_limiter`` is set to something other than a limiter.
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

    Attributes that tune the runtime (per class, or per instance in ``__init__``):

    - ``blocking_limit``: how many ``run_blocking`` calls of this actor may run at once
      (default 1).
    - ``blocking_limiter``: a ``trio.CapacityLimiter`` shared by a family of actors, which
      then bounds their ``run_blocking`` threads together instead of ``blocking_limit``
      (default None). Pass it to each actor's constructor, as any dependency.
    """

    blocking_limit: int = 1
    blocking_limiter: trio.CapacityLimiter | None = None

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

    async def on_drain(self) -> None:
        """Called when a graceful, final stop begins (a deploy), after the message being
        handled is done and before the background tasks are cancelled: let work in flight
        finish here (a reply being posted). No message is handled meanwhile.

        Bounded by the stop's timeout: at the deadline it is cancelled, then the tasks are,
        then ``on_stop`` runs with what is left. If it raises, the error is logged and the
        stop goes on. Not called on a crash, a restart or passivation.
        """

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
