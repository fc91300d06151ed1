"""The peers Clara's runtime is measured against.

Each peer exposes ``<peer>_<scenario>(n)`` functions, plain and synchronous, meant to be called
once in a fresh interpreter (see `bench._harness.run_in_subprocess`) and returning a JSON-able
dict:

- ``tell_throughput(n)`` -> ``{"messages", "seconds", "per_second"}``: one sender tells ``n``
  small messages (ints) to one actor; wall time from the first send until the actor has
  processed the last message.
- ``ask_latency(n)`` -> ``{"asks", "p50_us", "p99_us", "mean_us"}``: ``n`` sequential
  request/reply round trips, each timed with ``time.perf_counter_ns``.
- ``spawn(n)`` -> ``{"actors", "seconds", "us_per_actor", "rss_bytes_per_actor"}``: ``n`` idle
  actors; RSS per actor is (RSS after spawning, after ``gc.collect()``, minus RSS before) / n.
- ``restart_latency(n)`` -> ``{"restarts", "p50_us", "p99_us", "mean_us"}``: from the moment
  the actor raises (or exits) to its replacement answering a request.

A scenario a peer cannot express returns ``{"skipped": reason}``. Third-party peers are
imported inside their functions, so a missing package skips that peer only.

Peers: ``trio_channel`` (a bare trio task on a bounded memory channel: the floor),
``asyncio_queue`` (a bare asyncio task on an ``asyncio.Queue``), ``pykka`` (pykka 4
``ThreadingActor``) and ``thespian`` (thespian 4, ``simpleSystemBase``).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from bench._harness import (
    Result,
    latency_summary_us,
    now_ns,
    rss_bytes,
    spawn_figures,
    throughput,
)

if TYPE_CHECKING:
    from thespian.actors import (  # type: ignore[import-untyped,unused-ignore]
        ActorAddress,
        ActorSystem,
    )

#: Capacity of the mailbox of the actor under test in tell/ask/restart (as in the issue).
MAILBOX_CAPACITY = 1000
#: Capacity of each idle actor's mailbox in the spawn scenario.
IDLE_MAILBOX_CAPACITY = 16
#: pykka starts one OS thread per ThreadingActor; above this many, spawn is skipped.
PYKKA_SPAWN_CAP = 10_000
#: thespian's simpleSystemBase keeps every actor in this one process; above this, skipped.
THESPIAN_SPAWN_CAP = 100_000
#: Seconds any single blocking wait on a peer may take before the benchmark gives up.
WAIT_TIMEOUT = 60.0


class CrashError(Exception):
    """Raised by an actor on purpose in the restart scenario."""


def _warmup_count(n: int) -> int:
    """Untimed iterations run before the timed ones (JIT-free CPython still warms caches)."""
    return min(1000, max(10, n // 10))


# =========================================================================== trio_channel


def trio_channel_tell_throughput(n: int = 200_000) -> Result:
    """Checkpoint per message: ``await send()`` on one side, ``async for`` on the other."""
    return trio.run(_trio_tell, n, False)


def trio_channel_tell_throughput_drain(n: int = 200_000) -> Result:
    """No checkpoint per message: ``send_nowait`` / ``receive_nowait``, awaiting only when the
    channel is full (sender) or empty (receiver)."""
    result = trio.run(_trio_tell, n, True)
    result["variant"] = "drain: send_nowait/receive_nowait, await only on WouldBlock"
    return result


async def _trio_tell(n: int, drain: bool) -> Result:
    await _trio_tell_round(_warmup_count(n) * 10, drain)
    return await _trio_tell_round(n, drain)


async def _trio_tell_round(n: int, drain: bool) -> Result:
    send, receive = trio.open_memory_channel[int](MAILBOX_CAPACITY)
    finished: list[int] = []

    async def actor_checkpoint() -> None:
        count = 0
        async for _message in receive:
            count += 1
            if count == n:
                finished.append(now_ns())
                return

    async def actor_drain() -> None:
        for _ in range(n):
            try:
                receive.receive_nowait()
            except trio.WouldBlock:
                await receive.receive()
        finished.append(now_ns())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor_drain if drain else actor_checkpoint)
        await trio.testing.wait_all_tasks_blocked()
        started = now_ns()
        if drain:
            for i in range(n):
                try:
                    send.send_nowait(i)
                except trio.WouldBlock:
                    await send.send(i)
        else:
            for i in range(n):
                await send.send(i)
    return throughput(n, (finished[0] - started) / 1e9)


def trio_channel_ask_latency(n: int = 20_000) -> Result:
    """The actor answers on one long-lived reply channel: two channel hops per ask."""
    return trio.run(_trio_ask, n)


async def _trio_ask(n: int) -> Result:
    request_send, request_receive = trio.open_memory_channel[int](MAILBOX_CAPACITY)
    reply_send, reply_receive = trio.open_memory_channel[int](MAILBOX_CAPACITY)

    async def actor() -> None:
        async for message in request_receive:
            await reply_send.send(message)

    samples: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        warmup = _warmup_count(n)
        for i in range(warmup + n):
            started = now_ns()
            await request_send.send(i)
            await reply_receive.receive()
            if i >= warmup:
                samples.append(now_ns() - started)
        await request_send.aclose()
    return {"asks": n, **latency_summary_us(samples)}


def trio_channel_spawn(n: int = 1000) -> Result:
    """``n`` tasks, each blocked on its own bounded channel of capacity 16; the send ends are
    kept (they are what an actor reference would hold)."""
    return trio.run(_trio_spawn, n)


async def _trio_idle(receive: trio.MemoryReceiveChannel[Any]) -> None:
    async for _message in receive:
        pass


async def _trio_spawn(n: int) -> Result:
    handles: list[trio.MemorySendChannel[Any]] = []
    async with trio.open_nursery() as nursery:
        await trio.testing.wait_all_tasks_blocked()
        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        for _ in range(n):
            send, receive = trio.open_memory_channel[Any](IDLE_MAILBOX_CAPACITY)
            nursery.start_soon(_trio_idle, receive)
            handles.append(send)
        # start_soon only schedules: the spawn is done when every task sits in receive().
        await trio.testing.wait_all_tasks_blocked()
        seconds = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
        nursery.cancel_scope.cancel()
    return spawn_figures(n, seconds, before, after)


def trio_channel_restart_latency(n: int = 1000) -> Result:
    """A supervisor loops over a nursery holding the worker task; when the worker raises, the
    nursery exits with the error and the loop starts a fresh worker on the same channel.
    Measured from just before the ``raise`` to the client receiving the new worker's reply."""
    return trio.run(_trio_restart, n)


