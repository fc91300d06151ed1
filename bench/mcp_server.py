"""A minimal MCP server over stdio, for the benchmarks: plain JSON-RPC, standard library only.

It starts in a few milliseconds (no SDK to import), so what the benchmarks measure is Clara
and the SDK client, not a server's start-up. It speaks enough of the protocol for a client:
``initialize`` (echoing the version asked for), ``ping``, ``tools/list`` (one tool, ``echo``)
and ``tools/call``.

    python -I bench/mcp_server.py
"""

import json
import sys

TOOLS = [
    {
        "name": "echo",
        "description": "Say the text back.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    }
]


def answer(request: dict) -> dict | None:  # type: ignore[type-arg]
    method = request.get("method")
    if "id" not in request:
        return None  # a notification
    result: object
    if method == "initialize":
        version = request.get("params", {}).get("protocolVersion", "2025-06-18")
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "bench-echo", "version": "1"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        text = request.get("params", {}).get("arguments", {}).get("text", "")
        result = {"content": [{"type": "text", "text": text}], "isError": False}
    else:
        return {
            "jsonrpc": "2.0",
            "id": request["id"],
            "error": {"code": -32601, "message": f"unknown method {method}"},
        }
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
