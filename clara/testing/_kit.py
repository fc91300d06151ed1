"""ActorTestKit: start actors alone, with fakes, under a real supervisor, in virtual time."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import TracebackType
from typing import Any

import trio

from ..actors import (
    Actor,
    ActorRef,
    ActorSystem,
    DeadLetter,
    DeadLetterReason,
    DeadLetters,
    Overflow,
)
from ..supervisors import Backoff, ChildSpec, Restart, Supervisor
from ._probe import Probe

__all__ = ["ActorTestKit"]


class ActorTestKit:
    """A supervisor of its own for the actors under test, plus probes and dead letters.

    Use it inside a trio test; with pytest-trio's ``autojump_clock`` fixture (a
    ``MockClock(autojump_threshold=0)``) every sleep, timeout and backoff runs in virtual time::

        async with ActorTestKit() as kit:
            ref = await kit.spawn(lambda: Greeter(audit=kit.probe().ref))

    Args:
        name: the actor system's name (paths start with ``/name``).
        backoff: restart backoff of spawned actors (default: 0.1 s doubling, no jitter, so
            virtual times are exact).
        max_restarts: the kit supervisor's restart intensity (default 10 within 60 s).
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
    ) -> ActorRef:
        """Start one actor under the kit's supervisor and return its ref.

        Pass a factory (``lambda: MyActor(fake)``) to have crashes restart it; an instance can
        only live once, so it is spawned TEMPORARY (a crash leaves it FAILED).
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
