"""LLM gateway overhead and memory-write batching.

    python -m bench.llm [--quick]

1. Overhead: the fake model server runs in its own process; this one times sequential
   completions three ways in one run: a bare httpx POST with the same body, the Gateway
   (provider encoding and parsing, breaker, retry bookkeeping), and an ask to the
   LlmGatewayActor (the path Clara's channels take). Reported: p50/p99 and the p50 added
   over bare httpx.
2. Batching: 100 replies arrive within one batching window; the memory actor's writes are
   counted against one write per message (what the old bot did), for a realistic spread
   (20 people, 5 replies each) and for the worst case (100 different people: mem0 takes one
   person per call, so nothing can be merged).

Writes bench/results/llm.json and .md.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio

from bench._harness import latency_summary_us, now_ns, write_results
from clara.actors.llm import Complete, LlmGatewayActor
from clara.actors.memory import MemoryActor, Remember
from clara.adapters.llm import ChatMessage, ChatRequest, Gateway, OpenAICompatible, Tier
from clara.testing import ActorTestKit, FakeLlmServer, FakeMemory

REPO = Path(__file__).resolve().parent.parent
TARGET_OVERHEAD_US = 1000.0
TARGET_BATCH_FACTOR = 5.0

MODELS = {Tier.HIGH: "m", Tier.MID: "m", Tier.LOW: "m"}
REQUEST = ChatRequest(
    messages=[
        ChatMessage(role="system", content="You are Clara."),
        ChatMessage(role="user", content="Hello, how are you today?"),
    ]
)


async def _serve_forever() -> None:
    server = FakeLlmServer()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        print(url, flush=True)


async def _overhead(url: str, n: int) -> dict[str, Any]:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are Clara."},
            {"role": "user", "content": "Hello, how are you today?"},
        ],
        "max_tokens": 1024,
        "stream": False,
    }
    results: dict[str, Any] = {}
    async with httpx.AsyncClient() as client:
        endpoint = f"{url}/v1/chat/completions"
        for _ in range(200):
            await client.post(endpoint, content=msgspec.json.encode(body))
        samples = []
        for _ in range(n):
            start = now_ns()
            response = await client.post(
                endpoint,
                content=msgspec.json.encode(body),
                headers={"Content-Type": "application/json"},
            )
            msgspec.json.decode(response.content)
            samples.append(now_ns() - start)
        results["bare_httpx"] = latency_summary_us(samples)
    gateway = Gateway([OpenAICompatible("fake", f"{url}/v1", None, MODELS)])
    for _ in range(200):
        await gateway.complete(REQUEST)
    samples = []
    for _ in range(n):
        start = now_ns()
        await gateway.complete(REQUEST)
        samples.append(now_ns() - start)
    results["gateway"] = latency_summary_us(samples)
    await gateway.aclose()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(
            lambda: LlmGatewayActor(
                lambda: Gateway([OpenAICompatible("fake", f"{url}/v1", None, MODELS)]),
                check_interval=3600,
            )
        )
        for _ in range(200):
            await ref.ask(Complete(request=REQUEST))
        samples = []
        for _ in range(n):
            start = now_ns()
            await ref.ask(Complete(request=REQUEST))
            samples.append(now_ns() - start)
        results["gateway_actor"] = latency_summary_us(samples)
    bare = results["bare_httpx"]["p50_us"]
    results["added_p50_us"] = {
        "gateway": round(results["gateway"]["p50_us"] - bare, 2),
        "gateway_actor": round(results["gateway_actor"]["p50_us"] - bare, 2),
    }
    return results


async def _batching(people: int, replies: int) -> dict[str, Any]:
    store = FakeMemory()
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: MemoryActor(lambda: store, batch_seconds=0.5))
        for reply in range(replies):
            await ref.tell(
                Remember(
                    user_id=f"user-{reply % people}",
                    messages=[
                        {"role": "user", "content": f"message {reply}"},
                        {"role": "assistant", "content": f"answer {reply}"},
                    ],
                )
            )
        await trio.sleep(1.0)
    messages = replies * 2
    writes = len(store.add_calls)
    return {
        "people": people,
        "replies": replies,
        "messages": messages,
        "writes_one_per_message": messages,
        "writes_batched": writes,
        "factor": round(messages / writes, 2) if writes else None,
    }


def _markdown(doc: dict[str, Any]) -> str:
    overhead = doc["overhead"]
    spread, worst = doc["batching"]
    added = overhead["added_p50_us"]["gateway_actor"]
    ok = "✓" if added <= TARGET_OVERHEAD_US else "✗"
    batch_ok = "✓" if (spread["factor"] or 0) >= TARGET_BATCH_FACTOR else "✗"
    lines = [
        f"# LLM gateway and memory batching ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']}; python -m bench.llm; {overhead['requests']} sequential "
        "completions from a fake model server in another process.",
        "",
        "| path | p50 µs | p99 µs |",
        "| --- | ---: | ---: |",
    ]
    for name in ("bare_httpx", "gateway", "gateway_actor"):
        lines.append(f"| {name} | {overhead[name]['p50_us']} | {overhead[name]['p99_us']} |")
    lines += [
        "",
        f"Added over bare httpx at p50: gateway {overhead['added_p50_us']['gateway']} µs, "
        f"gateway actor {added} µs {ok} (target ≤ {TARGET_OVERHEAD_US:g} µs).",
        "",
        "| 100 replies in one window | messages | writes, one per message | writes, batched | "
        "factor |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| from {spread['people']} people | {spread['messages']} | "
        f"{spread['writes_one_per_message']} | {spread['writes_batched']} | "
        f"{spread['factor']}× {batch_ok} |",
        f"| from {worst['people']} people (worst case) | {worst['messages']} | "
        f"{worst['writes_one_per_message']} | {worst['writes_batched']} | {worst['factor']}× |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        trio.run(_serve_forever)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.llm")
    parser.add_argument("--quick", action="store_true", help="200 completions instead of 2,000")
    arguments = parser.parse_args(argv)
    n = 200 if arguments.quick else 2000
    logging.disable(logging.CRITICAL)
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.llm", "serve"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        overhead = trio.run(_overhead, url, n)
    finally:
        server.terminate()
        server.wait(timeout=30)
    overhead["requests"] = n
    batching = [trio.run(_batching, 20, 100), trio.run(_batching, 100, 100)]
    write_results("llm", arguments.quick, {"overhead": overhead, "batching": batching}, _markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
