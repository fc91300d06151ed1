"""One actor per person's sandbox: made on first use, removed when idle, capped, remade when
it dies, never holding a stop, and every run audited."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio
import trio.testing

from clara.adapters.sandbox import ExecResult, SandboxError, SandboxLimits
from clara.store import Database
from clara.testing import FakeSandbox, FakeSandboxBackend
from tests.actors.sandbox.harness import CHANNEL, GUILD, OTHER, PERSON, sandbox_running, wait_until

pytestmark = pytest.mark.trio

OWNER = f"discord:{PERSON.id}"


async def test_first_use_makes_the_sandbox_and_later_runs_reuse_it(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        assert running.state() is None
        first = await running.call("run_python", {"code": "print(1)"})
        assert not first.error, first.text
        assert first.text.startswith("exit code 0")
        assert "stdout:\nprint(1)" in first.text  # the fake echoes stdin: the code went there
        second = await running.call("run_shell", {"command": "ls -la"})
        assert not second.error, second.text
        backend = running.backend
        assert backend.count("create") == 1
        assert backend.argv_seen == [("python3", "-"), ("sh", "-s")]
        assert backend.stdin_seen == [b"print(1)", b"ls -la"]
        assert backend.limits_seen[0].network is False
        assert running.state() == "ready"
        details = running.system.sandboxes.statistics_of(OWNER).details
        assert details["runs"] == 2 and details["backend"] == "fake"
        assert running.system.readiness_details()["running"] == 1
    assert backend.count("remove") == 1  # Clara stopping removes it
    assert backend.closed


async def test_an_idle_sandbox_is_passivated_and_removed(
    tmp_path: Path, virtual_time: trio.testing.MockClock
) -> None:
    env = {"CLARA_SANDBOX_IDLE_SECONDS": "120"}
    async with sandbox_running(tmp_path, env=env) as running:
        await running.call("run_python", {"code": "x = 1"})
        await trio.sleep(119)
        assert running.backend.count("remove") == 0
        await trio.sleep(2)
        await wait_until(lambda: running.backend.count("remove") == 1, "the idle sandbox removed")
        assert len(running.system.sandboxes) == 0
        assert running.backend.running() == []
        # The next call makes a fresh one, without a note: nothing was lost unexpectedly.
        again = await running.call("run_python", {"code": "x = 2"})
        assert running.backend.count("create") == 2
        assert "restarted" not in again.text


async def test_when_every_sandbox_is_busy_the_model_is_told_to_try_again(tmp_path: Path) -> None:
    env = {"CLARA_SANDBOX_MAX_RUNNING": "1"}
    async with sandbox_running(tmp_path, env=env) as running:
        backend = running.backend
        backend.hang_next_run()
        results = []

        async def busy() -> None:
            results.append(await running.call("run_python", {"code": "while True: pass"}))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(busy)
            await trio.to_thread.run_sync(backend.entered.wait)
            refused = await running.call("run_python", {"code": "print(2)"}, author=OTHER)
            assert refused.error
            assert "all sandboxes are busy" in refused.text
            assert "try again in a moment" in refused.text
            backend.release()
        assert not results[0].error, results[0].text
        # Nothing crashed: the other person's call works once the first is idle (it is
        # passivated to make room).
        done = await running.call("run_python", {"code": "print(3)"}, author=OTHER)
        assert not done.error, done.text
        assert backend.count("remove") == 1
        assert running.root.statistics().restarts == 0


async def test_a_dead_sandbox_is_made_again_and_the_person_is_told(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        await running.call("write_file", {"path": "notes.txt", "content": "hi"})
        running.backend.die(OWNER, "oom")
        again = await running.call("list_files", {})
        assert not again.error, again.text
        assert (
            "your sandbox was restarted: it ran out of memory; files in it were lost" in again.text
        )
        assert "(no files)" in again.text
        assert running.backend.count("create") == 2
        details = running.system.sandboxes.statistics_of(OWNER).details
        assert details["remade"] == 1


async def test_a_sandbox_that_dies_during_a_run_is_named_then_remade(tmp_path: Path) -> None:
    async with sandbox_running(tmp_path) as running:
        await running.call("run_python", {"code": "print(0)"})
        running.backend.die_during_next_run("removed")
        died = await running.call("run_python", {"code": "print(1)"})
        assert died.error
        assert "your sandbox stopped during this call: it was removed outside Clara" in died.text
        assert running.state() == "none"
        again = await running.call("run_python", {"code": "print(2)"})
        assert not again.error
        assert "your sandbox was restarted: it was removed outside Clara" in again.text


async def test_a_hung_run_is_abandoned_at_its_deadline_and_the_sandbox_remade(
    tmp_path: Path, virtual_time: trio.testing.MockClock
) -> None:
    env = {"CLARA_SANDBOX_TIMEOUT": "10"}
    async with sandbox_running(tmp_path, env=env, hang_grace=5.0) as running:
        backend = running.backend
        await running.call("run_python", {"code": "print(0)"})
        backend.hang_next_run()
        started = trio.current_time()
        hung = await running.call("run_python", {"code": "import time; time.sleep(1e9)"})
        assert trio.current_time() - started == pytest.approx(15.0)
        assert hung.error and "it stopped answering" in hung.text
        backend.release()
        again = await running.call("run_python", {"code": "print(1)"})
        assert "your sandbox was restarted: it stopped answering" in again.text
        await wait_until(lambda: backend.count("remove") >= 1, "the hung sandbox removed")


async def test_a_hanging_backend_call_does_not_hold_the_stop(
    tmp_path: Path, virtual_time: trio.testing.MockClock
) -> None:
    backend = FakeSandboxBackend()
    async with sandbox_running(tmp_path, backend=backend, hang_grace=5.0) as running:
        backend.hang_next_run()
        outcome: list[object] = []

        async def call() -> None:
            outcome.append(await running.call("run_python", {"code": "hang"}))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            await trio.to_thread.run_sync(backend.entered.wait)
            began = trio.current_time()
            await running.root.stop()
            # Within the sandboxes' shutdown budget (hang_grace), not the run's 30 s + 5.
            assert trio.current_time() - began <= 5.0
        result = outcome[0]
        assert getattr(result, "error", False)
        assert "actor stopped while handling" in str(getattr(result, "text", ""))
    backend.release()


async def test_one_run_at_a_time_per_person(tmp_path: Path) -> None:
    active = 0
    most = 0

    def slow(sandbox: FakeSandbox, argv: object, stdin: bytes | None) -> ExecResult:
        nonlocal active, most
        active += 1
        most = max(most, active)
        import time  # noqa: PLC0415 - a real wait in the fake's worker thread

        time.sleep(0.02)
        active -= 1
        return ExecResult(exit_code=0, stdout=b"ok", stderr=b"")

    backend = FakeSandboxBackend(slow)
    async with (
        sandbox_running(tmp_path, backend=backend) as running,
        trio.open_nursery() as nursery,
    ):
        for index in range(3):
            nursery.start_soon(running.call, "run_python", {"code": f"print({index})"})
    assert most == 1


async def test_every_run_is_audited_ok_timed_out_truncated_and_failed(
    tmp_path: Path, store: Database
) -> None:
    env = {"CLARA_SANDBOX_OUTPUT_KB": "1"}
    async with sandbox_running(tmp_path, database=store, env=env) as running:
        backend = running.backend
        await running.call("run_python", {"code": "print('ok')"})
        backend.time_out_next_run()
        killed = await running.call("run_python", {"code": "while True: pass"})
        assert "killed: it ran past its 30s limit" in killed.text
        long_code = "x" * 3000
        cut = await running.call("run_shell", {"command": long_code})
        assert "[output cut: only the first 1 KiB" in cut.text
        backend.fail_next_run(SandboxError("the engine refused the exec"))
        failed = await running.call("run_python", {"code": "print('no')"})
        assert failed.error and "the engine refused the exec" in failed.text
        backend.on_execute = lambda sandbox, argv, stdin: ExecResult(
            exit_code=137, stdout=b"", stderr=b"", oom=True
        )
        hog = await running.call("run_python", {"code": "b = bytearray(2**40)"})
        assert "killed: it ran out of memory (the sandbox has 512 MB" in hog.text
        rows = running.runs()
    assert [(row.tool, row.exit_code, row.killed, row.truncated) for row in rows] == [
        ("run_python", 0, False, False),
        ("run_python", None, True, False),
        ("run_shell", 0, False, True),
        ("run_python", None, False, False),
        ("run_python", 137, True, False),
    ]
    ok = rows[0]
    assert ok.code_hash == hashlib.sha256(b"print('ok')").hexdigest()
    assert (ok.platform, ok.user_id, ok.channel_id, ok.guild_id) == (
        "discord",
        PERSON.id,
        CHANNEL,
        GUILD,
    )
    assert ok.backend == "fake" and ok.output_bytes == len("print('ok')")
    assert ok.finished_at is not None and ok.duration is not None
    assert rows[2].output_bytes == 1024
    assert rows[3].error == "the engine refused the exec"
    assert all(row.finished_at is not None for row in rows)


async def test_a_crash_mid_run_leaves_a_visible_unfinished_row(
    tmp_path: Path, store: Database
) -> None:
    async with sandbox_running(tmp_path, database=store) as running:
        running.backend.fail_next_run(RuntimeError("the backend broke"))
        crashed = await running.call("run_python", {"code": "print(1)"})
        assert crashed.error and "the backend broke" in crashed.text
        # Restarted (its on_stop removed the sandbox): the next call works.
        again = await running.call("run_python", {"code": "print(2)"})
        assert not again.error, again.text
        rows = running.runs()
    assert [row.finished_at is None for row in rows] == [True, False]
    assert rows[0].exit_code is None and rows[0].error is None


async def test_a_start_sweeps_what_an_earlier_life_left_before_any_sandbox_is_made(
    tmp_path: Path,
) -> None:
    backend = FakeSandboxBackend()
    left = backend.create("discord:someone-from-before", SandboxLimits())
    async with sandbox_running(tmp_path, backend=backend) as running:
        assert backend.sandboxes[left.id].removed  # swept before the subtree is up
        await running.call("run_python", {"code": "print(1)"})
    methods = [method for method, _owner in backend.calls]
    assert methods.index("sweep") < methods.index("create", 1)


async def test_a_sweep_that_fails_at_start_is_logged_and_sandboxes_still_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreachable(FakeSandboxBackend):
        def sweep(self) -> int:
            raise SandboxError("the engine at unix:///nowhere does not answer")

    async with sandbox_running(tmp_path, backend=Unreachable()) as running:
        done = await running.call("run_python", {"code": "print(1)"})
    assert not done.error
    assert "could not sweep what an earlier run left: the engine" in caplog.text
