"""Conversations under load: Clara's own overhead per reply, and a flood's effect on others.

    python -m bench.conversations [--quick] [--postgres URL | --no-postgres]

A fake model actor answers every completion after a fixed latency (no HTTP, so what is
measured is Clara: the channel actors, the store, the queue, the chunking). A reply's
overhead is (reply sent - message told) - the model's latency.

Everything runs twice, each time in a fresh interpreter: on a SQLite file, and on a
PostgreSQL database made for the run (``CREATE DATABASE`` on the server of ``--postgres``,
default postgresql://127.0.0.1:5432/test; dropped afterwards). A server that cannot be
reached makes the PostgreSQL half "skipped", with the reason, and the SQLite half still runs.

1. 1,000 channels active at once, 10 messages each, sent in rounds (each round waits for
   its replies, as people wait for an answer before writing again).
2. A flood of 10,000 messages into one channel, while 100 other channels talk as usual:
   their p99 against the same 100 channels without the flood, and the process's RSS.

Writes bench/results/conversations.json and .md (``-quick`` with ``--quick``): the figures
of each store under ``figures.sqlite`` and ``figures.postgresql``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

from bench._harness import latency_summary_us, rss_bytes, run_in_subprocess, write_results
from clara.actors import Actor, Overflow
from clara.actors.channel import ChannelActor, ChannelDependencies
from clara.actors.llm import Complete
from clara.adapters.llm import Completion
from clara.config import load_settings
from clara.store import Database, make_engine, upgrade
from clara.supervisors import ChildSpec, DynamicSupervisor, freeze_startup_objects
from clara.testing import ActorTestKit, incoming, throwaway_postgresql

LLM_LATENCY = 0.05
TARGET_OVERHEAD_P99_MS = 5.0
TARGET_FIRST_P99_MS = 20.0
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

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        return False

    async def wait(self, message_id: str) -> None:
        if message_id in self.sent_at:
            return
        event = self._waiters.setdefault(message_id, trio.Event())
        await event.wait()


#: The sizes of a full run and of ``--quick``: channels, messages per channel, flood
#: messages, other channels during the flood, pause between a reply and the next message.
FULL = {"channels": 1000, "rounds": 10, "flood": 10_000, "others": 100, "pause": (5.0, 15.0)}
QUICK = {"channels": 100, "rounds": 3, "flood": 2000, "others": 20, "pause": (0.5, 1.5)}

DEFAULT_POSTGRES = "postgresql://127.0.0.1:5432/test"


def measure(store: str, quick: bool, postgres: str = DEFAULT_POSTGRES) -> dict[str, Any]:
    """Both scenarios on one store (``"sqlite"`` or ``"postgresql"``); run in a fresh process.

    For PostgreSQL, ``postgres`` names the server: a database is created there for the run
    and dropped after it.
    """
    logging.disable(logging.CRITICAL)
    sizes = QUICK if quick else FULL
    with contextlib.ExitStack() as cleanup:
        data = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="clara-bench-")))
        if store == "sqlite":
            url = f"sqlite:///{data / 'clara.db'}"
        elif store == "postgresql":
            try:
                url = cleanup.enter_context(throwaway_postgresql(postgres))
            except Exception as error:
                return {"skipped": f"PostgreSQL at {postgres}: {error}".splitlines()[0]}
        else:
            raise ValueError(f"store: expected 'sqlite' or 'postgresql', got {store!r}")
        engine = make_engine(url, pool_size=5)
        upgrade(engine)
        database = Database(engine)
        cleanup.callback(database.dispose)
        figures = trio.run(
            _run,
            database,
            data,
            sizes["channels"],
            sizes["rounds"],
            sizes["flood"],
            sizes["others"],
            sizes["pause"],
        )
        writer = database.write_statistics()
        figures["writer"] = {
            "transactions": writer.transactions,
            "writes": writer.writes,
            "largest_batch": writer.largest_batch,
        }
        return {"store": store, **figures}


async def _run(
    database: Database,
    data: Path,
    channels: int,
    rounds: int,
    flood: int,
    others: int,
    pause: tuple[float, float],
) -> dict[str, Any]:
    settings = load_settings(
        {
            "CLARA_DATA_DIR": str(data),
            "CLARA_DISCORD_USER_RATE": "100000",
            "CLARA_CHANNEL_MAILBOX": "50",
        }
    )
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
        freeze_startup_objects()  # as run.py does once the tree is up

        # 1. Many channels at once: each person writes, waits for the answer, reads it
        # (a pause), writes again. A busy Discord channel sees a message every few seconds.
        overheads: list[int] = []
        warm: list[int] = []
        first_messages: list[int] = []
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
                else:
                    first_messages.append(int((took - LLM_LATENCY) * 1e9))

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
            **{
                "first_" + key.replace("_us", "_ms"): round(value / 1000, 3)
                for key, value in latency_summary_us(first_messages).items()
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

        await others_round("warm-up")  # each channel's first message is measured above
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
    return results


STORES = ("sqlite", "postgresql")


def _markdown(doc: dict[str, Any]) -> str:
    measured = {
        store: doc["figures"][store]
        for store in STORES
        if "many_channels" in doc["figures"].get(store, {})
    }
    lines = [
        f"# Conversations under load ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']}; python -m bench.conversations; a fake model with "
        f"{LLM_LATENCY * 1000:g} ms latency.",
        "",
    ]
    for store in STORES:
        figures = doc["figures"].get(store, {})
        if store not in measured:
            reason = figures.get("skipped") or figures.get("error") or "not run"
            lines += [f"{store}: not measured ({reason}).", ""]
    if not measured:
        return "\n".join(lines)

    def row(label: str, cell: Any, target: str = "") -> str:
        cells = " | ".join(cell(figures) for figures in measured.values())
        return f"| {label} | {cells} | {target} |"

    def overhead_ok(p99: float) -> str:
        return "✓" if p99 <= TARGET_OVERHEAD_P99_MS else "✗"

    def first_ok(value: float | None) -> str:
        return "" if value is None else ("✓" if value <= TARGET_FIRST_P99_MS else "✗")

    def flood_ok(increase: float) -> str:
        return "✓" if increase <= TARGET_FLOOD_P99_INCREASE else "✗"

    first = next(iter(measured.values()))
    many_size = (
        f"{first['many_channels']['channels']:,} channels × "
        f"{first['many_channels']['messages'] // first['many_channels']['channels']} messages"
    )
    flood_size = f"{first['flood']['flood_messages']:,}-message flood into one channel"
    lines += [
        "| figure | " + " | ".join(measured) + " | target |",
        "| --- | " + " | ".join("---:" for _ in measured) + " | --- |",
        row(
            f"Clara's overhead per reply, {many_size}: p50",
            lambda f: f"{f['many_channels']['p50_ms']} ms",
        ),
        row(
            "same, p99",
            lambda f: (
                f"{f['many_channels']['p99_ms']} ms " + overhead_ok(f["many_channels"]["p99_ms"])
            ),
            f"≤ {TARGET_OVERHEAD_P99_MS:g} ms",
        ),
        row(
            "same, each channel's first message left out (its actor, settings and history "
            "loaded): p50",
            lambda f: f"{f['many_channels']['warm_p50_ms']} ms",
        ),
        row(
            "same, first messages left out: p99",
            lambda f: (
                f"{f['many_channels']['warm_p99_ms']} ms "
                + overhead_ok(f["many_channels"]["warm_p99_ms"])
            ),
            f"≤ {TARGET_OVERHEAD_P99_MS:g} ms",
        ),
        row(
            "each channel's first message alone: p99",
            lambda f: (
                f"{f['many_channels'].get('first_p99_ms', '?')} ms "
                + first_ok(f["many_channels"].get("first_p99_ms"))
            ),
            f"≤ {TARGET_FIRST_P99_MS:g} ms",
        ),
        row(
            "writer transactions / writes (largest batch)",
            lambda f: (
                f"{f['writer']['transactions']:,} / {f['writer']['writes']:,} "
                f"({f['writer']['largest_batch']})"
            ),
        ),
        row(
            "other channels' reply p99 without a flood",
            lambda f: f"{f['flood']['quiet_p99_ms']} ms",
        ),
        row(f"same during a {flood_size}", lambda f: f"{f['flood']['flooded_p99_ms']} ms"),
        row(
            "increase",
            lambda f: f"{f['flood']['p99_increase']:+.1%} " + flood_ok(f["flood"]["p99_increase"]),
            f"≤ +{TARGET_FLOOD_P99_INCREASE:.0%}",
        ),
        row(
            "flood messages refused by the full mailbox / answered busy",
            lambda f: (
                f"{f['flood']['refused_by_mailbox']:,} / {f['flood']['answered_busy'] or 0:,}"
            ),
        ),
        row(
            "RSS growth during the flood",
            lambda f: f"{f['flood']['rss_growth_bytes'] / 1e6:.1f} MB",
            "bounded",
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.conversations")
    parser.add_argument("--quick", action="store_true", help="100 channels, 2,000-message flood")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=DEFAULT_POSTGRES,
        help="the PostgreSQL server to make a database on for the run "
        f"(default {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    arguments = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    for store in STORES:
        if store == "postgresql" and arguments.no_postgres:
            figures[store] = {"skipped": "--no-postgres"}
            continue
        # A fresh interpreter per store: one store's heap and threads never weigh on the
        # other's timings.
        figures[store] = run_in_subprocess(
            "bench.conversations",
            "measure",
            {"store": store, "quick": arguments.quick, "postgres": arguments.postgres},
            timeout=1800,
        )
    write_results("conversations", arguments.quick, {"figures": figures}, _markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
