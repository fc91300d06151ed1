import asyncio
import threading
from typing import Any

import msgspec
import pytest
import trio
import trio_asyncio

from clara.actors import Actor
from clara.errors import AsyncioUnavailable
from clara.testing import ActorTestKit


class Blocking(msgspec.Struct, frozen=True):
    release: threading.Event


class ViaAsyncio(msgspec.Struct, frozen=True):
    value: int


class Bridged(Actor):
    """Calls a blocking SDK in a thread and an asyncio-only library in the root's loop."""

    blocking_limit = 2

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def _blocking_call(self, release: threading.Event) -> int:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        release.wait(timeout=5)
        with self.lock:
            self.running -= 1
        return threading.get_ident()

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Blocking):
            return await self.context.run_blocking(self._blocking_call, message.release)
        if isinstance(message, ViaAsyncio):

            async def double(value: int) -> tuple[int, bool]:
                await asyncio.sleep(0)
                return value * 2, asyncio.get_running_loop() is not None

            return await self.context.run_asyncio(double, message.value)
        return None


@pytest.mark.trio
async def test_run_blocking_runs_in_a_worker_thread_within_the_actors_limit() -> None:
    async with ActorTestKit() as kit:
        actor = Bridged()
        ref = await kit.spawn(actor)
        release = threading.Event()
        idents: list[int] = []

        async def call() -> None:
            idents.append(await actor.context.run_blocking(actor._blocking_call, release))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(call)
            # The loop is not blocked while the threads wait: we get here and can release them.
            while actor.running < 2:
                await trio.sleep(0.01)
            await trio.sleep(0.05)
            assert actor.running == 2  # blocking_limit = 2: the other three wait their turn
            release.set()
        assert actor.most_at_once == 2
        assert threading.get_ident() not in idents
        assert await ref.ask(Blocking(release)) != threading.get_ident()


@pytest.mark.trio
async def test_run_asyncio_awaits_an_asyncio_coroutine_in_the_roots_loop() -> None:
    async with trio_asyncio.open_loop(), ActorTestKit() as kit:
        ref = await kit.spawn(Bridged)
        assert await ref.ask(ViaAsyncio(21)) == (42, True)


@pytest.mark.trio
async def test_run_asyncio_without_the_loop_is_a_clear_error() -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Bridged)
        with pytest.raises(AsyncioUnavailable, match="trio_asyncio.open_loop"):
            await ref.ask(ViaAsyncio(1))