async def _trio_restart(n: int) -> Result:
    requests_send, requests_receive = trio.open_memory_channel[str](MAILBOX_CAPACITY)
    replies_send, replies_receive = trio.open_memory_channel[str](MAILBOX_CAPACITY)
    raised_at: list[int] = [0]

    async def worker() -> None:
        incarnation_state: dict[str, int] = {"served": 0}  # fresh state per incarnation
        while True:
            try:
                message = await requests_receive.receive()
            except trio.EndOfChannel:
                return
            if message == "crash":
                raised_at[0] = now_ns()
                raise CrashError
            incarnation_state["served"] += 1
            await replies_send.send(message)

    warmup = _warmup_count(n)

    async def supervisor() -> None:
        for _ in range(warmup + n + 1):  # bounded: one incarnation per crash, plus the first
            crashed = False
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(worker)
            except* CrashError:
                crashed = True
            if not crashed:
                return

    samples: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor)
        for i in range(warmup + n):
            await requests_send.send("crash")
            await requests_send.send("ping")
            await replies_receive.receive()
            if i >= warmup:
                samples.append(now_ns() - raised_at[0])
        await requests_send.aclose()
    return {"restarts": n, **latency_summary_us(samples)}


# =========================================================================== asyncio_queue


def asyncio_queue_tell_throughput(n: int = 200_000) -> Result:
    """``await queue.put()`` / ``await queue.get()``. asyncio only suspends when the queue is
    full or empty, so this is the equivalent of trio's drain variant, not the checkpoint one."""
    return asyncio.run(_asyncio_tell(n))


async def _asyncio_tell(n: int) -> Result:
    await _asyncio_tell_round(_warmup_count(n) * 10)
    return await _asyncio_tell_round(n)


