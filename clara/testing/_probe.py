"""Probe: a recording actor that stands in for the actors the one under test talks to."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, overload

import trio

from ..actors import Actor, ActorRef

__all__ = ["Probe"]

M = TypeVar("M")


class Probe(Actor):
    """Records what it receives; tests read it with ``expect`` and ``expect_no_message``.

    Hand ``probe.ref`` to the actor under test wherever it expects a collaborator's ref.
    Made by ``ActorTestKit.probe()``.
    """

    def __init__(self, reply: Callable[[Any], Any] | None = None, capacity: int = 10_000) -> None:
        self._reply = reply
        self._unread: deque[Any] = deque(maxlen=capacity)
        self.received: deque[Any] = deque(maxlen=capacity)
        """Every message received (the newest ``capacity``), read or not."""
        self._arrived = trio.Event()
        self._ref: ActorRef | None = None

    def bind(self, ref: ActorRef) -> None:
        self._ref = ref

    @property
    def ref(self) -> ActorRef:
        if self._ref is None:
            raise RuntimeError("this probe is not spawned; use `await kit.probe()`")
        return self._ref

    async def on_receive(self, message: Any) -> Any:
        self._unread.append(message)
        self.received.append(message)
        self._arrived.set()
        return None if self._reply is None else self._reply(message)

    @overload
    async def expect(self, kind: type[M], *, timeout: float = 1.0) -> M: ...

    @overload
    async def expect(self, kind: None = None, *, timeout: float = 1.0) -> Any: ...

    async def expect(self, kind: type[Any] | None = None, *, timeout: float = 1.0) -> Any:
        """The next unread message, waiting up to ``timeout`` (virtual) seconds for it.

        Raises:
            AssertionError: nothing arrived in time, or the next message is not a ``kind``.
        """
        with trio.move_on_after(timeout):
            while not self._unread:
                self._arrived = trio.Event()
                await self._arrived.wait()
            message = self._unread.popleft()
            if kind is not None and not isinstance(message, kind):
                raise AssertionError(
                    f"expected a {kind.__name__}, got {type(message).__name__}: {message!r}"
                )
            return message
        what = "a message" if kind is None else f"a {kind.__name__}"
        raise AssertionError(f"expected {what} within {timeout:g}s; none arrived")

    async def expect_no_message(self, within: float = 0.1) -> None:
        """Wait ``within`` seconds and fail if any unread message is there by then."""
        await trio.sleep(within)
        if self._unread:
            raise AssertionError(f"expected no message within {within:g}s; got {self._unread[0]!r}")

    def unread(self) -> list[Any]:
        return list(self._unread)
