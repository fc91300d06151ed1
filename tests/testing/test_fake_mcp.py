"""FakeMcpConnection: McpServerActor on an MCP server in memory (tools, changes, death, hangs)."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
import trio
import trio.testing

from clara.actors import ActorRef, ActorState
from clara.actors.mcp import CallTool, ListTools, McpServerActor, ToolsListed, ToolTimeout
from clara.adapters.mcp import McpEndpoint, ServerGone, ToolCallFailed, text_of
from clara.testing import ActorTestKit, FakeMcpConnection

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
ENDPOINT = McpEndpoint(name="calc", command="calc-server")


async def add(arguments: dict[str, Any]) -> str:
    await trio.sleep(2)  # a tool that takes a while
    return str(arguments["a"] + arguments["b"])


async def divide(arguments: dict[str, Any]) -> str:
    return str(arguments["a"] / arguments["b"])


async def test_tools_answer_from_python_and_each_call_is_recorded(autojump_clock: Clock) -> None:
    server = FakeMcpConnection({"add": add, "divide": divide, "motto": "carpe diem"})
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: McpServerActor(ENDPOINT, connection_factory=server))
        tools = await ref.ask(ListTools())
        assert [tool.name for tool in tools] == ["add", "divide", "motto"]
        result = await ref.ask(CallTool(tool="add", arguments={"a": 2, "b": 3}))
        assert (text_of(result), result.is_error, trio.current_time()) == ("5", False, 2.0)
        assert text_of(await ref.ask(CallTool(tool="motto"))) == "carpe diem"
        failed = await ref.ask(CallTool(tool="divide", arguments={"a": 1, "b": 0}))
        assert failed.is_error and "division by zero" in text_of(failed)
        with pytest.raises(ToolCallFailed, match="nope: unknown tool"):
            await ref.ask(CallTool(tool="nope"))
        assert [(call.tool, call.at) for call in server.calls] == [
            ("add", 0.0),
            ("motto", 2.0),
            ("divide", 2.0),
            ("nope", 2.0),
        ]
        assert server.endpoint == ENDPOINT and server.connections == 1
        assert ref.statistics().details["connected"]


async def test_a_whole_result_is_passed_through(autojump_clock: Clock) -> None:
    image = types.CallToolResult(
        content=[types.ImageContent(type="image", data="aGk=", mime_type="image/png")]
    )
    server = FakeMcpConnection({"draw": image})
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: McpServerActor(ENDPOINT, connection_factory=server))
        assert await ref.ask(CallTool(tool="draw")) == image


async def test_a_list_changed_notification_tells_the_new_tools(autojump_clock: Clock) -> None:
    server = FakeMcpConnection({"add": add})
    listed: list[ToolsListed] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(
            lambda: McpServerActor(ENDPOINT, connection_factory=server, on_tools=listed.append)
        )
        await ref.ask(ListTools())
        server.set_tools({"add": add, "subtract": divide})
        await trio.testing.wait_all_tasks_blocked()
        assert [[tool.name for tool in item.tools] for item in listed] == [
            ["add"],
            ["add", "subtract"],
        ]
        assert [tool.name for tool in await ref.ask(ListTools())] == ["add", "subtract"]


async def test_a_server_that_dies_fails_the_call_in_flight_and_its_actor_restarts(
    autojump_clock: Clock,
) -> None:
    server = FakeMcpConnection({"add": add})
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: McpServerActor(ENDPOINT, connection_factory=server))
        failures: list[BaseException] = []

        async def call() -> None:
            try:
                await ref.ask(CallTool(tool="add", arguments={"a": 1, "b": 1}))
            except ServerGone as error:
                failures.append(error)

        kit.start_soon(call)
        await trio.sleep(1)
        server.die("process 4242 exited")
        await trio.testing.wait_all_tasks_blocked()
        [failure] = failures
        assert str(failure) == "calc: process 4242 exited (connection lost)"
        assert ref.statistics().state is ActorState.BACKING_OFF
        await trio.sleep(0.1)  # the kit's backoff; a restarted server actor reconnects at once
        await trio.testing.wait_all_tasks_blocked()
        assert (server.connections, server.connected) == (2, True)
        assert ref.statistics().restarts == 1
        result = await ref.ask(CallTool(tool="add", arguments={"a": 1, "b": 1}))
        assert text_of(result) == "2"


async def test_a_hung_server_times_calls_out_and_fails_its_ping(autojump_clock: Clock) -> None:
    server = FakeMcpConnection({"add": add})
    async with ActorTestKit() as kit:
        ref = await kit.spawn(
            lambda: McpServerActor(
                ENDPOINT,
                connection_factory=server,
                call_timeout=5,
                ping_interval=30,
                ping_timeout=10,
            )
        )
        await ref.ask(ListTools())
        server.hang()
        with pytest.raises(ToolTimeout, match="add did not answer within 5s"):
            await ref.ask(CallTool(tool="add", arguments={"a": 1, "b": 1}))
        assert trio.current_time() == 5.0
        await trio.sleep(60)
        stats = ref.statistics()
        assert stats.last_failure is not None
        assert stats.last_failure.at == 40.0  # the ping at 30 s, unanswered for 10 s
        assert "calc: hung: no answer to a ping within 10s" in stats.last_failure.message
        assert server.pings == 0


async def test_a_refused_connection_fails_the_call_with_server_gone(autojump_clock: Clock) -> None:
    server = FakeMcpConnection({"add": add})
    server.refuse("connection refused")
    async with ActorTestKit() as kit:
        ref: ActorRef = await kit.spawn(lambda: McpServerActor(ENDPOINT, connection_factory=server))
        with pytest.raises(ServerGone, match="could not connect: connection refused"):
            await ref.ask(ListTools())
        server.refuse(None)
        await trio.sleep(1)  # past the backoff: the restarted actor connects
        assert [tool.name for tool in await ref.ask(ListTools())] == ["add"]
