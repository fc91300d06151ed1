"""Conversations under load: Clara's own overhead per reply, and a flood's effect on others.

    python -m bench.conversations [--quick]

A fake model actor answers every completion after a fixed latency (no HTTP, so what is
measured is Clara: the channel actors, the store on SQLite, the queue, the chunking). A
reply's overhead is (reply sent - message told) - the model's latency.

1. 1,000 channels active at once, 10 messages each, sent in rounds (each round waits for
   its replies, as people wait for an answer before writing again).
2. A flood of 10,000 messages into one channel, while 100 other channels talk as usual:
   their p99 against the same 100 channels without the flood, and the process's RSS.

Writes bench/results/conversations.json and .md.
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

from bench._harness import latency_summary_us, rss_bytes, write_results
from clara.actors import Actor, Overflow
from clara.actors.channel import ChannelActor, ChannelDependencies
from clara.actors.llm import Complete
from clara.adapters.llm import Completion
from clara.config import load_settings
from clara.store import Database, make_engine, upgrade
from clara.supervisors import ChildSpec, DynamicSupervisor
from clara.testing import ActorTestKit, incoming

LLM_LATENCY = 0.05
TARGET_OVERHEAD_P99_MS = 5.0
TARGET_FLOOD_P99_INCREASE = 0.10


class FixedLatencyModel(Actor):
    """Answers every Complete after LLM_LATENCY seconds, many at once."""

    async def on_receive(self, message: Any) -> Any:
        assert isinstance(message, Complete)
        reply = self.context.defer()

        async def answer() -> None:
            await trio.sleep(LLM_LATENCY)
            reply.reply(Completion(text="ok", provider="fake", model="fake"))

        self.context.start_task(answer)
        return None


class TimingTransport:
    """Notes when each reply (to a message id) is sent."""

    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}
        self.notices = 0
        self._waiters: dict[str, trio.Event] = {}

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Any = (),
    ) -> str:
        if text == "ok" and reply_to is not None:
            self.sent_at[reply_to] = time.perf_counter()
            waiter = self._waiters.pop(reply_to, None)
            if waiter is not None:
                waiter.set()
        else:
            self.notices += 1
        return "x"

    async def typing(self, channel_id: str) -> None:
        return None

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        return None

    async def wait(self, message_id: str) -> None:
        if message_id in self.sent_at:
            return
        event = self._waiters.setdefault(message_id, trio.Event())
        await event.wait()


async def _run(
    channels: int, rounds: int, flood: int, others: int, pause: tuple[float, float]
) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="clara-bench-"))
    settings = load_settings(
        {
            "CLARA_DATA_DIR": str(data),
            "CLARA_DISCORD_USER_RATE": "100000",
            "CLARA_CHANNEL_MAILBOX": "50",
        }
    )
    engine = make_engine(f"sqlite:///{data / 'clara.db'}", pool_size=5)
    upgrade(engine)
    database = Database(engine)
    transport = TimingTransport()
    results: dict[str, Any] = {}
    async with ActorTestKit() as kit:
        model = await kit.spawn(FixedLatencyModel, mailbox_capacity=100_000)
        deps = ChannelDependencies(
            transport=transport,
            llm=model,
            discord=settings.discord,
            llm_settings=settings.llm,
            database=database,
            time_zone_of=lambda message: "UTC",
        )
        supervisor = DynamicSupervisor(
            lambda key: ChannelActor("discord", key, deps),
            max_children=channels + others + 10,
            mailbox_capacity=200,
            overflow=Overflow.REJECT,
            max_restarts=1000,
        )
        await kit.supervisor.start_child(ChildSpec("channels", supervisor))
        refs = [await supervisor.get_or_start(f"c{n}") for n in range(channels)]

        # 1. Many channels at once: each person writes, waits for the answer, reads it
        # (a pause), writes again. A busy Discord channel sees a message every few seconds.
        overheads: list[int] = []
        warm: list[int] = []
        rng = random.Random(7)

        async def conversation(n: int, ref: Any) -> None:
            for round_number in range(rounds):
                await trio.sleep(rng.uniform(*pause))
                message = incoming(
                    f"round {round_number}", channel_id=f"c{n}", author=f"u{n}", mention=True
                )
                told = time.perf_counter()
                await ref.tell(message)
                await transport.wait(message.message_id)
                took = transport.sent_at[message.message_id] - told
                overheads.append(int((took - LLM_LATENCY) * 1e9))
                if round_number > 0:  # the channel's actor, settings and history are loaded
                    warm.append(int((took - LLM_LATENCY) * 1e9))

        async with trio.open_nursery() as nursery:
            for n, ref in enumerate(refs):
                nursery.start_soon(conversation, n, ref)
        results["many_channels"] = {
            "channels": channels,
            "messages": channels * rounds,
            **{
                key.replace("_us", "_ms"): round(value / 1000, 3)
                for key, value in latency_summary_us(overheads).items()
            },
            **{
                "warm_" + key.replace("_us", "_ms"): round(value / 1000, 3)
                for key, value in latency_summary_us(warm).items()
            },
        }

        # 2. A flood into one channel, and the others' latency with and without it.
        other_refs = [await supervisor.get_or_start(f"o{n}") for n in range(others)]

        async def others_round(tag: str) -> list[int]:
            samples: list[int] = []
            for round_number in range(5):
                messages = []
                told: dict[str, float] = {}
                for n, ref in enumerate(other_refs):
                    message = incoming(
                        f"{tag} {round_number}", channel_id=f"o{n}", author=f"o{n}", mention=True
                    )
                    messages.append(message)
                    told[message.message_id] = time.perf_counter()
                    await ref.tell(message)
                async with trio.open_nursery() as nursery:
                    for message in messages:
                        nursery.start_soon(transport.wait, message.message_id)
                for message in messages:
                    samples.append(
                        int(
                            (transport.sent_at[message.message_id] - told[message.message_id]) * 1e9
                        )
                    )
            return samples

        quiet = latency_summary_us(await others_round("quiet"))
        gc.collect()
        rss_before = rss_bytes()
        flooded = await supervisor.get_or_start("flooded")
        refused = 0

        async def flooder() -> None:
            nonlocal refused
            for n in range(flood):
                try:
                    flooded.tell_nowait(
                        incoming(
                            f"spam {n}", channel_id="flooded", author=f"s{n % 100}", mention=True
                        )
                    )
                except Exception:
                    refused += 1
                if n % 100 == 0:
                    await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flooder)
            noisy = latency_summary_us(await others_round("noisy"))
        gc.collect()
        rss_after = rss_bytes()
        details = flooded.statistics().details or {}
        results["flood"] = {
            "flood_messages": flood,
            "other_channels": others,
            "quiet_p50_ms": round(quiet["p50_us"] / 1000, 3),
            "quiet_p99_ms": round(quiet["p99_us"] / 1000, 3),
            "flooded_p50_ms": round(noisy["p50_us"] / 1000, 3),
            "flooded_p99_ms": round(noisy["p99_us"] / 1000, 3),
            "p99_increase": round(noisy["p99_us"] / quiet["p99_us"] - 1, 3),
            "refused_by_mailbox": refused,
            "answered_busy": details.get("busy"),
            "queued_at_end": details.get("queued"),
            "rss_growth_bytes": rss_after - rss_before,
        }
    database.dispose()
    return results


def _markdown(doc: dict[str, Any]) -> str:
    many = doc["figures"]["many_channels"]
    flood = doc["figures"]["flood"]
    ok = "✓" if many["p99_ms"] <= TARGET_OVERHEAD_P99_MS else "✗"
    flood_ok = "✓" if flood["p99_increase"] <= TARGET_FLOOD_P99_INCREASE else "✗"
    return "\n".join(
        [
            f"# Conversations under load ({doc['mode']} run)",
            "",
            f"Measured {doc['timestamp']}; python -m bench.conversations; a fake model with "
            f"{LLM_LATENCY * 1000:g} ms latency; SQLite store.",
            "",
            "| figure | value | target |",
            "| --- | ---: | --- |",
            f"| Clara's overhead per reply, {many['channels']:,} channels × "
            f"{many['messages'] // many['channels']} messages: p50 | {many['p50_ms']} ms | |",
            f"| same, p99 | {many['p99_ms']} ms {ok} | ≤ {TARGET_OVERHEAD_P99_MS:g} ms |",
            f"| same, each channel's first message left out (its actor, settings and history "
            f"loaded): p50 / p99 | {many['warm_p50_ms']} / {many['warm_p99_ms']} ms | |",
            f"| other channels' reply p99 without a flood | {flood['quiet_p99_ms']} ms | |",
            f"| same during a {flood['flood_messages']:,}-message flood into one channel | "
            f"{flood['flooded_p99_ms']} ms | |",
            f"| increase | {flood['p99_increase']:+.1%} {flood_ok} | ≤ "
            f"+{TARGET_FLOOD_P99_INCREASE:.0%} |",
            f"| flood messages refused by the full mailbox / answered busy | "
            f"{flood['refused_by_mailbox']:,} / {flood['answered_busy']:,} | |",
            f"| RSS growth during the flood | {flood['rss_growth_bytes'] / 1e6:.1f} MB | bounded |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.conversations")
    parser.add_argument("--quick", action="store_true", help="100 channels, 2,000-message flood")
    arguments = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    if arguments.quick:
        figures = trio.run(_run, 100, 3, 2000, 20, (0.5, 1.5))
    else:
        figures = trio.run(_run, 1000, 10, 10_000, 100, (5.0, 15.0))
    write_results("conversations", arguments.quick, {"figures": figures}, _markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
