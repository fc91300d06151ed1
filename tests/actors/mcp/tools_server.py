"""An MCP server written with the SDK's MCPServer, for the tests.

Run as a script it serves stdio; ``build_server()`` gives the same server for streamable HTTP
in-process. Its tools cover what the tests need: plain answers, errors, a slow tool, a tool that
blocks the server's whole event loop (a hung server), its process id, and a tool that adds a
tool and says the list changed.
"""

from __future__ import annotations

import base64
import os
import time

import anyio
from mcp.server.mcpserver import Context, MCPServer

# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def build_server() -> MCPServer:
    server = MCPServer("clara-test-tools")

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def pid() -> int:
        """This server's process id."""
        return os.getpid()

    @server.tool()
    async def slow(seconds: float) -> str:
        """Wait (without blocking the server), then answer."""
        await anyio.sleep(seconds)
        return f"waited {seconds}s"

    @server.tool()
    async def block(seconds: float) -> str:
        """Block the server's event loop: it answers nothing, pings included, meanwhile."""
        time.sleep(seconds)  # noqa: ASYNC251 - on purpose: a hung server
        return "unblocked"

    @server.tool()
    def fail(why: str) -> str:
        """Always fails."""
        raise ValueError(why)

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool named fresh, and tell the client the tool list changed."""
        server.add_tool(lambda: "fresh!", name="fresh", description="a tool added later")
        await ctx.session.send_tool_list_changed()
        return "grown"

    return server


if __name__ == "__main__":
    build_server().run("stdio")