async def _asyncio_tell_round(n: int) -> Result:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=MAILBOX_CAPACITY)
    finished: list[int] = []

    async def actor() -> None:
        for _ in range(n):
            await queue.get()
        finished.append(now_ns())

    task = asyncio.create_task(actor())
    await asyncio.sleep(0)
    started = now_ns()
    for i in range(n):
        await queue.put(i)
    await asyncio.wait_for(task, WAIT_TIMEOUT)
    return throughput(n, (finished[0] - started) / 1e9)


def asyncio_queue_ask_latency(n: int = 20_000) -> Result:
    """The actor answers on one long-lived reply queue."""
    return asyncio.run(_asyncio_ask(n))


async def _asyncio_ask(n: int) -> Result:
    requests: asyncio.Queue[int | None] = asyncio.Queue(maxsize=MAILBOX_CAPACITY)
    replies: asyncio.Queue[int] = asyncio.Queue(maxsize=MAILBOX_CAPACITY)

    async def actor() -> None:
        while (message := await requests.get()) is not None:
            await replies.put(message)

    task = asyncio.create_task(actor())
    warmup = _warmup_count(n)
    samples: list[int] = []
    for i in range(warmup + n):
        started = now_ns()
        await requests.put(i)
        await replies.get()
        if i >= warmup:
            samples.append(now_ns() - started)
    await requests.put(None)
    await asyncio.wait_for(task, WAIT_TIMEOUT)
    return {"asks": n, **latency_summary_us(samples)}


def asyncio_queue_spawn(n: int = 1000) -> Result:
    """``n`` tasks, each blocked on its own ``asyncio.Queue(maxsize=16)``."""
    return asyncio.run(_asyncio_spawn(n))


async def _asyncio_spawn(n: int) -> Result:
    running = [0]

    async def idle(queue: asyncio.Queue[Any]) -> None:
        running[0] += 1
        while True:
            await queue.get()

    queues: list[asyncio.Queue[Any]] = []
    tasks: list[asyncio.Task[None]] = []  # asyncio holds tasks weakly: keep them
    await asyncio.sleep(0)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for _ in range(n):
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=IDLE_MAILBOX_CAPACITY)
        queues.append(queue)
        tasks.append(asyncio.create_task(idle(queue)))
    for _ in range(1000):  # bounded; one pass of the loop normally starts them all
        if running[0] == n:
            break
        await asyncio.sleep(0)
    seconds = time.perf_counter() - started
    if running[0] != n:
        raise RuntimeError(f"only {running[0]} of {n} tasks started")
    gc.collect()
    after = rss_bytes()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return spawn_figures(n, seconds, before, after)


def asyncio_queue_restart_latency(n: int = 1000) -> Result:
    """A watcher loop awaits the worker task and creates a new one when it raises."""
    return asyncio.run(_asyncio_restart(n))


async def _asyncio_restart(n: int) -> Result:
    requests: asyncio.Queue[str | None] = asyncio.Queue(maxsize=MAILBOX_CAPACITY)
    replies: asyncio.Queue[str] = asyncio.Queue(maxsize=MAILBOX_CAPACITY)
    raised_at: list[int] = [0]

    async def worker() -> None:
        incarnation_state: dict[str, int] = {"served": 0}
        while (message := await requests.get()) is not None:
            if message == "crash":
                raised_at[0] = now_ns()
                raise CrashError
            incarnation_state["served"] += 1
            await replies.put(message)

    warmup = _warmup_count(n)

    async def watcher() -> None:
        for _ in range(warmup + n + 1):  # bounded: one incarnation per crash, plus the first
            try:
                await asyncio.create_task(worker())
            except CrashError:
                continue
            return

    watching = asyncio.create_task(watcher())
    samples: list[int] = []
    for i in range(warmup + n):
        await requests.put("crash")
        await requests.put("ping")
        await replies.get()
        if i >= warmup:
            samples.append(now_ns() - raised_at[0])
    await requests.put(None)
    await asyncio.wait_for(watching, WAIT_TIMEOUT)
    return {"restarts": n, **latency_summary_us(samples)}


# =========================================================================== pykka


