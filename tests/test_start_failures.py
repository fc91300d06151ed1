"""What an operator reads when Clara cannot start (issue 13, item 7): the cause, by name,
not "Exceptions from Trio nursery (1 sub-exception)"; and exit code 1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from clara.errors import ChildStartError, describe_error
from clara.testing import FakeDiscord
from tests.adapters.test_discord import TOKEN

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.trio
async def test_a_refused_discord_token_is_named_in_the_one_line_clara_stops_with(
    tmp_path: Path,
) -> None:
    discord = FakeDiscord(refused_tokens={TOKEN})
    async with trio.open_nursery() as nursery:
        url = await nursery.start(discord.serve)
        result = await trio.run_process(
            [sys.executable, "run.py"],
            cwd=REPO,
            env={
                "PATH": os.environ.get("PATH", ""),
                "CLARA_ENV_FILE": os.environ["CLARA_ENV_FILE"],  # the empty one conftest made
                "HOME": str(tmp_path),
                "CLARA_DATA_DIR": str(tmp_path),
                "DISCORD_BOT_TOKEN": TOKEN,
                "CLARA_DISCORD_API_URL": f"{url}/api/v10",
                "CLARA_DISCORD_GATEWAY_URL": url.replace("http", "ws") + "/gateway",
                "CLARA_MEMORY_ENABLED": "false",
                "CLARA_MCP_ENABLED": "false",
                "CLARA_STATUS_ENABLED": "false",
            },
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        nursery.cancel_scope.cancel()
    log = result.stderr.decode()
    assert result.returncode == 1, log
    [stopped] = [line for line in log.splitlines() if "Clara stopped because" in line]
    assert (
        "child 'discord' failed to start: PlatformError: discord: login refused: Improper token"
        in stopped
    )
    assert "sub-exception" not in log
    assert TOKEN not in log


def test_a_group_of_one_is_described_by_the_error_inside_it() -> None:
    inner = OSError("Name or service not known")
    nested = ExceptionGroup("Exceptions from Trio nursery (1 sub-exception)", [inner])
    outer = ExceptionGroup("outer", [nested])
    assert describe_error(outer) == "OSError: Name or service not known"
    two = ExceptionGroup("two", [ValueError("a"), KeyError("b"), ValueError("a")])
    assert describe_error(two) == "ValueError: a; KeyError: 'b'"
    assert describe_error(RuntimeError()) == "RuntimeError"
    error = ChildStartError("/clara", "discord", nested)
    assert str(error).endswith(
        "child 'discord' failed to start: OSError: Name or service not known"
    )
