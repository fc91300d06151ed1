"""What an MCP server's actor needs of its connection, and how it gets one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import mcp_types as types
import trio

from ..llm import ToolSpec
from ._connection import McpEndpoint

__all__ = ["Connection", "ConnectionFactory"]


class Connection(Protocol):
    """A session with one MCP server, open while ``run`` runs.

    ``McpConnection`` is the real one (the official SDK, over stdio, streamable HTTP or
    SSE); ``clara.testing.FakeMcpConnection`` is the one in memory.
    """

    @property
    def tools(self) -> list[ToolSpec]:
        """The server's tools, as last listed."""
        ...

    @property
    def server_name(self) -> str: ...

    @property
    def server_version(self) -> str: ...

    @property
    def pid(self) -> int | None:
        """The server's process (stdio servers), or None."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[Any]) -> None:
        """Connect and list the tools, report started (with the connection), then watch
        until cancelled.

        Raises:
            ServerGone: the server went away (at once if it could not be reached).
        """
        ...

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call ``tool``.

        Raises:
            ServerGone: the connection was lost.
            ToolCallFailed: the server answered with a protocol error.
        """
        ...

    async def ping(self) -> None:
        """One round trip; ``ServerGone`` if it fails (the caller bounds the wait)."""
        ...

    def explain(self, what: str) -> str:
        """``what`` happened, prefixed with the server's name (and what it last said)."""
        ...


class ConnectionFactory(Protocol):
    """Makes the connection for one incarnation of a server's actor.

    ``on_tools_changed`` is to be called with the new tools whenever the server says its
    list changed.
    """

    def __call__(
        self, endpoint: McpEndpoint, *, on_tools_changed: Callable[[list[ToolSpec]], None]
    ) -> Connection: ...
