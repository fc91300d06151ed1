"""Status endpoint benchmarks: /status and /metrics latency, and what polling costs actors.

    python -m bench.status [--actors 10000] [--seconds 4] [--quick]

One process runs a tree of N idle actors (one per key under a DynamicSupervisor, like
channel actors) plus the status endpoint on a free loopback port, and a load task that asks
actors in turn, timing every ask. A second process (this module's ``poll`` mode) is the HTTP
client: first it times sequential GET /status and GET /metrics, then it polls /status at
10 Hz while the first process times its asks. Quiet and polled windows alternate (Q P Q P),
so drift on a shared machine hits both alike. Writes bench/results/status.json and .md.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from bench._harness import latency_summary_us, now_ns, percentile, write_results
from clara.actors import Actor, ActorSystem
from clara.actors.status import GetStatusUrl, StatusEndpoint
from clara.adapters.http import StatusContext
from clara.config import StatusSettings
from clara.health import Readiness
from clara.supervisors import ChildSpec, DynamicSupervisor, Supervisor

REPO = Path(__file__).resolve().parent.parent
TARGET_STATUS_MS = 50.0
TARGET_METRICS_MS = 50.0
TARGET_P99_INCREASE = 0.10


class _Echo(Actor):
    async def on_receive(self, message: Any) -> Any:
        return message


def _client(url: str, mode: str, count: int, seconds: float) -> dict[str, Any]:
    """Run in the poller process: time GETs, or poll at 10 Hz for ``seconds``."""
    with httpx.Client(base_url=url, timeout=30) as client:
        if mode == "latency":
            figures: dict[str, Any] = {}
            for route in ("/status", "/metrics"):
                client.get(route)  # warm-up
                samples = []
                size = 0
                for _ in range(count):
                    start = time.perf_counter_ns()
                    response = client.get(route)
                    samples.append(time.perf_counter_ns() - start)
                    size = len(response.content)
                    response.raise_for_status()
                samples.sort()
                figures[route] = {
                    "requests": count,
                    "p50_ms": round(percentile(samples, 50) / 1e6, 2),
                    "p90_ms": round(percentile(samples, 90) / 1e6, 2),
                    "bytes": size,
                }
            return figures
        route = "/status" if mode == "poll" else "/status?state=backing_off,failed,stopping"
        polls = 0
        deadline = time.monotonic() + seconds
        next_poll = time.monotonic()
        while time.monotonic() < deadline:
            client.get(route).raise_for_status()
            polls += 1
            next_poll += 0.1
            time.sleep(max(0.0, next_poll - time.monotonic()))
        return {"polls": polls, "seconds": seconds}


async def _poller(url: str, mode: str, count: int, seconds: float) -> dict[str, Any]:
    result = await trio.run_process(
        [sys.executable, "-m", "bench.status", "poll", url, mode, str(count), str(seconds)],
        capture_stdout=True,
        cwd=REPO,
    )
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


async def _measure(actors: int, seconds: float, requests: int) -> dict[str, Any]:
    system = ActorSystem("clara")
    root: Supervisor | None = None

    def the_root() -> Supervisor:
        assert root is not None
        return root

    context = StatusContext(the_root, system, Readiness(), version="bench", started_at=time.time())
    channels = DynamicSupervisor(lambda key: _Echo(), max_children=actors + 1)
    root = Supervisor(
        [
            ChildSpec("status", lambda: StatusEndpoint(StatusSettings(port=0), context)),
            ChildSpec("channels", channels),
        ]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        url = await root.ref("status").ask(GetStatusUrl())
        refs = [await channels.get_or_start(key) for key in range(actors)]
        gc.collect()
        latency = await _poller(url, "latency", requests, 0)

        windows: dict[str, list[int]] = {"quiet": [], "polled": [], "filtered": []}
        phase = {"name": "quiet", "on": True}

        async def load() -> None:
            index = 0
            while phase["on"]:
                ref = refs[index % len(refs)]
                index += 7919  # a prime stride: asks spread over all actors
                start = now_ns()
                await ref.ask(index)
                windows[phase["name"]].append(now_ns() - start)
                await trio.lowlevel.checkpoint()

        nursery.start_soon(load)
        polls = {"polled": 0, "filtered": 0}
        for name in ("quiet", "polled", "filtered", "quiet", "polled", "filtered"):
            phase["name"] = name
            if name == "polled":
                polls[name] += (await _poller(url, "poll", 0, seconds))["polls"]
            elif name == "filtered":
                polls[name] += (await _poller(url, "poll-filtered", 0, seconds))["polls"]
            else:
                await trio.sleep(seconds)
        phase["on"] = False
        await root.stop()
    quiet = latency_summary_us(windows["quiet"])
    polled = latency_summary_us(windows["polled"])
    filtered = latency_summary_us(windows["filtered"])
    return {
        "actors": actors,
        "status": latency["/status"],
        "metrics": latency["/metrics"],
        "asks": {
            "quiet": {**quiet, "asks": len(windows["quiet"])},
            "polled_10hz": {**polled, "asks": len(windows["polled"]), "polls": polls["polled"]},
            "filtered_10hz": {
                **filtered,
                "asks": len(windows["filtered"]),
                "polls": polls["filtered"],
            },
            "p99_increase": round(polled["p99_us"] / quiet["p99_us"] - 1, 3),
            "p50_increase": round(polled["p50_us"] / quiet["p50_us"] - 1, 3),
            "filtered_p99_increase": round(filtered["p99_us"] / quiet["p99_us"] - 1, 3),
        },
    }


def _markdown(doc: dict[str, Any]) -> str:
    figures = doc["figures"]
    asks = figures["asks"]

    def mark(ok: bool) -> str:
        return "✓" if ok else "✗"

    status_ms = figures["status"]["p50_ms"]
    metrics_ms = figures["metrics"]["p50_ms"]
    increase = asks["p99_increase"]
    return "\n".join(
        [
            f"# Status endpoint benchmarks ({doc['mode']} run)",
            "",
            f"Measured {doc['timestamp']} with {figures['actors']:,} idle actors; "
            f"python -m bench.status{' --quick' if doc['mode'] == 'quick' else ''}.",
            "",
            "| figure | value | target |",
            "| --- | ---: | --- |",
            f"| GET /status p50 ({figures['status']['bytes']:,} bytes) | {status_ms} ms "
            f"{mark(status_ms <= TARGET_STATUS_MS)} | ≤ {TARGET_STATUS_MS:g} ms |",
            f"| GET /status p90 | {figures['status']['p90_ms']} ms | |",
            f"| GET /metrics p50 ({figures['metrics']['bytes']:,} bytes) | {metrics_ms} ms "
            f"{mark(metrics_ms <= TARGET_METRICS_MS)} | ≤ {TARGET_METRICS_MS:g} ms |",
            f"| GET /metrics p90 | {figures['metrics']['p90_ms']} ms | |",
            f"| ask p50 / p99, quiet | {asks['quiet']['p50_us']} / {asks['quiet']['p99_us']} µs"
            " | |",
            f"| ask p50 / p99, /status polled at 10 Hz | {asks['polled_10hz']['p50_us']} / "
            f"{asks['polled_10hz']['p99_us']} µs | |",
            f"| p99 increase under polling | {increase:+.1%} "
            f"{mark(increase <= TARGET_P99_INCREASE)} | ≤ +{TARGET_P99_INCREASE:.0%} |",
            f"| ask p50 / p99, `/status?state=backing_off,failed,stopping` at 10 Hz | "
            f"{asks['filtered_10hz']['p50_us']} / {asks['filtered_10hz']['p99_us']} µs | |",
            f"| p99 increase under filtered polling | {asks['filtered_p99_increase']:+.1%} | |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "poll":
        url, mode, count, seconds = argv[1], argv[2], int(argv[3]), float(argv[4])
        print(json.dumps(_client(url, mode, count, seconds)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.status")
    parser.add_argument("--actors", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each window")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="1,000 actors, 1 s windows")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.actors, arguments.seconds, arguments.requests = 1000, 1.0, 10
    logging.disable(logging.CRITICAL)
    figures = trio.run(_measure, arguments.actors, arguments.seconds, arguments.requests)
    write_results("status", arguments.quick, {"figures": figures}, _markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
