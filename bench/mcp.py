"""MCP servers: what Clara adds to a tool call, how fast a killed server is back, what idle
servers cost.

    python -m bench.mcp [--quick]

Every server here is ``bench/mcp_server.py`` (plain JSON-RPC over stdio, standard library
only: it starts in milliseconds), so the figures are Clara's and the SDK client's, not a
server's. Each part runs in a fresh interpreter.

1. Overhead: sequential ``echo`` calls, interleaved one for one: a direct SDK call
   (``stdio_client`` + ``ClientSession.call_tool``) and the same call through Clara (the
   tool registry → ``McpServerTools`` → the server's actor → its connection), each against its
   own process of the same server. Target: ≤ 2 ms added at p50.
2. Recovery: the server process is killed with SIGKILL; the supervisor restarts its actor
   after a fixed 0.5 s backoff. Measured: from the end of that delay (the restart time the
   supervisor scheduled) to the first answered call. Target: ≤ 100 ms.
3. Bounded: 200 configured servers, at most 20 running (``CLARA_MCP_MAX_RUNNING``): open file
   descriptors, RSS, and server processes with none in use, with 20 in use, and after calls
   to all 200 in turn (twice: growth between the two turns would be a leak); and the same
   with 20 configured, for the cost of the catalog itself.

Writes bench/results/mcp.json and .md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from bench._harness import (
    failed_part,
    latency_summary_us,
    now_ns,
    rss_bytes,
    run_in_subprocess,
    write_results,
)

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "bench" / "mcp_server.py"
TARGET_ADDED_P50_US = 2000.0
TARGET_RECOVERY_MS = 100.0
BACKOFF_S = 0.5


def _entry(name: str) -> Any:
    from clara.actors.mcp import CatalogEntry  # noqa: PLC0415
    from clara.store import McpServerConfig, McpToolRecord  # noqa: PLC0415

    config = McpServerConfig(
        command=sys.executable,
        args=["-I", str(SERVER)],
        tools=[McpToolRecord(name="echo", parameters={"type": "object"})],
    )
    return CatalogEntry(name=name, source="path:bench", enabled=True, config=config)


def _mcp(data_dir: str, names: list[str], env: dict[str, str] | None = None) -> Any:
    from clara.actors.mcp import mcp_subsystem  # noqa: PLC0415
    from clara.config import load_settings  # noqa: PLC0415
    from clara.supervisors import Backoff  # noqa: PLC0415

    settings = load_settings(
        {"CLARA_DATA_DIR": data_dir, "CLARA_STATUS_ENABLED": "false", **(env or {})}
    )
    backoff = Backoff(min=BACKOFF_S, max=BACKOFF_S, jitter=0.0)
    mcp = mcp_subsystem(settings, database=None, secrets=None, backoff=backoff)
    mcp.catalog.publish({name: _entry(name) for name in names})
    return mcp


async def _with_tree(mcp: Any, body: Any) -> Any:
    from clara.actors import ActorSystem  # noqa: PLC0415
    from clara.supervisors import Supervisor  # noqa: PLC0415

    root = Supervisor([mcp.spec])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, ActorSystem("clara"))
        try:
            return await body()
        finally:
            await root.stop()
            nursery.cancel_scope.cancel()


def _registry(mcp: Any) -> Any:
    from clara.adapters.chat import Author  # noqa: PLC0415
    from clara.tools import ToolRegistry  # noqa: PLC0415

    registry = ToolRegistry()
    for provider in mcp.tools_for(Author(id="1", name="bench", is_admin=True), "bench"):
        registry.register(provider)
    return registry


# --------------------------------------------------------------------------- 1. overhead


def overhead(calls: int) -> dict[str, Any]:
    logging.disable(logging.CRITICAL)
    return trio.run(_overhead, calls)


async def _overhead(calls: int) -> dict[str, Any]:
    from mcp.client.session import ClientSession  # noqa: PLC0415
    from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: PLC0415

    direct_ns: list[int] = []
    clara_ns: list[int] = []
    with tempfile.TemporaryDirectory() as data_dir:
        mcp = _mcp(data_dir, ["bench"])

        async def body() -> None:
            registry = _registry(mcp)
            parameters = StdioServerParameters(command=sys.executable, args=["-I", str(SERVER)])
            async with (
                stdio_client(parameters) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                for index in range(calls + 50):
                    start = now_ns()
                    result = await session.call_tool("echo", {"text": "hello"})
                    middle = now_ns()
                    answer = await registry.call("bench__echo", {"text": "hello"}, timeout=30)
                    end = now_ns()
                    assert result.content[0].text == "hello" and answer.text == "hello"  # type: ignore[union-attr]
                    if index >= 50:  # warm-up done
                        direct_ns.append(middle - start)
                        clara_ns.append(end - middle)

        await _with_tree(mcp, body)
    direct, clara = latency_summary_us(direct_ns), latency_summary_us(clara_ns)
    return {
        "calls": calls,
        "direct_sdk": direct,
        "through_clara": clara,
        "added_p50_us": round(clara["p50_us"] - direct["p50_us"], 2),
    }


# --------------------------------------------------------------------------- 2. recovery


def recovery(rounds: int) -> dict[str, Any]:
    logging.disable(logging.CRITICAL)
    return trio.run(_recovery, rounds)


async def _recovery(rounds: int) -> dict[str, Any]:
    from clara.actors import ActorState  # noqa: PLC0415
    from clara.adapters.mcp import McpConnection, McpEndpoint  # noqa: PLC0415

    after_backoff_ms: list[float] = []
    cold_starts_ms: list[float] = []
    with tempfile.TemporaryDirectory() as data_dir:
        mcp = _mcp(data_dir, ["bench"])

        async def body() -> None:
            registry = _registry(mcp)
            for _ in range(rounds):
                await registry.call("bench__echo", {"text": "up"}, timeout=30)
                ref = mcp.servers().get("bench")
                pid = ref.statistics().details["pid"]
                os.kill(pid, signal.SIGKILL)
                while True:  # crashed, and its supervisor has scheduled the restart
                    stats = ref.statistics()
                    backoff = stats.backoff
                    if stats.state is ActorState.BACKING_OFF and backoff and backoff.next_start_at:
                        break
                    await trio.sleep(0.0005)
                restart_at = stats.backoff.next_start_at
                while True:
                    if ref.statistics().state is ActorState.RUNNING:
                        answer = await registry.call("bench__echo", {"text": "again"}, timeout=30)
                        if not answer.error:
                            break
                    await trio.sleep(0.0005)
                after_backoff_ms.append((trio.current_time() - restart_at) * 1000)
                # For scale: a cold start of the same server, straight through the SDK.
                start = trio.current_time()
                connection = McpConnection(
                    McpEndpoint(name="cold", command=sys.executable, args=("-I", str(SERVER)))
                )
                async with trio.open_nursery() as nursery:
                    await nursery.start(connection.run)
                    await connection.call_tool("echo", {"text": "cold"})
                    cold_starts_ms.append((trio.current_time() - start) * 1000)
                    nursery.cancel_scope.cancel()

        await _with_tree(mcp, body)
    ordered = sorted(after_backoff_ms)
    return {
        "rounds": rounds,
        "backoff_s": BACKOFF_S,
        "answered_after_backoff_ms": [round(value, 2) for value in after_backoff_ms],
        "median_ms": round(ordered[len(ordered) // 2], 2),
        "max_ms": round(ordered[-1], 2),
        "server_cold_start_median_ms": round(sorted(cold_starts_ms)[len(cold_starts_ms) // 2], 2),
    }


# --------------------------------------------------------------------------- 3. bounded


def _usage() -> dict[str, Any]:
    fds = len(os.listdir("/proc/self/fd"))
    children = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listing:
            children.extend(int(pid) for pid in listing.read().split())
    servers = [pid for pid in children if "mcp_server.py" in _cmdline(pid)]
    return {
        "fds": fds,
        "rss_mb": round(rss_bytes() / 2**20, 1),
        "server_processes": len(servers),
        "servers_rss_mb": round(sum(_rss_kb(pid) for pid in servers) / 1024, 1),
    }


def _rss_kb(pid: int) -> int:
    """A server process's resident set (another process: read from /proc)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().decode(errors="replace")
    except OSError:
        return ""


