"""How a stdio server's death is explained: exit code or signal, and the stderr that matters.

Real server processes (a standard-library server, ``exit_server.py``) on trio's real clock;
the tests wait for what happened (the connection's end), never for a duration.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from clara.adapters.mcp import McpConnection, McpEndpoint, ServerGone
from clara.adapters.mcp._exit import exit_status, wait_for_exit

pytestmark = pytest.mark.trio

SERVER = Path(__file__).with_name("exit_server.py")
BANNER = "Starting default (STDIO) server..."


def endpoint(**env: str) -> McpEndpoint:
    return McpEndpoint(
        name="dying", command=sys.executable, args=("-I", str(SERVER)), env=env, connect_timeout=30
    )


class Watched:
    """A connection run in a task, keeping how it ended."""

    def __init__(self, connection: McpConnection) -> None:
        self.connection = connection
        self.ended: ServerGone | None = None

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.connection.run(task_status=task_status)
        except ServerGone as error:
            self.ended = error


async def test_a_server_killed_with_sigkill_is_reported_with_the_signal_not_its_banner() -> None:
    connection = McpConnection(endpoint())
    watched = Watched(connection)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(watched.run)
            pid = connection.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
    assert str(watched.ended) == (
        f"dying: process {pid} was killed by SIGKILL (nothing on stderr since it started)"
    )
    assert BANNER in connection.stderr.lines  # read, kept, and not offered as the cause


async def test_a_server_that_exits_is_reported_with_its_code_and_its_last_words() -> None:
    connection = McpConnection(endpoint())
    watched = Watched(connection)
    call_error: list[ServerGone] = []

    async def end() -> None:
        try:
            await connection.call_tool(
                "end", {"code": 3, "say": ["", "fatal: the database went away", "giving up"]}
            )
        except ServerGone as error:
            call_error.append(error)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(watched.run)
            pid = connection.pid
            nursery.start_soon(end)
    words = "(stderr since it started: fatal: the database went away | giving up)"
    assert str(watched.ended) == f"dying: process {pid} exited with code 3 {words}"
    [lost] = call_error  # the call in flight says the same
    assert str(lost).startswith(f"dying: process {pid} exited with code 3")
    assert words in str(lost) and BANNER not in str(lost)


async def test_a_server_that_fails_at_start_shows_its_code_and_what_it_said() -> None:
    connection = McpConnection(endpoint(EXIT_SERVER_FAIL_AT_START="4"))
    with trio.fail_after(30), pytest.raises(Exception):  # noqa: B017 - whatever it fails with
        async with trio.open_nursery() as nursery:
            await nursery.start(connection.run)
    text = connection.explain("could not connect")
    # It never started: everything it said counts, its last lines shown.
    assert text == (
        f"dying: could not connect; process {connection.pid} exited with code 4 "
        '(stderr: Traceback (most recent call last): | File "server.py", line 3 | '
        "KeyError: 'API_KEY')"
    )


async def test_exit_status_names_the_signal_and_leaves_the_process_to_its_reaper() -> None:
    sleeper = await trio.lowlevel.open_process(
        [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    exiter = await trio.lowlevel.open_process([sys.executable, "-c", "import sys; sys.exit(7)"])
    try:
        assert exit_status(sleeper.pid) is None  # still running
        sleeper.kill()
        with trio.fail_after(30):
            await wait_for_exit(sleeper.pid, 30)
            await wait_for_exit(exiter.pid, 30)
        assert exit_status(sleeper.pid) == "was killed by SIGKILL"
        assert exit_status(exiter.pid) == "exited with code 7"
        # Only looked at: whoever started them still reaps them, status and all.
        assert (await sleeper.wait(), await exiter.wait()) == (-signal.SIGKILL, 7)
        assert exit_status(exiter.pid) is None  # reaped: nothing more to say
    finally:
        with trio.CancelScope(shield=True):
            sleeper.kill()
            await sleeper.wait()
            await exiter.wait()
