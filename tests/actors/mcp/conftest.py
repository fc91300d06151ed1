"""Fixtures for the MCP suites: the test server, server-everything from npm, tool settings."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import msgspec
import pytest

from clara.adapters.mcp import McpEndpoint
from tests.helpers import require

HERE = Path(__file__).parent
TOOLS_SERVER = HERE / "tools_server.py"
ROOT = HERE.parents[2]
EVERYTHING = Path(
    os.environ.get(
        "CLARA_TEST_MCP_EVERYTHING",
        ROOT / ".ci/npm/node_modules/@modelcontextprotocol/server-everything",
    )
)


def tools_endpoint(name: str = "tools", **changes: object) -> McpEndpoint:
    """The test server over stdio."""
    endpoint = McpEndpoint(name=name, command=sys.executable, args=(str(TOOLS_SERVER),))
    return msgspec.structs.replace(endpoint, **changes)


@pytest.fixture
def everything() -> McpEndpoint:
    """@modelcontextprotocol/server-everything, installed by .ci/run."""
    require(shutil.which("node"), "node (Node.js)")
    script = EVERYTHING / "dist" / "index.js"
    require(script.is_file() or None, f"server-everything at {EVERYTHING}")
    return McpEndpoint(name="everything", command="node", args=(str(script), "stdio"))