def bounded(configured: int, in_use: int) -> dict[str, Any]:
    logging.disable(logging.CRITICAL)
    return trio.run(_bounded, configured, in_use)


async def _bounded(configured: int, in_use: int) -> dict[str, Any]:
    names = [f"s{index:03d}" for index in range(configured)]
    figures: dict[str, Any] = {"configured": configured, "max_running": in_use}
    with tempfile.TemporaryDirectory() as data_dir:
        mcp = _mcp(data_dir, names, {"CLARA_MCP_MAX_RUNNING": str(in_use)})

        async def body() -> None:
            registry = _registry(mcp)
            await trio.sleep(0.2)
            figures["none_in_use"] = _usage()
            for name in names[:in_use]:
                await registry.call(f"{name}__echo", {"text": "x"}, timeout=30)
            await trio.sleep(0.2)
            figures["in_use"] = _usage()
            most = 0
            for phase in ("after_all_used_in_turn", "after_a_second_turn"):
                for name in names:
                    await registry.call(f"{name}__echo", {"text": "x"}, timeout=30)
                    most = max(most, len(mcp.servers()))
                await trio.sleep(3.0)  # the evicted ones finish closing (stdin EOF, then exit)
                figures[phase] = _usage()
            figures["most_running_at_once"] = most

        await _with_tree(mcp, body)
    return figures