def pykka_tell_throughput(n: int = 200_000) -> Result:
    """``ref.tell()`` from the main thread into a ThreadingActor (unbounded inbox); the actor
    stamps the time when it has processed the n-th message."""
    import pykka  # noqa: PLC0415 - optional peer

    class Counter(pykka.ThreadingActor):
        def __init__(self, expected: int, done: threading.Event, stamp: list[int]) -> None:
            super().__init__()
            self.count = 0
            self.expected = expected
            self.done = done
            self.stamp = stamp

        def on_receive(self, message: Any) -> None:
            self.count += 1
            if self.count == self.expected:
                self.stamp.append(now_ns())
                self.done.set()

    def one_round(count: int) -> Result:
        done = threading.Event()
        stamp: list[int] = []
        ref = Counter.start(count, done, stamp)
        try:
            started = now_ns()
            for i in range(count):
                ref.tell(i)
            if not done.wait(WAIT_TIMEOUT):
                raise TimeoutError("pykka actor did not process every message")
        finally:
            ref.stop()
        return throughput(count, (stamp[0] - started) / 1e9)

    one_round(_warmup_count(n) * 10)
    return one_round(n)


def pykka_ask_latency(n: int = 20_000) -> Result:
    """``ref.ask()`` (blocking, future-based) from the main thread to a ThreadingActor."""
    import pykka  # noqa: PLC0415 - optional peer

    class Echo(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message

    ref = Echo.start()
    samples: list[int] = []
    try:
        warmup = _warmup_count(n)
        for i in range(warmup + n):
            started = now_ns()
            ref.ask(i, timeout=WAIT_TIMEOUT)
            if i >= warmup:
                samples.append(now_ns() - started)
    finally:
        ref.stop()
    return {"asks": n, **latency_summary_us(samples)}


def pykka_spawn(n: int = 1000) -> Result:
    """``n`` idle ThreadingActors: one OS thread each, blocked on its inbox."""
    if n > PYKKA_SPAWN_CAP:
        return {
            "skipped": f"pykka runs one OS thread per ThreadingActor; capped at "
            f"{PYKKA_SPAWN_CAP:,} (the {n:,}-thread run would measure the kernel, not pykka)"
        }
    import pykka  # noqa: PLC0415 - optional peer

    class Idle(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> None:
            return None

    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    refs = [Idle.start() for _ in range(n)]  # Thread.start() returns once the thread runs
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    pykka.ActorRegistry.stop_all(block=True, timeout=WAIT_TIMEOUT)
    del refs
    return spawn_figures(n, seconds, before, after)


def pykka_restart_latency(n: int = 1000) -> Result:
    del n
    return {
        "skipped": "pykka has no supervision: an actor whose on_receive raises is stopped "
        "and nothing restarts it"
    }


# =========================================================================== thespian
#
# simpleSystemBase runs every actor in the calling thread: tell() and ask() deliver
# synchronously, so there is no concurrency and no thread hop in these figures.

THESPIAN_BASE = "simpleSystemBase"


def _thespian_system() -> ActorSystem:
    from thespian.actors import (  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
        ActorSystem,
    )

    return ActorSystem(THESPIAN_BASE, logDefs=False)


def _thespian_actors() -> dict[str, type]:
    """The actor classes, defined lazily so a missing thespian only skips this peer."""
    from thespian.actors import (  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
        Actor,
        ActorExitRequest,
        ChildActorExited,
    )

    class ThCounter(Actor):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def receiveMessage(self, message: Any, sender: ActorAddress) -> None:  # noqa: N802
            if isinstance(message, int):
                self.count += 1
            elif message == "count":
                self.send(sender, self.count)

    class ThEcho(Actor):  # type: ignore[misc]
        def receiveMessage(self, message: Any, sender: ActorAddress) -> None:  # noqa: N802
            if isinstance(message, int):
                self.send(sender, message)

    class ThIdle(Actor):  # type: ignore[misc]
        def receiveMessage(self, message: Any, sender: ActorAddress) -> None:  # noqa: N802
            return None

    class ThWorker(Actor):  # type: ignore[misc]
        def receiveMessage(self, message: Any, sender: ActorAddress) -> None:  # noqa: N802
            if message == "crash":
                # An exception would not end a thespian actor (the message is retried once,
                # then returned as a PoisonMessage, and the actor lives on): the only way to
                # "die" is to exit, which is what the parent's ChildActorExited reports.
                self.send(sender, ("raised_at", now_ns()))
                self.send(self.myAddress, ActorExitRequest())
            elif message == "ping":
                self.send(sender, "pong")

    class ThSupervisor(Actor):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.worker: ActorAddress | None = None
            self.client: ActorAddress | None = None
            self.raised_at = 0

        def receiveMessage(self, message: Any, sender: ActorAddress) -> None:  # noqa: N802
            if message == "start":
                self.worker = self.createActor(ThWorker)
                self.send(sender, "started")
            elif message == "crash_then_ping":
                self.client = sender
                self.send(self.worker, "crash")
            elif isinstance(message, tuple) and message[0] == "raised_at":
                self.raised_at = message[1]
            elif isinstance(message, ChildActorExited):
                self.worker = self.createActor(ThWorker)
                self.send(self.worker, "ping")
            elif message == "pong":
                self.send(self.client, ("answered", self.raised_at))

    return {
        "counter": ThCounter,
        "echo": ThEcho,
        "idle": ThIdle,
        "supervisor": ThSupervisor,
    }


def thespian_tell_throughput(n: int = 200_000) -> Result:
    """``ActorSystem.tell()`` n times, then one ask for the count (its reply marks the end)."""
    actors = _thespian_actors()
    system = _thespian_system()
    try:

        def one_round(count: int) -> Result:
            counter = system.createActor(actors["counter"])
            started = now_ns()
            for i in range(count):
                system.tell(counter, i)
            processed = system.ask(counter, "count", WAIT_TIMEOUT)
            finished = now_ns()
            if processed != count:
                raise RuntimeError(f"thespian actor counted {processed} of {count}")
            return throughput(count, (finished - started) / 1e9)

        one_round(_warmup_count(n) * 10)
        result = one_round(n)
    finally:
        system.shutdown()
    result["base"] = THESPIAN_BASE
    return result


def thespian_ask_latency(n: int = 20_000) -> Result:
    """``ActorSystem.ask()`` round trips to an echo actor."""
    actors = _thespian_actors()
    system = _thespian_system()
    samples: list[int] = []
    try:
        echo = system.createActor(actors["echo"])
        warmup = _warmup_count(n)
        for i in range(warmup + n):
            started = now_ns()
            if system.ask(echo, i, WAIT_TIMEOUT) != i:
                raise RuntimeError("thespian ask got no reply")
            if i >= warmup:
                samples.append(now_ns() - started)
    finally:
        system.shutdown()
    return {"asks": n, **latency_summary_us(samples), "base": THESPIAN_BASE}


def thespian_spawn(n: int = 1000) -> Result:
    """``n`` idle actors created from outside with ``ActorSystem.createActor()``."""
    if n > THESPIAN_SPAWN_CAP:
        return {"skipped": f"capped at {THESPIAN_SPAWN_CAP:,} actors"}
    actors = _thespian_actors()
    system = _thespian_system()
    try:
        addresses = []
        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        for _ in range(n):
            addresses.append(system.createActor(actors["idle"]))
        seconds = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
    finally:
        system.shutdown()
    return {**spawn_figures(n, seconds, before, after), "base": THESPIAN_BASE}


def thespian_restart_latency(n: int = 1000) -> Result:
    """A parent actor recreates its child on ``ChildActorExited`` and forwards a ping to the
    replacement. The child "crashes" by exiting (``ActorExitRequest`` to itself): thespian
    does not end an actor whose ``receiveMessage`` raises. Measured from the child's exit
    decision to the client receiving the replacement's answer."""
    actors = _thespian_actors()
    system = _thespian_system()
    samples: list[int] = []
    try:
        supervisor = system.createActor(actors["supervisor"])
        if system.ask(supervisor, "start", WAIT_TIMEOUT) != "started":
            raise RuntimeError("thespian supervisor did not start")
        warmup = _warmup_count(n)
        for i in range(warmup + n):
            reply = system.ask(supervisor, "crash_then_ping", WAIT_TIMEOUT)
            answered = now_ns()
            if not (isinstance(reply, tuple) and reply[0] == "answered"):
                raise RuntimeError(f"thespian restart got {reply!r}")
            if i >= warmup:
                samples.append(answered - reply[1])
    finally:
        system.shutdown()
    return {"restarts": n, **latency_summary_us(samples), "base": THESPIAN_BASE}
