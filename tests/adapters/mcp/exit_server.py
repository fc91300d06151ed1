"""An MCP server over stdio that ends on cue, for the tests of how a death is explained.

Standard library only, so it starts in milliseconds. Like many real servers it writes a
banner on stderr as it starts ("Starting default (STDIO) server..."). Its tools: ``pid``
(its process id) and ``end`` (write ``say``, a list of lines, on stderr, then exit with
``code``). With ``EXIT_SERVER_FAIL_AT_START=N`` in its environment it writes a traceback's
last lines and exits with code N before answering anything.

    python -I tests/adapters/mcp/exit_server.py
"""

import json
import os
import sys

BANNER = "Starting default (STDIO) server..."
TOOLS = [
    {"name": "pid", "description": "This server's process id.", "inputSchema": {"type": "object"}},
    {
        "name": "end",
        "description": "Write lines on stderr, then exit with a code.",
        "inputSchema": {
            "type": "object",
            "properties": {"code": {"type": "integer"}, "say": {"type": "array"}},
        },
    },
]


def reply(request_id: object, result: object) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}) + "\n")
    sys.stdout.flush()


def handle(request: dict) -> None:  # type: ignore[type-arg]
    method = request.get("method")
    if "id" not in request:
        return  # a notification
    params = request.get("params") or {}
    if method == "initialize":
        reply(
            request["id"],
            {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "exit-server", "version": "1"},
            },
        )
    elif method == "ping":
        reply(request["id"], {})
    elif method == "tools/list":
        reply(request["id"], {"tools": TOOLS})
    elif method == "tools/call" and params.get("name") == "pid":
        reply(request["id"], {"content": [{"type": "text", "text": str(os.getpid())}]})
    elif method == "tools/call" and params.get("name") == "end":
        arguments = params.get("arguments") or {}
        for line in arguments.get("say", []):
            sys.stderr.write(f"{line}\n")
        sys.stderr.flush()
        os._exit(int(arguments.get("code", 1)))
    else:
        error = {"code": -32601, "message": f"unknown method {method}"}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}))
        sys.stdout.write("\n")
        sys.stdout.flush()


def main() -> None:
    sys.stderr.write(BANNER + "\n")
    sys.stderr.flush()
    fail = os.environ.get("EXIT_SERVER_FAIL_AT_START")
    if fail:
        sys.stderr.write('Traceback (most recent call last):\n  File "server.py", line 3\n')
        sys.stderr.write("KeyError: 'API_KEY'\n")
        sys.stderr.flush()
        os._exit(int(fail))
    for line in sys.stdin:
        if line.strip():
            handle(json.loads(line))


if __name__ == "__main__":
    main()