# --------------------------------------------------------------------------- report


def _markdown(doc: dict[str, Any]) -> str:
    over, rec = doc["overhead"], doc["recovery"]
    big, small = doc["bounded"]
    added_ok = "✓" if over["added_p50_us"] <= TARGET_ADDED_P50_US else "✗"
    rec_ok = "✓" if rec["median_ms"] <= TARGET_RECOVERY_MS else "✗"
    lines = [
        f"# MCP servers ({doc['mode']} run)",
        "",
        f"Measured {doc['timestamp']}; `python -m bench.mcp`; server: bench/mcp_server.py "
        "(stdio, standard library only).",
        "",
        f"## Tool call overhead ({over['calls']} sequential calls, interleaved)",
        "",
        "| path | p50 µs | p99 µs | mean µs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in ("direct_sdk", "through_clara"):
        row = over[name]
        lines.append(f"| {name} | {row['p50_us']} | {row['p99_us']} | {row['mean_us']} |")
    lines += [
        "",
        f"Added by Clara at p50: {over['added_p50_us']} µs {added_ok} "
        f"(target ≤ {TARGET_ADDED_P50_US:g} µs).",
        "",
        f"## Recovery after SIGKILL ({rec['rounds']} rounds, backoff {rec['backoff_s']} s)",
        "",
        f"First answer after the backoff delay ended: median {rec['median_ms']} ms, "
        f"max {rec['max_ms']} ms {rec_ok} (target ≤ {TARGET_RECOVERY_MS:g} ms); "
        f"all: {rec['answered_after_backoff_ms']}. For scale, a cold start of the same "
        f"server straight through the SDK (spawn, initialize, one call): "
        f"median {rec['server_cold_start_median_ms']} ms.",
        "",
        "## Bounded by the servers in use",
        "",
        "| configured | max running | phase | fds | Clara RSS MB | server processes | "
        "their RSS MB |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for run in (big, small):
        for phase in ("none_in_use", "in_use", "after_all_used_in_turn", "after_a_second_turn"):
            usage = run[phase]
            lines.append(
                f"| {run['configured']} | {run['max_running']} | {phase} | {usage['fds']} | "
                f"{usage['rss_mb']} | {usage['server_processes']} | {usage['servers_rss_mb']} |"
            )
    lines += [
        "",
        f"Most servers running at once while all {big['configured']} were called in turn: "
        f"{big['most_running_at_once']} (cap {big['max_running']}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    calls, rounds = (300, 3) if arguments.quick else (3000, 10)
    figures: dict[str, Any] = {
        "overhead": run_in_subprocess("bench.mcp", "overhead", {"calls": calls}),
        "recovery": run_in_subprocess("bench.mcp", "recovery", {"rounds": rounds}),
        "bounded": [
            run_in_subprocess("bench.mcp", "bounded", {"configured": 200, "in_use": 20}),
            run_in_subprocess("bench.mcp", "bounded", {"configured": 20, "in_use": 20}),
        ],
    }
    failed = failed_part(figures)
    if failed is not None:
        print(failed, file=sys.stderr)
        return 1
    write_results("mcp", arguments.quick, figures, _markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
