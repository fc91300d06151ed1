"""Clara's runtime in the four scenarios the peers run (see bench/README.md).

Each function runs in a fresh interpreter (bench._harness.run_in_subprocess) and returns the
same keys as the peers; ``restart_latency`` adds the figures beyond the backoff delay.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import trio

from bench._harness import (
    latency_summary_us,
    now_ns,
    rss_bytes,
    spawn_figures,
    throughput,
)
from clara.actors import Actor, ActorSystem, DeadLetters
from clara.supervisors import Backoff, ChildSpec, DynamicSupervisor, Supervisor

Result = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")


def _quiet(function: Callable[P, R]) -> Callable[P, R]:
    """Run a benchmark with logging off, and put it back after.

    Crash and restart lines would be written to stderr a thousand times: measure the
    runtime, not the log handler (a deployment pays for its logging, at WARNING, per crash).
    """

    @functools.wraps(function)
    def quiet(*args: P.args, **kwargs: P.kwargs) -> R:
        logging.disable(logging.CRITICAL)
        try:
            return function(*args, **kwargs)
        finally:
            logging.disable(logging.NOTSET)

    return quiet


class _Counter(Actor):
    """Counts tells; sets ``done`` at the n-th."""

    def __init__(self, n: int, done: trio.Event) -> None:
        self.n = n
        self.count = 0
        self.done = done

    async def on_receive(self, message: Any) -> Any:
        self.count += 1
        if self.count == self.n:
            self.done.set()


class _Echo(Actor):
    async def on_receive(self, message: Any) -> Any:
        return message


class _Idle(Actor):
    """The smallest useful actor: no state of its own."""

    async def on_receive(self, message: Any) -> Any:
        return None


class _Crashy(Actor):
    """Raises on "crash" (noting the time), answers anything else."""

    def __init__(self, crashed_at: list[int]) -> None:
        self.crashed_at = crashed_at

    async def on_receive(self, message: Any) -> Any:
        if message == "crash":
            self.crashed_at.append(now_ns())
            raise RuntimeError("crash")
        return message


def _quiet_system() -> ActorSystem:
    return ActorSystem("bench", DeadLetters(capacity=16))


async def _with_root(root: Supervisor, body: Any) -> Any:
    result: list[Any] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, _quiet_system())
        result.append(await body())
        await root.stop()
    return result[0]


@_quiet
def tell_throughput(n: int = 200_000) -> Result:
    """One sender tells n messages; from the first tell until the actor handled the last."""

    async def main() -> Result:
        warm_up = min(10_000, n)
        done = trio.Event()
        root = Supervisor([ChildSpec("counter", lambda: _Counter(n + warm_up, done))])

        async def body() -> Result:
            ref = root.ref("counter")
            message = ("tick", 1)
            for _ in range(warm_up):
                await ref.tell(message)
            gc.collect()
            start = now_ns()
            for _ in range(n):
                await ref.tell(message)
            await done.wait()
            seconds = (now_ns() - start) / 1e9
            return throughput(n, seconds)

        result: Result = await _with_root(root, body)
        return result

    return trio.run(main)


@_quiet
def ask_latency(n: int = 20_000) -> Result:
    """Sequential asks to one idle actor: each one wakes it, gets handled, replies."""

    async def main() -> Result:
        root = Supervisor([ChildSpec("echo", _Echo)])

        async def body() -> Result:
            ref = root.ref("echo")
            for _ in range(1000):  # warm-up
                await ref.ask(1)
            samples = []
            gc.collect()
            for i in range(n):
                start = now_ns()
                await ref.ask(i)
                samples.append(now_ns() - start)
            return {"asks": n, **latency_summary_us(samples)}

        result: Result = await _with_root(root, body)
        return result

    return trio.run(main)


@_quiet
def spawn(n: int) -> Result:
    """n idle actors under a DynamicSupervisor (one per key, as channel actors are)."""

    async def main() -> Result:
        dynamic = DynamicSupervisor(lambda key: _Idle(), max_children=n)
        root = Supervisor([ChildSpec("keyed", dynamic)])

        async def body() -> Result:
            gc.collect()
            before = rss_bytes()
            start = now_ns()
            for key in range(n):
                await dynamic.get_or_start(key)
            seconds = (now_ns() - start) / 1e9
            gc.collect()
            after = rss_bytes()
            # Every actor answers: they are live, not just allocated.
            assert await (await dynamic.get_or_start(n - 1)).ask("ping") is None
            return spawn_figures(n, seconds, before, after)

        result: Result = await _with_root(root, body)
        return result

    return trio.run(main)


async def _restarts(n: int, backoff_s: float) -> list[int]:
    """Crash-to-answer times (ns) of n restarts with a fixed backoff delay."""
    crashed_at: list[int] = []
    backoff = Backoff(min=backoff_s, max=backoff_s, multiplier=1.0, jitter=0.0)
    root = Supervisor(
        [ChildSpec("crashy", lambda: _Crashy(crashed_at))],
        backoff=backoff,
        max_restarts=n + 1,
        max_seconds=3600,
    )

    async def body() -> list[int]:
        ref = root.ref("crashy")
        samples = []
        for _ in range(n):
            await ref.tell("crash")
            await ref.ask("ping", timeout=None)  # queued until the new incarnation runs
            samples.append(now_ns() - crashed_at[-1])
        return samples

    result: list[int] = await _with_root(root, body)
    return result


async def _timer_overshoot(n: int, delay_s: float) -> list[int]:
    """How late trio's own ``sleep(delay)`` wakes up (ns): the floor under any backoff."""
    samples = []
    for _ in range(n):
        start = now_ns()
        await trio.sleep(delay_s)
        samples.append(now_ns() - start - int(delay_s * 1e9))
    return samples


@_quiet
def restart_latency(n: int = 1000, backoff_s: float = 0.001) -> Result:
    """Crash to the replacement answering, with a fixed 1 ms backoff (no jitter).

    Also measured in the same process: the same with no backoff (the restart machinery
    alone), and how late trio's own timer wakes for the same delay (the floor of any
    backoff on this machine; ``beyond_timer_*`` subtracts its median).
    """

    async def main() -> Result:
        samples = await _restarts(n, backoff_s)
        immediate = await _restarts(n, 0.0)
        overshoot = await _timer_overshoot(n, backoff_s)
        delay_ns = int(backoff_s * 1e9)
        raw = latency_summary_us(samples)
        beyond = latency_summary_us(sample - delay_ns for sample in samples)
        timer = latency_summary_us(overshoot)
        timer_p50_ns = int(timer["p50_us"] * 1000)
        net = latency_summary_us(sample - delay_ns - timer_p50_ns for sample in samples)
        no_backoff = latency_summary_us(immediate)
        return {
            "restarts": n,
            **raw,
            "backoff_us": backoff_s * 1e6,
            "beyond_backoff_p50_us": beyond["p50_us"],
            "beyond_backoff_p99_us": beyond["p99_us"],
            "beyond_backoff_mean_us": beyond["mean_us"],
            "trio_timer_overshoot_p50_us": timer["p50_us"],
            "trio_timer_overshoot_p99_us": timer["p99_us"],
            "beyond_timer_p50_us": net["p50_us"],
            "beyond_timer_p99_us": net["p99_us"],
            "no_backoff_p50_us": no_backoff["p50_us"],
            "no_backoff_p99_us": no_backoff["p99_us"],
        }

    return trio.run(main)
