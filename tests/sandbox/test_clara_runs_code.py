"""Clara runs a person's code through ``python run.py`` (issue 16): the model asks for
``sandbox__run_python``, the code runs in that person's sandbox (bubblewrap, as ``auto``
picks on a host without an engine), its output goes back to the model, and the run is in the
audit table. Real processes: run.py against the fake Discord and the fake model server.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from clara.actors.sandbox import bubblewrap_root
from clara.testing import Reply
from tests.helpers import require
from tests.test_deploys import eventually, world

pytestmark = pytest.mark.trio


def audited_runs(data: Path) -> list[tuple[str, str, int | None]]:
    with sqlite3.connect(data / "clara.db", timeout=5) as connection:
        return connection.execute(
            "SELECT tool, user_id, exit_code FROM sandbox_runs ORDER BY id"
        ).fetchall()


async def test_the_model_runs_python_in_the_askers_sandbox_and_reads_its_output(
    tmp_path: Path,
) -> None:
    require(shutil.which("bwrap"), "bubblewrap (bwrap)")
    env = {"CLARA_SANDBOX_BACKEND": "auto", "CLARA_SANDBOX_IMAGE": ""}
    async with world(tmp_path, env) as w:
        code = "import os; print(6 * 7, os.getcwd(), 'HOME' in os.environ and os.environ['HOME'])"
        w.model.script(
            Reply(tool_calls=(("sandbox__run_python", {"code": code}),)),
            Reply("It printed 42."),
        )
        async with w.clara() as clara:
            asked = await w.post("what is six times seven? run it")
            await eventually(lambda: w.replies_to(asked) != [], "the answer")
            assert await clara.terminate() == 0
        assert w.replies_to(asked) == ["It printed 42."]
        requests = w.model.chat_requests()
        tool_result = json.dumps(requests[1].body["messages"][-1])
        assert "42 /work" in tool_result  # ran, in the work folder of the sandbox
        assert str(tmp_path) not in tool_result  # nothing of the host's environment inside
        assert audited_runs(w.data) == [("run_python", "1", 0)]  # the asker's, audited


async def test_through_podman_a_container_removed_behind_claras_back_is_made_again(
    tmp_path: Path, engine_url: str, image: str
) -> None:
    import docker  # noqa: PLC0415

    env = {
        "CLARA_SANDBOX_BACKEND": "docker",
        "CLARA_SANDBOX_DOCKER_URL": engine_url,
        "CLARA_SANDBOX_IMAGE": image,
    }
    async with world(tmp_path, env) as w:
        run = ("sandbox__run_python", {"code": "print(6 * 7)"})
        w.model.script(
            Reply(tool_calls=(run,)), Reply("42."), Reply(tool_calls=(run,)), Reply("42 again.")
        )
        async with w.clara() as clara:
            first = await w.post("six times seven?")
            await eventually(lambda: w.replies_to(first) != [], "the first answer", limit=120)
            engine = docker.DockerClient(base_url=engine_url, version="1.41", timeout=30)
            try:
                scope = {"label": "clara.sandbox.scope=clara"}
                [container] = engine.containers.list(filters=scope)
                container.remove(force=True)  # behind Clara's back
            finally:
                engine.close()
            second = await w.post("and once more?")
            await eventually(lambda: w.replies_to(second) != [], "the second answer", limit=120)
            assert await clara.terminate() == 0
        results = [json.dumps(r.body["messages"][-1]) for r in w.model.chat_requests()[1::2]]
        assert "42" in results[0]
        assert "42" in results[1] and "restarted" in results[1]  # told, and run again
        assert [row[2] for row in audited_runs(w.data)] == [0, 0]


async def test_a_sandbox_left_by_a_killed_clara_is_removed_when_it_starts_again(
    tmp_path: Path,
) -> None:
    """kill -9 runs no passivation: the sandbox stays behind until the next start sweeps it."""
    require(shutil.which("bwrap"), "bubblewrap (bwrap)")
    env = {"CLARA_SANDBOX_BACKEND": "bubblewrap"}
    left = bubblewrap_root()
    async with world(tmp_path, env) as w:
        w.model.script(
            Reply(tool_calls=(("sandbox__run_python", {"code": "print(6 * 7)"}),)),
            Reply("42."),
            Reply("Hello again."),
        )
        async with w.clara() as clara:
            asked = await w.post("six times seven?")
            await eventually(lambda: w.replies_to(asked) != [], "the answer")
            folders = sorted(left.glob("clara-sandbox-*"))
            assert len(folders) == 1, folders  # the asker's, alive between runs
            clara.kill()
            await clara.process.wait()
        assert folders[0].exists()  # no passivation ran
        async with w.clara() as clara:
            again = await w.post("hello?")
            await eventually(lambda: w.replies_to(again) != [], "the answer after the restart")
            assert not folders[0].exists()  # swept at start
            assert await clara.terminate() == 0
