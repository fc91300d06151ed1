"""The read-only commands: /clara channel, /model status, /memory status (issue 12, item 10)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import Actor
from clara.actors.discord import CommandDependencies, Invocation, run_command
from clara.actors.llm import LlmGatewayActor
from clara.actors.memory import MemoryActor, Recall
from clara.adapters.chat import Author
from clara.adapters.llm import Gateway
from clara.config import load_settings
from clara.store import (
    ChannelConfig,
    Database,
    GuildConfig,
    save_channel_config,
    save_guild_config,
)
from clara.testing import ActorTestKit, FakeMemory, FakeProvider

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


def ask(group: str, name: str) -> Invocation:
    author = Author(id="42", name="Bob")
    return Invocation("discord", "c1", "g1", author, group, name, {})


class Busy(Actor):
    """A channel actor in the middle of a reply, with two waiting."""

    async def on_receive(self, message: Any) -> None:
        return None

    def describe(self) -> dict[str, Any] | None:
        return {"replying": True, "queued": 2}


async def test_clara_channel_tells_mode_tier_queue_and_allow_lists(
    autojump_clock: Clock, database: Database
) -> None:
    await database.run(
        save_channel_config,
        "discord",
        "c1",
        ChannelConfig(reply_mode="active", allowed_roles=["7"]),
    )
    await database.run(
        save_guild_config,
        "discord",
        "g1",
        GuildConfig(default_tier="high", allowed_channels=["c1"]),
    )
    async with ActorTestKit() as kit:
        busy = await kit.spawn(Busy)

        async def channel(channel_id: str) -> Any:
            return busy

        deps = CommandDependencies(
            discord=load_settings({}).discord, database=database, memory=None, channel=channel
        )
        answer = await run_command(ask("clara", "channel"), deps)
    assert answer == (
        "Reply mode here: active. Default tier: high (the server's).\n"
        "Queue: replying now, 2 waiting.\n"
        "Who Clara answers here: <@&7>.\n"
        "Where Clara answers on this server: <#c1>."
    )


async def test_model_status_lists_the_providers_in_order_with_their_state(
    autojump_clock: Clock, database: Database
) -> None:
    working, broken = FakeProvider(name="openai"), FakeProvider(name="local", down=True)
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([working, broken])))
        await trio.sleep(1)  # the gateway's first health probe
        deps = CommandDependencies(
            discord=load_settings({}).discord, database=database, memory=None, llm=llm
        )
        answer = await run_command(ask("model", "status"), deps)
    lines = answer.splitlines()
    assert lines[0] == "Model providers, in failover order:"
    assert lines[1].startswith("- openai: answering")
    assert lines[2].startswith("- local: not answering")
    assert lines[-1].startswith("Default tier here: mid.")


async def test_memory_status_says_off_or_how_memory_is_doing(
    autojump_clock: Clock, database: Database
) -> None:
    settings = load_settings({}).discord
    off = CommandDependencies(discord=settings, database=database, memory=None)
    assert await run_command(ask("memory", "status"), off) == (
        "Memory is turned off (CLARA_MEMORY_ENABLED)."
    )
    async with ActorTestKit() as kit:
        memory = await kit.spawn(lambda: MemoryActor(FakeMemory))
        await memory.ask(Recall(user_id="discord:42", query="cats"))
        on = CommandDependencies(discord=settings, database=database, memory=memory)
        answer = await run_command(ask("memory", "status"), on)
    # A worker thread under autojump_clock: the search may count as too slow; it counts once.
    assert answer.startswith("Memory is on (running).\nSearches: 1 (")
    assert answer.endswith(
        "/memory search shows what I remember about you; /memory clear forgets it."
    )
