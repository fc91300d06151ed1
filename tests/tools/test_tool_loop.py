"""The tool loop against a fake model server, through the real gateway, in virtual time."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from clara.adapters.llm import ChatMessage, ChatRequest, Gateway, ToolSpec
from clara.testing import FakeLlmServer, Reply
from clara.tools import BuiltinTools, ToolProgress, ToolRegistry, run_tool_loop
from tests.adapters.llm.harness import openai

FIXED = dt.datetime(2026, 11, 25, 21, 30, tzinfo=dt.UTC)
REQUEST = ChatRequest(messages=[ChatMessage(role="user", content="what time is it in Paris?")])


class ExampleTools:
    """A provider of test tools: a huge result, a slow one, one that raises."""

    name = "test"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(name="big", description="a lot of text"),
            ToolSpec(name="slow", description="takes long"),
            ToolSpec(name="broken", description="fails"),
        ]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        self.calls.append(tool)
        if tool == "big":
            return "x" * 10_000
        if tool == "slow":
            await trio.sleep(100)
            return "late"
        raise RuntimeError("the tool broke")


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    mock_clock.autojump_threshold = 0.2
    return mock_clock


@asynccontextmanager
async def served() -> AsyncIterator[tuple[FakeLlmServer, Gateway, ToolRegistry, ExampleTools]]:
    server = FakeLlmServer(default=Reply("done"))
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        gateway = Gateway([openai(url)])
        registry = ToolRegistry()
        tools = ExampleTools()
        registry.register(BuiltinTools(now=lambda: FIXED))
        registry.register(tools)
        yield server, gateway, registry, tools
        await gateway.aclose()
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_full_loop_with_two_tools_and_a_truncated_result(clock: object) -> None:
    async with served() as (server, gateway, registry, _):
        server.script(
            Reply(
                tool_calls=(
                    ("clara__current_time", {"time_zone": "Europe/Paris"}),
                    ("test__big", {}),
                )
            ),
            Reply("It is 22:30 in Paris."),
        )
        progress: list[ToolProgress] = []

        async def on_progress(event: ToolProgress) -> None:
            progress.append(event)

        result = await run_tool_loop(
            gateway.complete, REQUEST, registry, max_result_chars=100, on_progress=on_progress
        )
        assert result.completion.text == "It is 22:30 in Paris."
        assert (result.rounds, result.tool_calls, result.truncated) == (2, 2, 1)
        assert [(p.tool, p.status) for p in progress] == [
            ("clara__current_time", "started"),
            ("clara__current_time", "finished"),
            ("test__big", "started"),
            ("test__big", "finished"),
        ]
        first, second = server.chat_requests()
        offered = {tool["function"]["name"] for tool in first.body["tools"]}
        assert {"clara__current_time", "test__big", "test__slow", "test__broken"} <= offered
        tool_messages = [m for m in second.body["messages"] if m["role"] == "tool"]
        assert tool_messages[0]["content"] == "Wednesday 2026-11-25 22:30 (Europe/Paris)"
        assert tool_messages[1]["content"].startswith("x" * 100 + "\n[truncated: the first 100")
        assert len(tool_messages[1]["content"]) < 200


@pytest.mark.trio
async def test_a_slow_tool_times_out_and_a_broken_one_reports_its_error(clock: object) -> None:
    async with served() as (server, gateway, registry, _):
        server.script(Reply(tool_calls=(("test__slow", {}), ("test__broken", {}))))
        start = trio.current_time()
        result = await run_tool_loop(gateway.complete, REQUEST, registry, tool_timeout=1.5)
        assert trio.current_time() - start == 1.5
        contents = [m.content for m in result.messages if m.role == "tool"]
        assert contents == [
            "error: the tool did not answer within 1.5s",
            "error: RuntimeError: the tool broke",
        ]
        assert result.completion.text == "done"


@pytest.mark.trio
async def test_the_rounds_are_bounded_and_the_last_call_asks_for_an_answer(clock: object) -> None:
    async with served() as (server, gateway, registry, _):
        server.script(*[Reply(tool_calls=(("clara__current_time", {}),))] * 3)
        result = await run_tool_loop(gateway.complete, REQUEST, registry, max_rounds=2)
        assert (result.rounds, result.tool_calls) == (3, 2)
        last = server.chat_requests()[-1].body
        assert "tools" not in last
        assert "tool budget for this reply is spent" in last["messages"][-1]["content"]


@pytest.mark.trio
async def test_cancelling_stops_the_loop_mid_tool(clock: object) -> None:
    async with served() as (server, gateway, registry, tools):
        server.script(Reply(tool_calls=(("test__slow", {}),)))
        with trio.move_on_after(3):
            await run_tool_loop(gateway.complete, REQUEST, registry, tool_timeout=50)
        assert tools.calls == ["slow"]
        assert len(server.chat_requests()) == 1  # no model call after the cancel


def test_names_are_cleaned_and_clashes_resolved_the_same_way_every_time() -> None:
    class Odd:
        def __init__(self, name: str, tools: list[str]) -> None:
            self.name, self._tools = name, tools

        def specs(self) -> list[ToolSpec]:
            return [ToolSpec(name=tool, description=tool) for tool in self._tools]

        async def call(self, tool: str, arguments: dict[str, Any]) -> str:
            return tool

    def names(order: list[Odd]) -> list[str]:
        registry = ToolRegistry()
        for provider in order:
            registry.register(provider)
        return [spec.name for spec in registry.specs()]

    first, second = Odd("my server", ["get.file", "get file"]), Odd("my.server", ["get_file"])
    assert names([first, second]) == names([second, first])
    assert names([first, second]) == [
        "my_server__get_file",
        "my_server__get_file_2",
        "my_server__get_file_3",
    ]
    long = Odd("s" * 70, ["t"])
    assert len(names([long])[0]) == 64


@pytest.mark.trio
async def test_unknown_tools_and_bad_arguments_come_back_as_errors() -> None:
    registry = ToolRegistry()
    registry.register(BuiltinTools())
    unknown = await registry.call("nope", {}, 1)
    assert unknown.error and "no tool named 'nope'" in unknown.text
    bad_zone = await registry.call("clara__current_time", {"time_zone": "Mars/Olympus"}, 1)
    assert bad_zone.error and "unknown time zone 'Mars/Olympus'" in bad_zone.text
    with pytest.raises(ValueError, match="registered already"):
        registry.register(BuiltinTools())


@pytest.mark.trio
async def test_a_low_tier_call_can_choose_the_tier(clock: object) -> None:
    from clara.adapters.llm import Tier, choose_tier  # noqa: PLC0415
    from clara.testing import Fail  # noqa: PLC0415

    async with served() as (server, gateway, _, _):
        server.script(Reply("high"), Reply("Low."), Reply("I think mid, maybe"), Fail(401))
        assert await choose_tier(gateway.complete, "prove this lemma", Tier.MID) is Tier.HIGH
        assert await choose_tier(gateway.complete, "thanks!", Tier.MID) is Tier.LOW
        assert await choose_tier(gateway.complete, "hmm", Tier.HIGH) is Tier.HIGH  # rambling
        assert await choose_tier(gateway.complete, "x", Tier.MID) is Tier.MID  # failure
        first = server.chat_requests()[0].body
        assert first["model"] == "small" and first["max_tokens"] == 3


@pytest.mark.trio
async def test_memory_search_tool_asks_the_memory_actor(clock: object) -> None:
    from clara.actors.memory import MemoryActor, searcher  # noqa: PLC0415
    from clara.testing import ActorTestKit, FakeMemory  # noqa: PLC0415

    store = FakeMemory()
    store.memories["discord:1"] = ["Ada likes green tea", "Ada lives in Lyon"]
    async with ActorTestKit() as kit:
        memory = await kit.spawn(lambda: MemoryActor(lambda: store))
        registry = ToolRegistry()
        registry.register(BuiltinTools(memory_search=searcher(memory, "discord:1")))
        result = await registry.call("clara__memory_search", {"query": "tea"}, 5)
        assert result.text == "- Ada likes green tea"
        empty = await registry.call("clara__memory_search", {"query": "football"}, 5)
        assert empty.text == "(nothing remembered about that)"
