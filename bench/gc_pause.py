"""Garbage-collector pauses with many idle actors, without and with ``gc.freeze()``.

    python -m bench.gc_pause [--actors 100000] [--quick]

Each variant runs in a fresh interpreter (``bench._harness.run_in_subprocess``), one after
the other in one run. A variant builds a tree of N idle actors under a DynamicSupervisor
(one per key, as channel actors are, as ``bench.clara_runtime.spawn`` does); the "frozen"
variant then calls ``freeze_startup_objects()``, the step ``serve_until_signal`` takes once
the tree has started. With the tree still running it measures:

- full collections: ``gc.collect()`` timed ``--collections`` times;
- the automatic generation-2 passes while the process allocates: a workload of
  ``--allocations`` small containers (message-like dicts), each kept alive in a window of
  the ``--window`` newest (recent history, messages in flight), and as many small garbage
  cycles (what trio's frames and caught exceptions leave behind), every generation-2 pass
  timed through ``gc.callbacks``;
- how many objects a full collection walks (``gc.get_objects()``) and how many are frozen.

Writes bench/results/gc_pause.json and .md (gc_pause-quick.* with ``--quick``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from collections import deque
from typing import Any

import trio

from bench._harness import percentile, rss_bytes, run_in_subprocess, write_results
from clara.actors import Actor, ActorSystem, DeadLetters
from clara.supervisors import ChildSpec, DynamicSupervisor, Supervisor, freeze_startup_objects

Result = dict[str, Any]

VARIANTS = ("without_freeze", "with_freeze")


class _Idle(Actor):
    async def on_receive(self, message: Any) -> Any:
        return None


def _ms(samples_ns: list[int]) -> Result:
    """Count, p50 and max of nanosecond samples, in milliseconds."""
    if not samples_ns:
        return {"count": 0, "p50_ms": None, "max_ms": None}
    ordered = sorted(samples_ns)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 50) / 1e6, 2),
        "max_ms": round(ordered[-1] / 1e6, 2),
    }


def _allocate(allocations: int, window: int) -> list[int]:
    """Allocate message-like containers, keeping the newest ``window`` alive, and a small
    garbage cycle each; return the durations (ns) of the automatic generation-2 passes."""
    passes: list[int] = []
    started: list[int] = []

    def timer(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            started.append(time.perf_counter_ns())
        elif started:
            passes.append(time.perf_counter_ns() - started.pop())

    recent: deque[dict[str, Any]] = deque(maxlen=window)
    gc.callbacks.append(timer)
    try:
        for n in range(allocations):
            recent.append({"channel": n % 1000, "text": ("hello", n), "seen": [n]})
            # A small reference cycle, as trio's frames and caught exceptions leave: only the
            # collector frees it, so the allocation count grows and collections run.
            junk: list[Any] = [n]
            junk.append(junk)
    finally:
        gc.callbacks.remove(timer)
    return passes


def measure(
    actors: int,
    freeze: bool,
    collections: int = 5,
    allocations: int = 2_000_000,
    window: int = 50_000,
) -> Result:
    """One variant, in a fresh interpreter: build the tree, maybe freeze, measure pauses."""
    logging.disable(logging.CRITICAL)

    async def main() -> Result:
        dynamic = DynamicSupervisor(lambda key: _Idle(), max_children=actors)
        root = Supervisor([ChildSpec("keyed", dynamic)])
        figures: Result = {}
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run, ActorSystem("bench", DeadLetters(capacity=16)))
            start = time.perf_counter()
            for key in range(actors):
                await dynamic.get_or_start(key)
            figures["build_seconds"] = round(time.perf_counter() - start, 3)
            assert await (await dynamic.get_or_start(actors - 1)).ask("ping") is None
            figures["frozen_objects"] = freeze_startup_objects() if freeze else 0
            figures["tracked_objects"] = len(gc.get_objects())  # what a full pass walks
            figures["rss_bytes"] = rss_bytes()
            samples = []
            for _ in range(collections):
                begin = time.perf_counter_ns()
                gc.collect()
                samples.append(time.perf_counter_ns() - begin)
            figures["collect"] = _ms(samples)
            figures["automatic_gen2"] = _ms(_allocate(allocations, window))
            figures["tracked_objects_after_workload"] = len(gc.get_objects())
            await root.stop()
        return figures

    return {
        "actors": actors,
        "freeze": freeze,
        "allocations": allocations,
        "window": window,
        "gc_threshold": list(gc.get_threshold()),
        **trio.run(main),
    }


def _markdown(doc: Result) -> str:
    variants: dict[str, Result] = doc["variants"]
    names = [name for name in VARIANTS if name in variants]

    def cell(result: Result, *keys: str) -> str:
        if "error" in result or "skipped" in result:
            return str(result.get("error") or result.get("skipped"))
        value: Any = result
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return "—"
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"

    rows = [
        ("objects a full collection walks", ("tracked_objects",)),
        ("objects frozen (permanent generation)", ("frozen_objects",)),
        ("gc.collect(), p50 ms", ("collect", "p50_ms")),
        ("gc.collect(), max ms", ("collect", "max_ms")),
        ("automatic generation-2 passes while allocating", ("automatic_gen2", "count")),
        ("automatic generation-2 pass, p50 ms", ("automatic_gen2", "p50_ms")),
        ("automatic generation-2 pass, max ms", ("automatic_gen2", "max_ms")),
        ("objects walked after the workload", ("tracked_objects_after_workload",)),
        ("RSS after building the tree, bytes", ("rss_bytes",)),
        ("time to build the tree, s", ("build_seconds",)),
    ]
    first = variants[names[0]] if names else {}
    lines = [
        f"# GC pauses with {doc['actors']:,} idle actors ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']} on {doc['machine']['cpu_count']} CPUs, Python "
        f"{doc['machine']['python']}. Each column is a fresh process: a tree of "
        f'{doc["actors"]:,} idle actors under a DynamicSupervisor; "with freeze" then calls '
        "`freeze_startup_objects()` (as `serve_until_signal` does once the tree has started). "
        f"The workload allocates {first.get('allocations', 0):,} message-like dicts, keeping "
        f"the newest {first.get('window', 0):,} alive, and as many small garbage cycles; its "
        "generation-2 passes are timed through `gc.callbacks`.",
        "",
        "| figure | " + " | ".join(name.replace("_", " ") for name in names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for label, keys in rows:
        lines.append(
            f"| {label} | " + " | ".join(cell(variants[name], *keys) for name in names) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_pause", description=__doc__)
    parser.add_argument("--actors", type=int, default=100_000)
    parser.add_argument("--collections", type=int, default=5, help="gc.collect() calls timed")
    parser.add_argument("--allocations", type=int, default=2_000_000)
    parser.add_argument("--window", type=int, default=50_000, help="allocations kept alive")
    parser.add_argument("--quick", action="store_true", help="10,000 actors, 200,000 allocations")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.actors, arguments.allocations = 10_000, 200_000
    variants: Result = {}
    for name in VARIANTS:
        variants[name] = run_in_subprocess(
            "bench.gc_pause",
            "measure",
            {
                "actors": arguments.actors,
                "freeze": name == "with_freeze",
                "collections": arguments.collections,
                "allocations": arguments.allocations,
                "window": arguments.window,
            },
        )
        print(f"{name}: {variants[name]}", file=sys.stderr)
    write_results(
        "gc_pause", arguments.quick, {"actors": arguments.actors, "variants": variants}, _markdown
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
