"""Remote MCP servers without OAuth: streamable HTTP and SSE; tool names for the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from clara.actors.mcp import CatalogEntry, Install
from clara.adapters.http import serve_http
from clara.adapters.mcp import SourceError
from clara.store import McpServerConfig, McpToolRecord
from tests.actors.mcp.harness import ADMIN, mcp_running
from tests.actors.mcp.tools_server import build_server

pytestmark = pytest.mark.trio


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    mock_clock.autojump_threshold = 0.2
    return mock_clock


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_a_remote_server_is_installed_by_url_and_called(
    tmp_path: Path, clock: object, transport: str
) -> None:
    server = build_server()
    app = server.streamable_http_app() if transport == "streamable-http" else server.sse_app()
    path = "/mcp" if transport == "streamable-http" else "/sse"
    # A server on loopback is installed only because the operator names its host.
    env = {"CLARA_MCP_ALLOWED_SOURCES": "url", "CLARA_MCP_ALLOW": "http://127.0.0.1:*"}
    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve_http, app, "127.0.0.1", 0)
        async with mcp_running(tmp_path, env=env) as running:
            answer = await running.mcp.admin.run(
                "install", {"source": f"{base}{path}", "name": "web"}, ADMIN
            )
            assert answer.startswith("Installed web with 7 tools"), answer
            entry = running.mcp.catalog.entries["web"]
            assert entry.config.transport == ("http" if transport == "streamable-http" else "sse")
            added = await running.registry().call("web__add", {"a": 1, "b": 2}, timeout=30)
            assert added.text == "3"
            assert running.details("web")["transport"] == entry.config.transport
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("allow", "why"),
    [
        ("", "127.0.0.1 is a loopback address. .*only when CLARA_MCP_ALLOW names its host"),
        ("http://*", "never through a wildcard"),
    ],
)
async def test_a_server_on_this_machine_is_refused_unless_the_operator_names_it(
    tmp_path: Path, allow: str, why: str
) -> None:
    env = {"CLARA_MCP_ALLOWED_SOURCES": "url", "CLARA_MCP_ALLOW": allow}
    async with mcp_running(tmp_path, env=env) as running:
        install = Install(source="http://127.0.0.1:9/mcp", name="web", by="t")
        with pytest.raises(SourceError, match=why):
            await running.mcp.catalog_ref.ask(install, timeout=None)
        assert running.mcp.catalog.entries == {}


def entry(name: str, tools: list[str]) -> CatalogEntry:
    config = McpServerConfig(command="x", tools=[McpToolRecord(name=tool) for tool in tools])
    return CatalogEntry(name=name, source="path:/x", enabled=True, config=config)


async def test_tool_names_clash_are_resolved_the_same_way_in_any_order(tmp_path: Path) -> None:
    servers = [entry("files", ["read.file", "read_file", "write"]), entry("web", ["fetch"])]
    names = []
    for ordered in (servers, servers[::-1]):
        async with mcp_running(tmp_path, ordered) as running:
            names.append([spec.name for spec in running.registry().specs()])
    assert names[0] == names[1]
    assert {"files__read_file", "files__read_file_2", "files__write", "web__fetch"} <= set(names[0])
