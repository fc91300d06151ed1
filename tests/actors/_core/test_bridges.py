import asyncio
import functools
import threading
from typing import Any

import msgspec
import pytest
import trio
import trio.testing
import trio_asyncio

from clara.actors import Actor, ActorState
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
            while actor.running < 2:  # a state of real threads: waited for, not slept on
                await trio.sleep(0.01)
            await trio.testing.wait_all_tasks_blocked()  # the other three are parked on the limiter
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


# -- abandoning blocking work; a limiter shared by a family of actors -------------------------


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    # A real thread is involved: virtual time jumps after 10 ms of real idleness.
    mock_clock.autojump_threshold = 0.01
    return mock_clock


class Connection:
    """A blocking connection: ``read`` waits until ``close`` (from any thread)."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.read_ended = threading.Event()

    def read(self) -> str:
        self.closed.wait(timeout=30)
        self.read_ended.set()
        return "closed"

    def close(self) -> None:
        self.closed.set()


class ReadWithin(msgspec.Struct, frozen=True):
    seconds: float


class Reader(Actor):
    """Reads in an abandonable thread; closes the connection in on_stop so the thread ends."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, ReadWithin):
            with trio.move_on_after(message.seconds):
                return await self.context.run_blocking(self.connection.read, abandon_on_cancel=True)
            return "gave up"
        return await self.context.run_blocking(self.connection.read, abandon_on_cancel=True)

    async def on_stop(self) -> None:
        self.connection.close()


@pytest.mark.trio
async def test_an_actor_blocked_in_abandonable_work_stops_at_exactly_its_shutdown_timeout(
    clock: trio.testing.MockClock,
) -> None:
    connection = Connection()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Reader(connection), shutdown=1.0)
        await ref.tell("read")
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop()
        assert trio.current_time() == 1.0
        assert ref.state is ActorState.STOPPED
    # on_stop closed the connection: the abandoned thread woke and ended on its own.
    assert connection.read_ended.wait(timeout=5)


@pytest.mark.trio
async def test_a_cancelled_caller_leaves_abandonable_work_at_once(
    clock: trio.testing.MockClock,
) -> None:
    connection = Connection()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Reader(connection))
        assert await ref.ask(ReadWithin(2.0), timeout=None) == "gave up"
        assert trio.current_time() == 2.0
        assert not connection.read_ended.is_set()  # the thread still waits, abandoned
    assert connection.read_ended.wait(timeout=5)


class Gauge:
    """Counts how many threads hold it at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def hold(self, release: threading.Event) -> None:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        release.wait(timeout=5)
        with self.lock:
            self.running -= 1


class Pooled(Actor):
    """One of a family of actors whose blocking calls share one limiter."""

    blocking_limit = 4  # the shared limiter takes precedence

    def __init__(self, limiter: trio.CapacityLimiter, gauge: Gauge) -> None:
        self.blocking_limiter = limiter
        self.gauge = gauge

    async def on_receive(self, message: Blocking) -> None:
        await self.context.run_blocking(self.gauge.hold, message.release)


@pytest.mark.trio
async def test_actors_sharing_a_limiter_of_one_never_run_two_threads_at_once() -> None:
    limiter = trio.CapacityLimiter(1)
    gauge = Gauge()
    release = threading.Event()
    async with ActorTestKit() as kit:
        first = await kit.spawn(lambda: Pooled(limiter, gauge))
        second = await kit.spawn(lambda: Pooled(limiter, gauge))
        async with trio.open_nursery() as nursery:
            for ref in (first, second, first, second):
                nursery.start_soon(functools.partial(ref.ask, Blocking(release), timeout=None))
            await trio.testing.wait_all_tasks_blocked()
            assert limiter.statistics().borrowed_tokens == 1
            assert limiter.statistics().tasks_waiting == 1  # the other actor waits its turn
            release.set()
    assert gauge.most_at_once == 1
