"""Every message answered exactly once through kills, deploys, floods and downtime (issue 12),
with real processes: ``python run.py`` against the fake Discord (gateway and REST) and the
fake model server, both on loopback in this test's process, on SQLite and on PostgreSQL.

The fake Discord keeps nonces as Discord does (``enforce_nonce``), so "answered once" is
what people in the channel see. Waiting is on conditions (never on fixed sleeps), with a
generous real-time limit: these are real processes on a shared machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from clara.testing import FakeDiscord, FakeLlmServer, Reply, throwaway_postgresql
from tests.adapters.test_discord import TOKEN
from tests.helpers import require
from tests.store.conftest import POSTGRES_ADMIN, _postgres_available

REPO = Path(__file__).resolve().parent.parent
GUILD, CHANNEL = "5", "100"
LIMIT = 60.0  # seconds any one condition may take to come true

pytestmark = pytest.mark.trio


@contextmanager
def store(kind: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment that points Clara at a store of ``kind``: its own, thrown away after."""
    if kind == "sqlite":
        yield {}
        return
    require(_postgres_available(), f"PostgreSQL at {POSTGRES_ADMIN}")
    with throwaway_postgresql(POSTGRES_ADMIN) as url:
        yield {"DATABASE_URL": url}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    with store(request.param, tmp_path) as env:
        yield env


async def eventually(condition: Callable[[], bool], what: str, limit: float = LIMIT) -> None:
    """Wait until ``condition()`` holds (checked every 20 ms), failing after ``limit`` s."""
    with trio.move_on_after(limit):
        while not condition():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


@dataclass
class World:
    discord: FakeDiscord
    model: FakeLlmServer
    discord_url: str
    model_url: str
    data: Path
    env: dict[str, str]
    nursery: trio.Nursery

    def replies_to(self, message_id: str) -> list[str]:
        """What Clara posted in answer to ``message_id`` (its first piece), in order."""
        return [p.content for p in self.discord.posted if p.reference == message_id]

    async def post(self, text: str, *, author: str = "1", name: str = "ada", **kw: Any) -> str:
        message = await self.discord.post_message(
            text,
            channel_id=CHANNEL,
            guild_id=GUILD,
            author_id=author,
            author_name=name,
            mention=True,
            **kw,
        )
        return str(message["id"])

    @asynccontextmanager
    async def clara(self, **env: str) -> AsyncIterator[Clara]:
        """``python run.py``, connected and given its server; killed if still running after."""
        self.discord.connected = trio.Event()
        process = await trio.lowlevel.open_process(
            [sys.executable, "run.py"],
            cwd=REPO,
            env={**self.base_env(), **self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=open(self.data / "stderr.log", "ab"),  # noqa: ASYNC230, SIM115 - the child owns it
        )
        try:
            with trio.fail_after(LIMIT):
                await self.discord.connected.wait()
                await self.discord.add_guild(GUILD, (CHANNEL, "200"))
            yield Clara(process, self)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "CLARA_ENV_FILE": os.environ["CLARA_ENV_FILE"],  # the empty one conftest made
            "HOME": str(self.data),
            "CLARA_DATA_DIR": str(self.data),
            "DISCORD_BOT_TOKEN": TOKEN,
            "CLARA_DISCORD_API_URL": f"{self.discord_url}/api/v10",
            "CLARA_DISCORD_GATEWAY_URL": self.discord_url.replace("http", "ws") + "/gateway",
            "CLARA_LOCAL_LLM_URL": f"{self.model_url}/v1",
            "CLARA_MEMORY_ENABLED": "false",
            "CLARA_MCP_ENABLED": "false",
            "CLARA_STATUS_ENABLED": "false",
            "CLARA_LOG_LEVEL": "INFO",
            "CLARA_GUILD_READY_TIMEOUT": "0.05",
        }


@dataclass
class Clara:
    process: trio.Process
    world: World

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def terminate(self) -> int:
        """SIGTERM, and the exit code once it is gone."""
        self.process.send_signal(signal.SIGTERM)
        with trio.fail_after(LIMIT):
            return await self.process.wait()


