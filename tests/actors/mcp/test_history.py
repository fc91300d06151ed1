"""What an operator sees of a server in trouble: totals across restarts, refusals while it
is down, the next start, the last failure; tunable backoff; ``/mcp restart``; time-outs.

The servers are ``FakeMcpConnection``s under a DynamicSupervisor wired as the subsystem
wires it (each incarnation gets the catalog's ``ServerHealth`` for its server, and so does
the tool provider), on the virtual clock.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorRef, ActorState
from clara.actors._core.events import BackingOff, Restarted
from clara.actors.mcp import (
    CatalogDependencies,
    CatalogEntry,
    McpAdmin,
    McpCatalog,
    McpCatalogActor,
    McpServerActor,
    McpServerTools,
    ToolTimeout,
    ToolUnavailable,
    endpoint_of,
    server_backoff,
)
from clara.adapters.mcp import Installer
from clara.config import load_settings
from clara.store import McpServerConfig, McpToolRecord
from clara.supervisors import Backoff, DynamicSupervisor, Restart
from clara.testing import ActorTestKit, FakeMcpConnection
from clara.tools import ToolRegistry
from tests.actors.mcp.harness import ADMIN

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
PATH = "/test/servers/calc"
ENTRY = CatalogEntry(
    name="calc",
    source="path:/srv/calc",
    enabled=True,
    config=McpServerConfig(
        command="calc-server",
        tools=[McpToolRecord(name="add"), McpToolRecord(name="slow")],
    ),
)


async def add(arguments: dict[str, Any]) -> str:
    await trio.sleep(1)
    return str(arguments["a"] + arguments["b"])


async def slow(arguments: dict[str, Any]) -> str:
    await trio.sleep(3600)
    return "finally"


@dataclass
class Rig:
    kit: ActorTestKit
    servers: DynamicSupervisor
    catalog: McpCatalog
    catalog_ref: ActorRef
    admin: McpAdmin
    fake: FakeMcpConnection

    def tools(self) -> McpServerTools:
        """The provider ``McpSystem.tools_for`` makes for the server."""
        return McpServerTools(
            self.catalog.entries["calc"],
            lambda: self.servers,
            health=self.catalog.health.of("calc"),
        )

    async def status(self) -> str:
        return await self.admin.run("status", {"name": "calc"}, ADMIN)

    def state(self) -> ActorState | None:
        ref = self.servers.get("calc")
        return None if ref is None else ref.statistics().state

    async def connected_again(self) -> None:
        """The restart is made and the new incarnation has reconnected (it does at once)."""
        await self.kit.expect_event(Restarted, path=PATH, within=3600)
        while not self.fake.connected:
            await trio.sleep(0.01)


@asynccontextmanager
async def rig(tmp_path: Path, env: dict[str, str] | None = None) -> AsyncIterator[Rig]:
    settings = load_settings(
        {"CLARA_MCP_OPS_PER_MINUTE": "1000", **(env or {})}, data_dir_needed=False
    )
    mcp = settings.mcp
    fake = FakeMcpConnection({"add": add, "slow": slow}, name="calc")
    catalog = McpCatalog({"calc": ENTRY})

    def server(name: str) -> McpServerActor:
        # As mcp_subsystem builds each incarnation: the catalog's health record goes in.
        return McpServerActor(
            endpoint_of(catalog.entries[name]),
            call_timeout=min(catalog.entries[name].config.call_timeout, mcp.call_timeout),
            ping_interval=mcp.ping_seconds,
            ping_timeout=mcp.ping_timeout,
            connection_factory=fake,
            health=catalog.health.of(name),
        )

    servers = DynamicSupervisor(
        server,
        restart=Restart.TRANSIENT,
        passivate_after=mcp.idle_seconds,
        backoff=server_backoff(mcp),
        max_restarts=10_000,
        max_seconds=60.0,
        rng=random.Random(14),
    )
    async with ActorTestKit() as kit:
        await kit.start_supervisor(servers, name="servers")
        deps = CatalogDependencies(
            catalog=catalog,
            settings=mcp,
            installer=Installer(tmp_path / "servers"),
            servers=servers,
        )
        catalog_ref = await kit.spawn(lambda: McpCatalogActor(deps), name="catalog")
        admin = McpAdmin(
            catalog=catalog,
            catalog_ref=catalog_ref,
            servers=servers,
            mcp=mcp,
            discord=settings.discord,
        )
        yield Rig(kit, servers, catalog, catalog_ref, admin, fake)


# -- item 2: /mcp status during trouble ------------------------------------------------------


async def test_status_counts_across_restarts_with_refusals_and_says_when_it_starts_again(
    autojump_clock: Clock, tmp_path: Path
) -> None:
    env = {"CLARA_MCP_BACKOFF_MIN": "10", "CLARA_MCP_BACKOFF_MAX": "10"}
    async with rig(tmp_path, env) as r:
        tools = r.tools()
        for crash in range(3):
            assert await tools.call("add", {"a": 1, "b": 2}) == "3"
            in_flight = []

            async def call(into: list[BaseException] = in_flight) -> None:
                try:
                    await tools.call("add", {"a": 2, "b": 2})
                except ToolUnavailable as error:
                    into.append(error)

            r.kit.start_soon(call)
            await trio.sleep(0.5)
            r.fake.die("process 4242 was killed by SIGKILL")
            await r.kit.expect_event(BackingOff, path=PATH)
            for _ in range(2):  # the server never sees these: refused at once
                with pytest.raises(ToolUnavailable, match=r"is down .* it restarts in \d"):
                    await tools.call("add", {"a": 0, "b": 0})
            await trio.testing.wait_all_tasks_blocked()
            assert [str(failure) for failure in in_flight] == [
                "calc: process 4242 was killed by SIGKILL (connection lost)"
            ]
            if crash < 2:
                await r.connected_again()

        text = await r.status()
        assert re.match(r"- calc: down, next start in (9\.\d|10\.0)s \(attempt 3 since", text)
        assert "; 6 calls (3 failed), 6 refused while down, 3 crashes since Clara started" in text
        assert "; last failure 0s ago: calc: process 4242 was killed by SIGKILL" in text

        # The status page: the server's row and the catalog's row carry the same totals.
        details = r.servers.get("calc").statistics().details  # type: ignore[union-attr]
        assert (details["calls"], details["failed"], details["refused_while_down"]) == (6, 3, 6)
        assert details["crashes"] == 3
        [history] = r.catalog_ref.statistics().details["history"]
        assert (history["name"], history["crashes"], history["refused_while_down"]) == (
            "calc",
            3,
            6,
        )
        assert "killed by SIGKILL" in history["last_failure"]


async def test_the_totals_outlive_passivation(autojump_clock: Clock, tmp_path: Path) -> None:
    async with rig(tmp_path, {"CLARA_MCP_IDLE_SECONDS": "60"}) as r:
        tools = r.tools()
        r.fake.refuse("connection refused")
        with pytest.raises(ToolUnavailable, match="could not connect"):
            await tools.call("add", {"a": 1, "b": 1})
        r.fake.refuse(None)
        await r.connected_again()
        assert await tools.call("add", {"a": 1, "b": 1}) == "2"
        await trio.sleep(120)
        assert r.state() is None  # passivated: a new actor, and a new cell, next time
        text = await r.status()
        assert text.startswith(
            "- calc: not running (starts on first use); 2 calls (1 failed), 1 crash since "
            "Clara started; last failure 2 min ago: calc: could not connect"
        )


# -- item 4: backoff settings, and what /mcp restart does to backoff and history ------------


async def test_the_backoff_follows_its_settings_and_resets_after_stable_running(
    autojump_clock: Clock, tmp_path: Path
) -> None:
    env = {
        "CLARA_MCP_BACKOFF_MIN": "1",
        "CLARA_MCP_BACKOFF_MAX": "4",
        "CLARA_MCP_BACKOFF_RESET": "30",
    }
    async with rig(tmp_path, env) as r:
        assert await r.tools().call("add", {"a": 1, "b": 1}) == "2"
        delays = []
        for _ in range(5):
            r.fake.die()
            delays.append((await r.kit.expect_event(BackingOff, path=PATH)).delay)
            await r.connected_again()
        assert delays == pytest.approx([1, 2, 4, 4, 4], rel=0.1)
        assert max(delays) <= 4  # the cap holds, jitter included
        await trio.sleep(30)  # stable for CLARA_MCP_BACKOFF_RESET: the next wait is short again
        r.fake.die()
        assert (await r.kit.expect_event(BackingOff, path=PATH)).delay == pytest.approx(1, rel=0.1)


async def test_the_backoff_settings_default_to_what_servers_used_to_get() -> None:
    mcp = load_settings({}, data_dir_needed=False).mcp
    assert server_backoff(mcp) == Backoff(min=0.5, max=60.0, reset_after=120.0)
    short = load_settings(
        {"CLARA_MCP_BACKOFF_MIN": "5", "CLARA_MCP_BACKOFF_MAX": "2"}, data_dir_needed=False
    ).mcp
    assert server_backoff(short) == Backoff(min=2.0, max=2.0, reset_after=120.0)


async def test_restart_clears_the_backoff_at_once_and_keeps_the_history(
    autojump_clock: Clock, tmp_path: Path
) -> None:
    env = {"CLARA_MCP_BACKOFF_MIN": "300", "CLARA_MCP_BACKOFF_MAX": "300"}
    async with rig(tmp_path, env) as r:
        tools = r.tools()
        assert await tools.call("add", {"a": 1, "b": 1}) == "2"
        r.fake.die("process 4242 exited with code 1")
        await r.kit.expect_event(BackingOff, path=PATH)
        with pytest.raises(ToolUnavailable, match="is down"):
            await tools.call("add", {"a": 1, "b": 1})
        answer = await r.admin.run("restart", {"name": "calc"}, ADMIN)
        assert answer == (
            "calc is stopped and starts again on its next use, at once: its backoff is "
            "cleared (its history stays in /mcp status)."
        )
        assert r.state() is None
        asked_at = trio.current_time()
        assert await tools.call("add", {"a": 2, "b": 2}) == "4"
        assert trio.current_time() - asked_at == 1.0  # the tool's own second, no backoff
        text = await r.status()
        assert text.startswith(
            "- calc: running; 2 calls, 1 refused while down, 1 crash since Clara started; "
            "last failure 1s ago: calc: process 4242 exited with code 1"
        )


# -- item 5: a time-out on a healthy server says so ------------------------------------------


async def test_a_call_that_times_out_on_a_healthy_server_says_it_timed_out_and_the_limit(
    autojump_clock: Clock, tmp_path: Path
) -> None:
    async with rig(tmp_path, {"CLARA_MCP_CALL_TIMEOUT": "5"}) as r:
        with pytest.raises(ToolTimeout) as raised:
            await r.tools().call("slow", {})
        assert str(raised.value) == (
            "calc: timed out: slow did not answer within 5s, the limit for one call"
        )
        registry = ToolRegistry()
        registry.register(r.tools())
        result = await registry.call("calc__slow", {}, timeout=60)
        assert result.error
        assert result.text == (
            "error: ToolTimeout: calc: timed out: slow did not answer within 5s, the limit for "
            "one call"
        )
        assert r.state() is ActorState.RUNNING  # up all along: only the calls ran out of time
        assert "2 calls (2 timed out), 0 crashes" in await r.status()
