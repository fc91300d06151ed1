"""Automatic tiers: a quick low-tier call chooses the tier of a message that names none
(CLARA_LLM_AUTO_TIER, or /model auto per server)."""

from __future__ import annotations

import msgspec
import pytest
import trio
import trio.testing

from clara.actors.channel.tiers import AUTO_TIER_TIMEOUT, choose_tier, default_tier
from clara.actors.discord import CommandDependencies, Invocation, run_command
from clara.adapters.chat import Author
from clara.adapters.llm import ChatRequest, Completion, Tier
from clara.config import LlmSettings, load_settings
from clara.errors import ActorDeadError, ProviderUnavailable
from clara.store import Database, guild_config
from clara.testing import Reply, incoming
from tests.actors.channel.test_with_fakes import channel

Clock = trio.testing.MockClock


def answering(text: str) -> object:
    async def complete(request: ChatRequest) -> Completion:
        assert request.tier is Tier.LOW
        return Completion(text=text)

    return complete


@pytest.mark.trio
async def test_the_low_tier_names_the_tier(autojump_clock: Clock) -> None:
    assert await choose_tier(answering("High."), "prove it", Tier.MID) is Tier.HIGH  # type: ignore[arg-type]
    assert await choose_tier(answering("low"), "hi!", Tier.MID) is Tier.LOW  # type: ignore[arg-type]


@pytest.mark.trio
async def test_no_clear_answer_an_error_or_slowness_leaves_the_default_tier(
    autojump_clock: Clock,
) -> None:
    assert await choose_tier(answering("banana"), "?", Tier.MID) is Tier.MID  # type: ignore[arg-type]

    async def failing(request: ChatRequest) -> Completion:
        raise ProviderUnavailable("fake", "down")

    assert await choose_tier(failing, "?", Tier.MID) is Tier.MID

    async def gateway_gone(request: ChatRequest) -> Completion:
        raise ActorDeadError("/clara/llm", "stopped")

    assert await choose_tier(gateway_gone, "?", Tier.HIGH) is Tier.HIGH

    async def slow(request: ChatRequest) -> Completion:
        await trio.sleep(60)
        return Completion(text="high")

    assert await choose_tier(slow, "?", Tier.LOW) is Tier.LOW
    assert trio.current_time() == AUTO_TIER_TIMEOUT


def test_the_default_is_the_channels_then_the_servers_then_claras() -> None:
    assert default_tier("low", "high", fallback="mid") is Tier.LOW
    assert default_tier(None, "high", fallback="mid") is Tier.HIGH
    assert default_tier(None, "nonsense", fallback="mid") is Tier.MID


@pytest.mark.trio
async def test_with_automatic_tiers_the_chosen_tier_answers(
    autojump_clock: Clock, database: Database
) -> None:
    llm = msgspec.structs.replace(LlmSettings(), auto_tier=True)
    async with channel(database, Reply("high"), Reply("a careful answer"), llm_settings=llm) as c:
        await c.ref.tell(incoming("prove Fermat's last theorem", mention=True))
        await trio.sleep(10)
        assert c.transport.texts() == ["a careful answer"]
        assert [call.request.tier for call in c.provider.requests] == [Tier.LOW, Tier.HIGH]
        await c.ref.tell(incoming("!low thanks", mention=True))  # a named tier needs no call
        await trio.sleep(10)
        assert [call.request.tier for call in c.provider.requests][2:] == [Tier.LOW]
        assert len(c.provider.requests) == 3


@pytest.mark.trio
async def test_model_auto_sets_the_servers_choice_for_administrators_only(
    database: Database,
) -> None:
    deps = CommandDependencies(discord=load_settings({}).discord, database=database, memory=None)

    def ask(mode: str, *, admin: bool = True, guild: str | None = "g1") -> Invocation:
        author = Author(id="1", name="Ada", is_admin=admin)
        return Invocation("discord", "c1", guild, author, "model", "auto", {"mode": mode})

    assert (await run_command(ask("on", admin=False), deps)).startswith("Only server admin")
    assert await run_command(ask("on"), deps) == "Automatic tiers on this server are now on."
    assert (await database.run(guild_config, "discord", "g1")).auto_tier is True
    assert await run_command(ask("default"), deps) == (
        "Automatic tiers on this server now follow Clara's own setting."
    )
    assert (await database.run(guild_config, "discord", "g1")).auto_tier is None
    assert (await run_command(ask("sometimes"), deps)).startswith("The mode must be one of")
    assert "set per server" in await run_command(ask("on", guild=None), deps)
