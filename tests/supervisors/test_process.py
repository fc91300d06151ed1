import gc
import logging
import os
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorSystem
from clara.store._migrate import head_revision
from clara.supervisors import (
    EXIT_FAILED,
    EXIT_OK,
    ChildSpec,
    Supervisor,
    freeze_startup_objects,
    serve_until_signal,
)
from tests.helpers import Crash, Recorder, order

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """serve_until_signal freezes the heap (gc.freeze): give the test process it back."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize("freeze_startup", [True, False])
@pytest.mark.trio
async def test_the_runner_freezes_what_start_up_built_unless_told_not_to(
    freeze_startup: bool,
) -> None:
    root = Supervisor([ChildSpec("a", Recorder)])
    ready, stop = trio.Event(), trio.Event()
    codes: list[int] = []
    async with trio.open_nursery() as nursery:

        async def serve() -> None:
            codes.append(
                await serve_until_signal(
                    root,
                    ActorSystem("clara"),
                    ready=ready,
                    stop=stop,
                    freeze_startup=freeze_startup,
                )
            )

        nursery.start_soon(serve)
        await ready.wait()
        cell = root.ref("a")._cell
        assert gc.is_tracked(cell)
        in_old_generation = any(item is cell for item in gc.get_objects(generation=2))
        if freeze_startup:
            assert gc.get_freeze_count() > 0
            # Frozen: in the permanent generation, which no collection walks.
            assert not in_old_generation
        else:
            assert gc.get_freeze_count() == 0
        stop.set()
    assert codes == [EXIT_OK]


def test_freeze_startup_objects_collects_then_freezes_and_says_how_many() -> None:
    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    alive = weakref.ref(node)
    del node  # a garbage cycle: collected first, not frozen
    frozen = freeze_startup_objects()
    assert alive() is None
    assert frozen == gc.get_freeze_count() > 0
    assert gc.get_objects(generation=2) == []  # every survivor is frozen


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.trio
async def test_a_signal_stops_the_tree_in_reverse_order_and_exits_0(signum: int) -> None:
    events: list[Any] = []
    root = Supervisor([ChildSpec(n, lambda n=n: Recorder(events, n)) for n in "abc"])
    ready = trio.Event()
    async with trio.open_nursery() as nursery:
        codes: list[int] = []

        async def serve() -> None:
            codes.append(await serve_until_signal(root, ActorSystem("clara"), ready=ready))

        nursery.start_soon(serve)
        await ready.wait()
        os.kill(os.getpid(), signum)
    assert codes == [EXIT_OK]
    assert order(events, "stop") == ["c", "b", "a"]


@pytest.mark.trio
async def test_a_failed_root_exits_1_with_a_clear_message(caplog: pytest.LogCaptureFixture) -> None:
    root = Supervisor([ChildSpec("a", Recorder)], max_restarts=0)
    ready = trio.Event()
    codes: list[int] = []
    async with trio.open_nursery() as nursery:

        async def serve() -> None:
            codes.append(await serve_until_signal(root, ActorSystem("clara"), ready=ready))

        nursery.start_soon(serve)
        await ready.wait()
        with caplog.at_level(logging.ERROR):
            await root.ref("a").tell(Crash())
    assert codes == [EXIT_FAILED]
    assert (
        "Clara stopped because the root supervisor failed: /clara: child 'a' crashed with "
        "ValueError: boom; more than 0 restarts within 5s"
    ) in caplog.text


@pytest.mark.trio
async def test_a_root_whose_child_cannot_start_exits_1(caplog: pytest.LogCaptureFixture) -> None:
    root = Supervisor([ChildSpec("a", lambda: Recorder(fail_on_start=1))])
    with caplog.at_level(logging.ERROR):
        code = await serve_until_signal(root, ActorSystem("clara"))
    assert code == EXIT_FAILED
    assert "child 'a' failed to start: RuntimeError: r cannot start" in caplog.text


def _run_py(env_extra: dict[str, str]) -> subprocess.Popen[str]:
    # Port 0: a free port, so a Clara already running on this machine is no obstacle; a data
    # directory of its own, so the repository's stays untouched.
    data = tempfile.mkdtemp(prefix="clara-run-")
    env = {
        **os.environ,
        "CLARA_STATUS_PORT": "0",
        "CLARA_DATA_DIR": data,
        **env_extra,
    }
    return subprocess.Popen(
        [sys.executable, "run.py"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,  # the console chat waits on it; it ends when we say so
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_py_runs_until_a_signal_then_exits_0(signum: int) -> None:
    process = _run_py({"CLARA_LOG_LEVEL": "INFO"})
    assert process.stdout is not None
    for line in process.stdout:  # bounded: the process prints this within a second or two
        if "is running" in line:
            break
    process.send_signal(signum)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"received {signal.Signals(signum).name}; stopping the tree" in output
    assert "stopped cleanly" in output


def test_run_py_refuses_a_bad_setting_naming_the_variable() -> None:
    process = _run_py({"CLARA_ROOT_MAX_SECONDS": "soon"})
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert (
        "configuration error: CLARA_ROOT_MAX_SECONDS must be a positive number of seconds; "
        "got 'soon'"
    ) in output


def test_run_py_refuses_to_expose_the_status_endpoint_without_a_token() -> None:
    process = _run_py({"CLARA_STATUS_HOST": "0.0.0.0"})
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "CLARA_STATUS_HOST is '0.0.0.0', which is not a loopback address" in output
    assert "Set CLARA_STATUS_TOKEN" in output


def test_run_py_upgrades_the_database_on_start(tmp_path: Path) -> None:
    process = _run_py({"CLARA_DATA_DIR": str(tmp_path), "CLARA_LOG_LEVEL": "INFO"})
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "is running" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    output = "".join(seen) + rest
    assert process.returncode == 0, output
    assert f"database upgraded from empty to {head_revision()}" in output
    assert (tmp_path / "clara.db").is_file()
    assert (tmp_path / "encryption.key").is_file()
    assert "generated a key into" in output


@pytest.mark.trio
async def test_the_tree_of_run_py_reports_when_no_model_answers(
    mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    import time  # noqa: PLC0415

    import run  # noqa: PLC0415 - the wiring under test
    from clara.config import load_settings  # noqa: PLC0415
    from clara.health import Readiness  # noqa: PLC0415

    mock_clock.autojump_threshold = 0.2
    settings = load_settings(
        {
            "CLARA_DATA_DIR": str(tmp_path),
            "CLARA_STATUS_PORT": "0",
            "CLARA_LOCAL_LLM_URL": "http://127.0.0.1:9/v1",
            "CLARA_MEMORY_ENABLED": "false",
            "CLARA_MCP_ENABLED": "false",
        }
    )
    system = ActorSystem("clara")
    readiness = Readiness()
    root = run.build_tree(settings, system, readiness, time.time(), chat="once").root
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        assert root.child_ids == ["shared", "status", "llm", "sandbox", "channels"]
        await trio.sleep(1)  # virtual: the gateway's first probe has run
        reasons = readiness.evaluate()
        assert reasons["llm"] is not None
        assert "no model provider answers: local: cannot reach 127.0.0.1:9" in reasons["llm"]
        await root.stop()
