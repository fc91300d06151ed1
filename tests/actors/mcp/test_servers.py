"""MCP server actors with real server processes: calls, crashes, hangs, idleness, the cap."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from clara.adapters.llm import ChatMessage, ChatRequest, Gateway
from clara.supervisors import Backoff
from clara.testing import FakeLlmServer, Reply
from clara.tools import run_tool_loop
from tests.actors.mcp.conftest import tools_endpoint
from tests.actors.mcp.harness import alive, entry_for, mcp_running, wait_until
from tests.adapters.llm.harness import openai

pytestmark = pytest.mark.trio


async def test_a_tool_call_goes_end_to_end_through_the_tool_loop(tmp_path: Path) -> None:
    entry = await entry_for(tools_endpoint("calc"))
    server = FakeLlmServer(default=Reply("done"))
    async with trio.open_nursery() as nursery, mcp_running(tmp_path, [entry]) as running:
        url = await nursery.start(server.serve)
        gateway = Gateway([openai(url)])
        server.script(Reply(tool_calls=(("calc__add", {"a": 2, "b": 3}),)), Reply("2 + 3 = 5"))
        request = ChatRequest(messages=[ChatMessage(role="user", content="2+3?")])
        assert running.state("calc") is None  # lazily: nothing runs before the first call
        result = await run_tool_loop(gateway.complete, request, running.registry())
        assert result.completion.text == "2 + 3 = 5"
        first, second = server.chat_requests()
        offered = {tool["function"]["name"] for tool in first.body["tools"]}
        assert {"calc__add", "calc__echo", "calc__grow", "mcp__install"} <= offered
        tool_message = next(m for m in second.body["messages"] if m["role"] == "tool")
        assert tool_message["content"] == "5"
        assert running.state("calc") == "running"
        assert running.details("calc")["calls"] == 1
        await gateway.aclose()
        nursery.cancel_scope.cancel()


async def test_kill_9_mid_conversation_then_the_next_call_succeeds_after_the_backoff(
    tmp_path: Path,
) -> None:
    entry = await entry_for(tools_endpoint("tools"))
    async with mcp_running(tmp_path, [entry]) as running:
        registry = running.registry()
        first = await registry.call("tools__pid", {}, timeout=10)
        pid = int(first.text)
        assert alive(pid)
        result: list[object] = []

        async def in_flight() -> None:
            result.append(await registry.call("tools__slow", {"seconds": 30}, timeout=10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_flight)
            await wait_until(lambda: running.details("tools")["in_flight"] == 1, "a call in flight")
            os.kill(pid, signal.SIGKILL)
        # The call in flight gets an error at once, not a hang.
        assert result[0].error and "tools" in result[0].text  # type: ignore[attr-defined]
        await wait_until(lambda: running.state("tools") == "backing_off", "the actor crashed")
        down = await registry.call("tools__echo", {"text": "anyone?"}, timeout=10)
        assert down.error and "is down" in down.text and "restarts in" in down.text
        await wait_until(lambda: running.state("tools") == "running", "restarted after backoff")
        # After a crash it reconnects at once, before anyone calls.
        await wait_until(lambda: running.details("tools")["connected"], "reconnected eagerly")
        again = await registry.call("tools__pid", {}, timeout=10)
        assert not again.error and int(again.text) != pid
        stats = running.mcp.servers().get("tools").statistics()  # type: ignore[union-attr]
        assert stats.restarts == 1
        # How it ended, named; not the server's start-up banner as if it were the cause.
        failure = stats.last_failure.message  # type: ignore[union-attr]
        assert f"process {pid} was killed by SIGKILL" in failure
        assert "Starting" not in failure


async def test_a_hung_tool_hits_its_timeout_and_the_ping_restarts_the_server(
    tmp_path: Path,
) -> None:
    entry = await entry_for(tools_endpoint("tools"))
    async with mcp_running(tmp_path, [entry], env={"CLARA_MCP_CALL_TIMEOUT": "1"}) as running:
        registry = running.registry()
        pid = int((await registry.call("tools__pid", {}, timeout=10)).text)
        # block() stops the server's event loop for a minute: the call times out (1 s), and
        # the next ping (every 0.3 s, 1 s allowed) finds the server hung.
        hung = await registry.call("tools__block", {"seconds": 60}, timeout=10)
        assert hung.error and "did not answer within 1s" in hung.text
        await wait_until(lambda: running.state("tools") == "backing_off", "the ping failed")
        stats = running.mcp.servers().get("tools").statistics()  # type: ignore[union-attr]
        assert "hung: no answer to a ping" in stats.last_failure.message  # type: ignore[union-attr]
        await wait_until(lambda: not alive(pid), "the hung process is gone")
        await wait_until(lambda: running.state("tools") == "running", "restarted")
        answer = await registry.call("tools__echo", {"text": "back"}, timeout=10)
        assert answer.text == "back"


async def test_an_idle_server_is_stopped_and_started_again_on_next_use(tmp_path: Path) -> None:
    entry = await entry_for(tools_endpoint("tools"))
    async with mcp_running(tmp_path, [entry], env={"CLARA_MCP_IDLE_SECONDS": "0.5"}) as running:
        registry = running.registry()
        pid = int((await registry.call("tools__pid", {}, timeout=10)).text)
        await wait_until(lambda: running.state("tools") is None, "passivated when idle")
        await wait_until(lambda: not alive(pid), "its process is gone")
        again = int((await registry.call("tools__pid", {}, timeout=10)).text)
        assert again != pid and alive(again)


async def test_a_long_call_keeps_its_server_from_counting_as_idle(tmp_path: Path) -> None:
    entry = await entry_for(tools_endpoint("tools"))
    async with mcp_running(tmp_path, [entry], env={"CLARA_MCP_IDLE_SECONDS": "0.3"}) as running:
        registry = running.registry()
        answer = await registry.call("tools__slow", {"seconds": 1.5}, timeout=10)
        assert answer.text == "waited 1.5s"  # not cut off by a passivation mid-call


async def test_at_most_max_running_servers_run_and_the_least_recently_used_makes_room(
    tmp_path: Path,
) -> None:
    entries = [await entry_for(tools_endpoint(f"s{index}")) for index in range(3)]
    async with mcp_running(tmp_path, entries, env={"CLARA_MCP_MAX_RUNNING": "2"}) as running:
        registry = running.registry()
        pids = {}
        for name in ("s0", "s1", "s2"):
            pids[name] = int((await registry.call(f"{name}__pid", {}, timeout=10)).text)
            assert len(running.mcp.servers()) <= 2
        assert sorted(running.mcp.servers().keys()) == ["s1", "s2"]  # s0 made room
        await wait_until(lambda: not alive(pids["s0"]), "the evicted server's process ended")


async def test_the_cap_refuses_a_server_when_every_running_one_is_busy(tmp_path: Path) -> None:
    entries = [await entry_for(tools_endpoint(f"s{index}")) for index in range(2)]
    async with mcp_running(tmp_path, entries, env={"CLARA_MCP_MAX_RUNNING": "1"}) as running:
        registry = running.registry()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(registry.call, "s0__slow", {"seconds": 2}, 10)
            await wait_until(lambda: running.state("s0") == "running", "s0 busy")
            await wait_until(lambda: running.details("s0")["in_flight"] == 1, "s0 in a call")
            refused = await registry.call("s1__echo", {"text": "x"}, timeout=10)
            assert refused.error and "CLARA_MCP_MAX_RUNNING" in refused.text


async def test_a_dead_server_does_not_affect_the_others(tmp_path: Path) -> None:
    broken = tools_endpoint("broken", command="/nonexistent/mcp-server")
    entries = [await entry_for(tools_endpoint("good")), await entry_for(tools_endpoint("bad"))]
    entries[1] = entries[1].__class__(
        name="bad",
        source="path:x",
        enabled=True,
        config=entries[1].config.__class__(command=broken.command, tools=entries[1].config.tools),
    )
    backoff = Backoff(min=30.0, max=30.0, jitter=0.0)
    async with mcp_running(tmp_path, entries, backoff=backoff) as running:
        registry = running.registry()
        bad = await registry.call("bad__echo", {"text": "x"}, timeout=10)
        assert bad.error and "could not connect" in bad.text
        good = await registry.call("good__echo", {"text": "fine"}, timeout=10)
        assert good.text == "fine"
        await wait_until(lambda: running.state("bad") == "backing_off", "bad backs off")
        with trio.fail_after(1):  # fails fast: no wait for the 30 s backoff
            fast = await registry.call("bad__echo", {"text": "x"}, timeout=10)
        assert fast.error and "is down" in fast.text and "restarts in" in fast.text
        again = await registry.call("good__echo", {"text": "still fine"}, timeout=10)
        assert again.text == "still fine"


async def test_a_changed_tool_list_is_read_again_and_offered(tmp_path: Path) -> None:
    entry = await entry_for(tools_endpoint("tools"))
    async with mcp_running(tmp_path, [entry]) as running:
        assert "tools__fresh" not in {spec.name for spec in running.registry().specs()}
        await running.registry().call("tools__grow", {}, timeout=10)
        await wait_until(
            lambda: "tools__fresh" in {spec.name for spec in running.registry().specs()},
            "the catalog learnt the new tool",
        )
        fresh = await running.registry().call("tools__fresh", {}, timeout=10)
        assert fresh.text == "fresh!"


async def test_tool_errors_and_images_come_back_as_the_model_and_people_need_them(
    tmp_path: Path, everything: object
) -> None:
    entries = [await entry_for(tools_endpoint("tools")), await entry_for(everything)]  # type: ignore[arg-type]
    async with mcp_running(tmp_path, entries) as running:
        registry = running.registry()
        failed = await registry.call("tools__fail", {"why": "no reason"}, timeout=10)
        # The SDK's server hides the exception's text; the failure still reaches the model.
        assert failed.error and "Error executing tool fail" in failed.text
        echo = await registry.call("everything__echo", {"message": "hi"}, timeout=10)
        assert echo.text == "Echo: hi"
        image = await registry.call("everything__get-tiny-image", {}, timeout=10)
        assert image.files and image.files[0].name.endswith(".png")
        assert image.files[0].data.startswith(b"\x89PNG")


async def test_server_processes_never_outlive_clara_even_after_sigkill(tmp_path: Path) -> None:
    """A Clara killed with SIGKILL cannot stop its servers: the reaper does."""
    script = tmp_path / "clara_like.py"
    script.write_text(
        "import sys, trio\n"
        "from clara.adapters.mcp import McpConnection, Reaper\n"
        "from tests.actors.mcp.conftest import tools_endpoint\n"
        "async def main():\n"
        "    reaper = Reaper()\n"
        "    connection = McpConnection(tools_endpoint('t'), reaper=reaper)\n"
        "    async with trio.open_nursery() as nursery:\n"
        "        await nursery.start(connection.run)\n"
        "        print(connection.pid, flush=True)\n"
        "        await trio.sleep_forever()\n"
        "trio.run(main)\n"
    )
    root = Path(__file__).resolve().parents[3]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            functools.partial(
                trio.run_process,
                [sys.executable, str(script)],
                stdout=subprocess.PIPE,
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
                check=False,
            )
        )
        assert process.stdout is not None
        line = b""
        with trio.fail_after(30):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(100)
                assert chunk, "the Clara-like process ended before printing its server's pid"
                line += chunk
        server_pid = int(line)
        assert alive(server_pid)
        process.kill()  # SIGKILL: no cleanup runs in Clara
        await wait_until(lambda: not alive(server_pid), "the server died with Clara")
