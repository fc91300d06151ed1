"""The MCP subtree as run.py builds it, started for a test, with real server processes.

These suites run real child processes, so they use trio's real clock with short settings
(pings every 0.3 s, backoff from 0.2 s) and wait for *states* (a server connected, crashed,
restarted), never for fixed times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from clara.actors import ActorSystem
from clara.actors.mcp import CatalogEntry, McpSystem, mcp_subsystem, tool_records
from clara.adapters.chat import Author
from clara.adapters.mcp import McpEndpoint, test_start
from clara.config import load_settings
from clara.store import Database, McpServerConfig, SecretBox, save_mcp_server
from clara.supervisors import Backoff, Supervisor
from clara.tools import ToolRegistry

ADMIN = Author(id="1", name="ada", is_admin=True)
PERSON = Author(id="2", name="bob")

FAST = {
    "CLARA_MCP_PING_SECONDS": "0.3",
    "CLARA_MCP_PING_TIMEOUT": "1",
    "CLARA_MCP_CALL_TIMEOUT": "3",
    "CLARA_MCP_INSTALL_TIMEOUT": "60",
}


async def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a state, never a duration), or fail naming ``what``."""
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out waiting for: {what}")


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@dataclass
class Running:
    mcp: McpSystem
    root: Supervisor

    def registry(self, author: Author = ADMIN) -> ToolRegistry:
        registry = ToolRegistry()
        for provider in self.mcp.tools_for(author, "discord"):
            registry.register(provider)
        return registry

    def state(self, name: str) -> str | None:
        ref = self.mcp.servers().get(name)
        return None if ref is None else ref.statistics().state.value

    def details(self, name: str) -> dict[str, Any]:
        ref = self.mcp.servers().get(name)
        assert ref is not None, f"{name} is not running"
        return dict(ref.statistics().details or {})


async def entry_for(endpoint: McpEndpoint, source: str = "path:test") -> CatalogEntry:
    """A catalog entry for ``endpoint``, with the tools it really lists."""
    tools = await test_start(endpoint, timeout=30)
    config = McpServerConfig(
        transport=endpoint.transport,
        command=endpoint.command,
        args=list(endpoint.args),
        url=endpoint.url,
        cwd=endpoint.cwd,
        tools=tool_records(tools),
    )
    return CatalogEntry(name=endpoint.name, source=source, enabled=True, config=config)


@asynccontextmanager
async def mcp_running(
    tmp_path: Path,
    entries: list[CatalogEntry] = (),  # type: ignore[assignment]
    *,
    env: dict[str, str] | None = None,
    database: Database | None = None,
    secrets: SecretBox | None = None,
    backoff: Backoff | None = None,
) -> AsyncIterator[Running]:
    settings = load_settings(
        {"CLARA_DATA_DIR": str(tmp_path), "CLARA_STATUS_ENABLED": "false", **FAST, **(env or {})}
    )
    mcp = mcp_subsystem(
        settings,
        database=database,
        secrets=secrets,
        backoff=backoff or Backoff(min=0.2, max=1.0, jitter=0.0, reset_after=60.0),
    )
    mcp.catalog.publish({entry.name: entry for entry in entries})
    if database is not None:  # the catalog loads from the store: put them there
        for entry in entries:
            await database.run(
                lambda session, entry=entry: save_mcp_server(
                    session,
                    name=entry.name,
                    source=entry.source,
                    config=entry.config,
                    enabled=entry.enabled,
                )
            )
    root = Supervisor([mcp.spec])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, ActorSystem("clara"))
        try:
            yield Running(mcp=mcp, root=root)
        finally:
            with trio.CancelScope(shield=True):
                await root.stop()


__all__ = ["ADMIN", "PERSON", "Running", "alive", "entry_for", "mcp_running", "wait_until"]