@asynccontextmanager
async def world(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[World]:
    discord, model = FakeDiscord(), FakeLlmServer(default=Reply("ok"))
    async with trio.open_nursery() as nursery:
        discord_url = await nursery.start(discord.serve)
        model_url = await nursery.start(model.serve)
        yield World(discord, model, discord_url, model_url, tmp_path, env, nursery)
        nursery.cancel_scope.cancel()


def chat_requests(w: World) -> int:
    return len(w.model.chat_requests())


async def test_a_reply_killed_mid_way_is_answered_once_after_a_restart(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    async with world(tmp_path, store_env) as w:
        w.model.script(Reply("too late", delay=5))
        async with w.clara() as clara:
            asked = await w.post("what's the capital of France?")
            await eventually(lambda: chat_requests(w) == 1, "the model to be asked")
            clara.kill()  # one moment into a five-second model call
            await clara.process.wait()
        assert w.replies_to(asked) == []

        w.model.script(Reply("Paris."))
        async with w.clara() as clara:
            await eventually(lambda: w.replies_to(asked) != [], "the resumed answer")
            await w.post("thanks")  # one more, so anything doubled would have arrived first
            await eventually(lambda: len(w.discord.posted) >= 2, "the second answer")
            assert await clara.terminate() == 0
        assert w.replies_to(asked) == ["Paris."]


async def test_a_deploy_finishes_the_running_reply_and_answers_the_queue_after_it(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    async with world(tmp_path, store_env) as w:
        w.model.script(Reply("first answer", delay=3))
        async with w.clara() as clara:
            first = await w.post("one", author="1", name="ada")
            await eventually(lambda: chat_requests(w) == 1, "the first reply to start")
            second = await w.post("two", author="2", name="bob")
            third = await w.post("three", author="3", name="cy")
            await eventually(lambda: len(w.discord.reactions) == 2, "both to be marked queued")
            assert await clara.terminate() == 0  # within the drain: the first reply finishes
        assert w.replies_to(first) == ["first answer"]
        assert chat_requests(w) == 1  # the queue was not started, only kept

        w.model.script(Reply("second answer"), Reply("third answer"))
        async with w.clara() as clara:
            await eventually(lambda: w.replies_to(third) != [], "the queue to be answered")
            assert await clara.terminate() == 0
        assert w.replies_to(first) == ["first answer"]
        assert [p for p in w.replies_to(second) if "answer" in p][-1] == "second answer"
        assert w.replies_to(third) == ["third answer"]
        answers = [p.reference for p in w.discord.posted if p.content.endswith(" answer")]
        assert answers == [first, second, third]


async def test_a_flood_leaves_nobody_told_queued_without_an_answer(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    env = {"CLARA_CHANNEL_MAILBOX": "5", "CLARA_DISCORD_USER_RATE": "1000"}
    async with world(tmp_path, {**store_env, **env}) as w:
        w.model.default = Reply("answered", delay=0.05)
        async with w.clara() as clara:
            sent = [await w.post(f"question {n}", author=str(10 + n)) for n in range(40)]
            queued = lambda: {message_id for _, message_id, _ in w.discord.reactions}  # noqa: E731
            await eventually(
                lambda: all(w.replies_to(m) for m in queued()) and chat_requests(w) >= 6,
                "every queued message to be answered",
            )
            assert await clara.terminate() == 0
        answered = {m for m in sent if "answered" in w.replies_to(m)}
        assert queued() <= answered
        for message_id in sent:  # never twice
            assert w.replies_to(message_id).count("answered") <= 1


async def test_a_burst_keeps_its_order_under_load(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    env = {"CLARA_DISCORD_USER_RATE": "1000", "CLARA_CHANNEL_MAILBOX": "100"}
    async with world(tmp_path, {**store_env, **env}) as w:
        w.model.default = Reply("ok", delay=0.01)
        async with w.clara() as clara:
            sent = [await w.post(f"n{n}", author=str(10 + n)) for n in range(30)]
            await eventually(lambda: all(w.replies_to(m) for m in sent), "30 answers")
            assert await clara.terminate() == 0
        asked = [r.body["messages"][-1]["content"] for r in w.model.chat_requests()]
        # (Leaving out the summary Clara may ask for once the history grows long enough.)
        words = [text.rsplit(" ", 1)[-1] for text in asked]
        words = [word for word in words if word[:1] == "n" and word[1:].isdigit()]
        assert words == [f"n{n}" for n in range(30)]
        answers = [p.reference for p in w.discord.posted if p.content == "ok"]
        assert answers == sent


async def test_another_persons_stop_leaves_your_reply_alone(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    async with world(tmp_path, store_env) as w:
        w.model.script(Reply("for ada", delay=2))
        async with w.clara() as clara:
            asked = await w.post("tell me something", author="1", name="ada")
            await eventually(lambda: chat_requests(w) == 1, "ada's reply to start")
            await w.post("nevermind", author="2", name="bob")
            await eventually(lambda: w.replies_to(asked) != [], "ada's answer")
            assert await clara.terminate() == 0
        assert w.replies_to(asked) == ["for ada"]


async def test_a_message_sent_while_clara_was_down_is_answered_after_start(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    async with world(tmp_path, store_env) as w:
        w.model.script(Reply("hello"))
        async with w.clara() as clara:
            first = await w.post("hi")
            await eventually(lambda: w.replies_to(first) != [], "the first answer")
            assert await clara.terminate() == 0

        missed = await w.post("are you back?", deliver=False)  # Clara is down
        w.model.script(Reply("I'm back."))
        async with w.clara() as clara:
            await eventually(lambda: w.replies_to(missed) != [], "the caught-up answer")
            assert await clara.terminate() == 0
        assert w.replies_to(missed) == ["I'm back."]
        assert w.replies_to(first) == ["hello"]
