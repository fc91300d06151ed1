"""Every connection to a remote MCP server checks where its host points now, not only the
install: a name that re-resolves to an internal address later (DNS rebinding) is not
followed (issue 13, item 9)."""

from __future__ import annotations

import pytest
import trio

from clara.adapters.mcp import McpConnection, McpEndpoint
from clara.errors import ServerGone

pytestmark = pytest.mark.trio


def resolving_to(address: str) -> object:
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.0.0.7", "private"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
async def test_a_public_name_that_now_resolves_inside_is_not_connected_to(
    address: str, why: str
) -> None:
    endpoint = McpEndpoint(name="remote", transport="http", url="https://mcp.example.com/mcp")
    connection = McpConnection(endpoint, resolve=resolving_to(address))  # type: ignore[arg-type]
    with pytest.raises(BaseExceptionGroup) as caught:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(connection.run)
    assert caught.group_contains(
        ServerGone, match=f"remote: not connecting: mcp.example.com resolves to .*{why}", depth=None
    )
