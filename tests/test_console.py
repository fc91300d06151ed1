"""The console chat and --once: run.py end to end against a fake model server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from clara.testing import FakeLlmServer, Reply

REPO = Path(__file__).resolve().parent.parent


def _env(url: str, data: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CLARA_ENV_FILE": os.environ["CLARA_ENV_FILE"],  # the empty one conftest made
        "CLARA_DATA_DIR": str(data),
        "CLARA_LOCAL_LLM_URL": f"{url}/v1",
        "CLARA_MEMORY_ENABLED": "false",
        "CLARA_STATUS_PORT": "0",
        "CLARA_LOG_LEVEL": "WARNING",
    }


@pytest.mark.trio
async def test_the_console_chat_answers_each_line_and_ends_with_the_input(tmp_path: Path) -> None:
    server = FakeLlmServer()
    server.script(Reply("Hello, I'm Clara."), Reply("Green tea, you said."))
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        result = await trio.run_process(
            [sys.executable, "run.py"],
            stdin=b"hi there\n\nwhat do I drink?\n",
            capture_stdout=True,
            capture_stderr=True,
            cwd=REPO,
            env=_env(url, tmp_path),
            check=False,
        )
        nursery.cancel_scope.cancel()
    output = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Clara is listening (console chat" in output
    assert "clara> Hello, I'm Clara." in output
    assert "clara> Green tea, you said." in output
    # The second question was sent with the first exchange as history.
    second = server.chat_requests()[1].body["messages"]
    assert [m["content"] for m in second[1:]] == [
        "you: hi there",
        "Hello, I'm Clara.",
        "you: what do I drink?",
    ]


@pytest.mark.trio
async def test_once_answers_one_message_on_stdout_and_exits(tmp_path: Path) -> None:
    server = FakeLlmServer(default=Reply("42."))
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        result = await trio.run_process(
            [sys.executable, "run.py", "--once", "what is six times seven?"],
            capture_stdout=True,
            capture_stderr=True,
            cwd=REPO,
            env=_env(url, tmp_path),
            check=False,
        )
        nursery.cancel_scope.cancel()
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "42.\n"
    assert server.chat_requests()[0].body["messages"][-1]["content"] == (
        "you: what is six times seven?"
    )


@pytest.mark.trio
async def test_every_file_clara_makes_in_its_data_folder_is_its_users_alone(
    tmp_path: Path,
) -> None:
    """Issue 13, item 4: the database and its WAL, the key file, and what mem0 and the
    embedded Qdrant write (memory on, so they do) are readable by Clara's user only."""
    server = FakeLlmServer(default=Reply('{"memory": []}'))
    data = tmp_path / "data"
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        result = await trio.run_process(
            [sys.executable, "run.py", "--once", "hello"],
            capture_stdout=True,
            capture_stderr=True,
            cwd=REPO,
            env={
                **_env(url, data),
                "HOME": str(tmp_path),
                "CLARA_MEMORY_ENABLED": "true",
                "CLARA_MEMORY_EMBEDDING_DIMS": "8",
            },
            check=False,
        )
        nursery.cancel_scope.cancel()
    assert result.returncode == 0, result.stderr.decode()
    made = [data, *data.rglob("*")]
    assert any(path.name == "clara.db" for path in made)
    assert any("qdrant" in path.parts for path in made)
    shared = [
        f"{path.relative_to(tmp_path)} {path.stat().st_mode & 0o777:o}"
        for path in made
        if path.stat().st_mode & 0o077
    ]
    assert shared == []
