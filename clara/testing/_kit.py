"""ActorTestKit: start actors and supervisors alone, with fakes, in virtual time, and await
what happens to them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import trio

from ..actors import (
    DEFAULT_CONTROL_CAPACITY,
    Actor,
    ActorRef,
    ActorSystem,
    DeadLetter,
    DeadLetterReason,
    DeadLetters,
    LifecycleEvent,
    Overflow,
)
from ..supervisors import Backoff, ChildSpec, Restart, Supervisor, SupervisorBase
from ._events import EventLog, HasPath
from ._probe import Probe

__all__ = ["ActorTestKit"]

E = TypeVar("E", bound=LifecycleEvent)
S = TypeVar("S", bound=SupervisorBase)


class ActorTestKit:
    """A supervisor of its own for what is under test, plus probes, dead letters and the
    lifecycle events of everything it runs.

    Use it inside a trio test; with pytest-trio's ``autojump_clock`` fixture (a
    ``MockClock(autojump_threshold=0)``) every sleep, timeout and backoff runs in virtual time::

        async with ActorTestKit() as kit:
            audit = await kit.probe()
            greeter = await kit.spawn(lambda: Greeter(audit=audit.ref))
            await greeter.tell(Crash())
            backing_off = await kit.expect_event(BackingOff, path=greeter)
            assert (backing_off.at, backing_off.delay) == (0.0, 0.1)
            await kit.expect_event(Restarted, path=greeter)
            assert trio.current_time() == 0.1

    A whole supervisor (its strategy, intensity, nested supervisors) runs under the kit with
    ``start_supervisor``; when it gives up, its escalation is an ``Escalated`` event, not an
    exception, and the kit still exits cleanly.

    Args:
        name: the actor system's name (paths start with ``/name``).
        backoff: restart backoff of spawned actors (default: 0.1 s doubling, no jitter, so
            virtual times are exact).
        max_restarts: the kit supervisor's restart intensity (default 10 within 60 s). Past
            it the kit's own supervisor fails: the test body is cancelled and the
            ``async with`` raises an exception group holding ``RestartIntensityExceeded``.
        max_seconds: its window.
    """

    def __init__(
        self,
        name: str = "test",
        *,
        backoff: Backoff | None = None,
        max_restarts: int = 10,
        max_seconds: float = 60.0,
    ) -> None:
        self.system = ActorSystem(name, DeadLetters(capacity=10_000))
        self.supervisor = Supervisor(
            [],
            backoff=backoff if backoff is not None else Backoff(min=0.1, jitter=0.0),
            max_restarts=max_restarts,
            max_seconds=max_seconds,
        )
        self._names = itertools.count(1)
        #: Every lifecycle event of the kit's tree, from its own supervisor's start on.
        self.event_log = EventLog(self.system)
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> ActorTestKit:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        await self._nursery.start(self.supervisor.run, self.system)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if exc is None:
            await self.supervisor.stop()
        else:
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()
        try:
            return bool(await self._nursery_manager.__aexit__(exc_type, exc, traceback))
        except BaseExceptionGroup as group:
            # Let the test's own failure surface as itself, not wrapped in a group.
            if exc is not None:
                _, rest = group.split(lambda error: error is exc)
                if rest is None:
                    return False
            raise

    async def spawn(
        self,
        actor: Actor | Callable[[], Actor],
        *,
        name: str | None = None,
        mailbox_capacity: int = 1000,
        overflow: Overflow = Overflow.BACKPRESSURE,
        restart: Restart | None = None,
        backoff: Backoff | None = None,
        shutdown: float | None = None,
        control_capacity: int = DEFAULT_CONTROL_CAPACITY,
    ) -> ActorRef:
        """Start one actor under the kit's supervisor and return its ref.

        Pass a factory (``lambda: MyActor(fake)``) to have crashes restart it; an instance can
        only live once, so it is spawned TEMPORARY (a crash leaves it FAILED). The other
        arguments are those of a ``ChildSpec``.
        """
        if isinstance(actor, Actor):
            instance = actor

            def start() -> Actor:
                return instance

            chosen_restart = Restart.TEMPORARY if restart is None else restart
            default_name = type(actor).__name__
        else:
            start = actor
            chosen_restart = Restart.PERMANENT if restart is None else restart
            default_name = getattr(actor, "__name__", "actor")
            if default_name == "<lambda>":
                default_name = "actor"
        child_id = name or f"{default_name.lower()}-{next(self._names)}"
        await self.supervisor.start_child(
            ChildSpec(
                id=child_id,
                start=start,
                restart=chosen_restart,
                mailbox_capacity=mailbox_capacity,
                overflow=overflow,
                backoff=backoff,
                shutdown=shutdown,
                control_capacity=control_capacity,
            )
        )
        return self.supervisor.ref(child_id)

    async def probe(
        self,
        name: str | None = None,
        *,
        reply: Callable[[Any], Any] | None = None,
        capacity: int = 10_000,
    ) -> Probe:
        """Start a probe: an actor that records every message it gets, for assertions.

        Args:
            name: its child id.
            reply: what it answers to an ask, computed from the message (default None).
            capacity: its mailbox capacity (and the most messages it keeps).
        """
        probe = Probe(reply=reply, capacity=capacity)
        ref = await self.spawn(
            probe,
            name=name or f"probe-{next(self._names)}",
            mailbox_capacity=capacity,
        )
        probe.bind(ref)
        return probe

    async def start_supervisor(
        self,
        supervisor: S,
        *,
        name: str | None = None,
        restart: Restart = Restart.TEMPORARY,
        shutdown: float | None = None,
    ) -> S:
        """Start ``supervisor`` (and its whole subtree) under the kit and return it, running.

        Its children are reached as usual (``supervisor.ref("a")``, ``supervisor.child``);
        its path is ``/<kit name>/<name>``. It is TEMPORARY by default: when it gives up
        (more restarts than its intensity allows), the kit records ``Escalated`` for it,
        removes it and goes on, so a test asserts the escalation as an event::

            sup = await kit.start_supervisor(Supervisor([...], max_restarts=1))
            ...
            escalated = await kit.expect_event(Escalated, path=sup)
            assert escalated.child == "a"

        Args:
            supervisor: a ``Supervisor`` or ``DynamicSupervisor`` not running yet.
            name: its child id under the kit (default: its class name and a number).
            restart: its restart type under the kit; with ``PERMANENT`` the kit restarts it
                after an escalation (within the kit's own intensity).
            shutdown: seconds it may take to stop (default: no limit).

        Raises:
            ChildStartError: one of its children failed to start (nothing of it is kept).
        """
        child_id = name or f"{type(supervisor).__name__.lower()}-{next(self._names)}"
        await self.supervisor.start_child(
            ChildSpec(id=child_id, start=supervisor, restart=restart, shutdown=shutdown)
        )
        return supervisor

    def events(self, path: str | HasPath | None = None, kind: type[E] | None = None) -> list[Any]:
        """The lifecycle events so far, oldest first, optionally of one path and one kind."""
        return self.event_log.events(path, kind)

    async def expect_event(
        self,
        kind: type[E],
        *,
        path: str | HasPath | None = None,
        within: float = 1.0,
        **fields: Any,
    ) -> E:
        """The earliest ``kind`` event not returned before (of ``path``, with ``fields``),
        waiting up to ``within`` virtual seconds for it; see ``EventLog.expect``.

        Raises:
            AssertionError: none came in time; the message lists what the path did.
        """
        return await self.event_log.expect(kind, path=path, within=within, **fields)

    def dead_letters(
        self, reason: DeadLetterReason | None = None, recipient: str = ""
    ) -> list[DeadLetter]:
        """Dead letters so far, optionally of one reason and under one path prefix."""
        letters = self.system.dead_letters.letters(recipient)
        if reason is None:
            return letters
        return [letter for letter in letters if letter.reason is reason]

    def start_soon(self, function: Callable[..., Any], *args: Any) -> None:
        """Run a helper task (a sender, a slow client) alongside the actors."""
        assert self._nursery is not None
        self._nursery.start_soon(function, *args)
