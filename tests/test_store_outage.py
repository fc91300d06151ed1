"""A PostgreSQL outage mid-conversation (issue 13, items 5 and 6), with real processes:
``python run.py`` in console mode on a private PostgreSQL cluster that the test stops with
``pg_ctl -m immediate`` while a reply is being made, then starts again.

Clara goes on answering without a restart (the message in flight, and those sent during
the outage, without a record), ``/readyz`` says the store is down while it is, and once it
is back exchanges are recorded again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trio
from sqlalchemy import create_engine, select

from clara.store.models import Message
from clara.testing import FakeLlmServer, Reply
from tests.pg_cluster import free_port, private_postgresql

REPO = Path(__file__).resolve().parent.parent
LIMIT = 60.0  # seconds any one condition may take to come true (real processes)

pytestmark = pytest.mark.trio


async def eventually(condition: Callable[[], bool], what: str, limit: float = LIMIT) -> None:
    with trio.move_on_after(limit):
        while not condition():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


async def readiness(port: int) -> tuple[int, str]:
    async with httpx.AsyncClient() as client:
        try:
            response = await client.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        except httpx.HTTPError as error:
            return 0, repr(error)
    return response.status_code, response.text


async def test_clara_answers_through_a_postgresql_outage_and_records_again_after_it(
    tmp_path: Path,
) -> None:
    with private_postgresql() as cluster:
        model = FakeLlmServer(default=Reply("ok"))
        status_port = free_port()
        async with trio.open_nursery() as nursery:
            model_url = await nursery.start(model.serve)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "CLARA_ENV_FILE": os.environ["CLARA_ENV_FILE"],  # the empty one conftest made
                "HOME": str(tmp_path),
                "CLARA_DATA_DIR": str(tmp_path),
                "DATABASE_URL": cluster.url,
                "CLARA_LOCAL_LLM_URL": f"{model_url}/v1",
                "CLARA_MEMORY_ENABLED": "false",
                "CLARA_MCP_ENABLED": "false",
                "CLARA_STATUS_PORT": str(status_port),
                "CLARA_LOG_LEVEL": "INFO",
            }
            process = await trio.lowlevel.open_process(
                [sys.executable, "run.py"],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=open(tmp_path / "stderr.log", "ab"),  # noqa: ASYNC230, SIM115
            )
            output = bytearray()

            async def read() -> None:
                assert process.stdout is not None
                async for chunk in process.stdout:
                    output.extend(chunk)

            nursery.start_soon(read)

            async def say(text: str) -> None:
                assert process.stdin is not None
                await process.stdin.send_all(text.encode() + b"\n")

            def said(text: str) -> bool:
                return f"clara> {text}".encode() in output

            try:
                model.script(Reply("one"))
                await say("first")
                await eventually(lambda: said("one"), "the first answer")
                assert (await readiness(status_port))[0] == 200

                # The store goes down while the second reply is being made.
                model.script(Reply("two", delay=2.0))
                await say("second")
                await eventually(lambda: len(model.chat_requests()) == 2, "the second call")
                cluster.stop()
                await eventually(lambda: said("two"), "the answer in flight")

                status: list[tuple[int, str]] = []

                async def not_ready() -> None:
                    while True:
                        status.append(await readiness(status_port))
                        if status[-1][0] == 503:
                            return
                        await trio.sleep(0.2)

                with trio.fail_after(LIMIT):
                    await not_ready()
                assert "store" in status[-1][1] and "unavailable" in status[-1][1]

                model.script(Reply("three"))
                await say("third")
                await eventually(lambda: said("three"), "an answer during the outage")

                cluster.start()

                async def ready_again() -> None:
                    while (await readiness(status_port))[0] != 200:
                        await trio.sleep(0.2)

                with trio.fail_after(LIMIT):
                    await ready_again()
                model.script(Reply("four"))
                await say("fourth")
                await eventually(lambda: said("four"), "an answer after the outage")
                assert process.returncode is None  # never restarted, never ended

                engine = create_engine(cluster.url)
                try:

                    def recorded() -> bool:
                        with engine.connect() as connection:
                            kept = set(connection.scalars(select(Message.content)))
                        return {"you: fourth", "fourth"} & kept != set() and "four" in kept

                    await eventually(recorded, "the exchange after the outage in the store")
                finally:
                    engine.dispose()

                assert process.stdin is not None
                await process.stdin.aclose()  # Ctrl-D: Clara stops
                with trio.fail_after(LIMIT):
                    assert await process.wait() == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                nursery.cancel_scope.cancel()
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in log
