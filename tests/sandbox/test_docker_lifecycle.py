"""A docker sandbox's life: created, found dead, removed; an engine that is not there."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time

import docker
import pytest

from clara.adapters.sandbox import (
    DockerBackend,
    SandboxError,
    SandboxGone,
    SandboxHandle,
    SandboxUnavailable,
)
from tests.sandbox.conftest import LIMITS, assert_healthy, user_processes


def test_create_replaces_a_leftover_of_the_same_name_and_labels_it(
    backend: DockerBackend, engine_url: str, owner_prefix: str
) -> None:
    first = backend.create(owner_prefix + "again", LIMITS)
    second = backend.create(owner_prefix + "again", LIMITS)
    try:
        assert second.name == first.name and second.id != first.id
        assert backend.alive(first) == "removed"
        client = docker.DockerClient(base_url=engine_url, version="1.41")
        try:
            attrs = client.api.inspect_container(second.id)
        finally:
            client.close()
        assert attrs["Config"]["Labels"]["clara.sandbox"] == "1"
        assert len(attrs["Config"]["Labels"]["clara.sandbox.owner"]) == 16
        host = attrs["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True
        assert host["Memory"] == host["MemorySwap"] == LIMITS.memory_mb * 1024 * 1024
        assert host["PidsLimit"] == LIMITS.pids
        assert host["CapDrop"], host
        assert attrs["Config"]["User"] == "65534:65534"
    finally:
        backend.remove(second)


def test_a_sandbox_removed_behind_claras_back_is_reported_gone(
    backend: DockerBackend, own_sandbox: SandboxHandle, engine_url: str
) -> None:
    client = docker.DockerClient(base_url=engine_url, version="1.41")
    try:
        client.api.remove_container(own_sandbox.id, force=True)
    finally:
        client.close()
    assert backend.alive(own_sandbox) == "removed"
    with pytest.raises(SandboxGone) as gone:
        backend.execute(own_sandbox, ["true"], timeout=5, output_limit=10)
    assert gone.value.reason == "removed"
    with pytest.raises(SandboxGone):
        backend.put_file(own_sandbox, "x", b"x")
    backend.remove(own_sandbox)  # gone already: no error


def test_a_sandbox_whose_main_process_was_killed_is_reported_exited(
    backend: DockerBackend, own_sandbox: SandboxHandle
) -> None:
    # The sandbox's user may kill every process it owns, the container's own included.
    with contextlib.suppress(SandboxGone):  # when the engine has noticed already
        backend.execute(own_sandbox, ["sh", "-c", "kill -9 -1"], timeout=5, output_limit=100)
    # The engine records the exit a moment after the exec returns.
    deadline = time.monotonic() + 30
    while (reason := backend.alive(own_sandbox)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reason is not None and reason.startswith("exited"), reason
    with pytest.raises(SandboxGone, match="not running"):
        backend.execute(own_sandbox, ["true"], timeout=5, output_limit=10)


def test_a_missing_command_exits_127_with_a_message(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    result = backend.execute(shared_sandbox, ["no-such-program"], timeout=5, output_limit=1000)
    assert result.exit_code == 127
    assert b"no-such-program" in result.stderr


def test_an_engine_that_is_not_there_is_unavailable_and_named(tmp_path: object) -> None:
    url = "unix:///nonexistent/clara-test/podman.sock"
    backend = DockerBackend(url, "localhost/clara-sandbox:2")
    with pytest.raises(SandboxUnavailable, match="/nonexistent/clara-test/podman.sock"):
        backend.create("someone", LIMITS)
    handle = SandboxHandle(id="abc", name="clara-sandbox-x", backend="docker")
    with pytest.raises(SandboxUnavailable, match="does not answer"):
        backend.alive(handle)
    backend.close()


def test_a_missing_image_is_named(engine_url: str, owner_prefix: str) -> None:
    backend = DockerBackend(engine_url, "localhost/clara-no-such-image:1")
    with pytest.raises(SandboxError, match="clara-no-such-image:1.*ensure_image"):
        backend.create(owner_prefix + "noimage", LIMITS)
    backend.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [(("", "img"), "base_url"), (("unix:///x", ""), "image"), (("ftp://x", "img"), "base_url")],
)
def test_bad_constructor_arguments_name_the_field(args: tuple[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DockerBackend(*args)


def test_a_run_whose_wrapper_is_killed_leaves_nothing_running(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    # The code kills the wrapper that enforces its limit, and keeps a daemon holding the
    # exec's output open: the run ends at once, and the daemon is killed before it returns.
    code = (
        "import os, signal, time\n"
        "wrapper = os.getppid()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    held = os.open(f'/proc/{wrapper}/fd/1', os.O_WRONLY)\n"
        "    os.kill(wrapper, signal.SIGKILL)\n"
        "    time.sleep(3600)\n"
        "time.sleep(3600)\n"
    )
    result = backend.execute(shared_sandbox, ["python3", "-c", code], timeout=30, output_limit=100)
    assert result.exit_code == 137 and not result.timed_out, result
    assert user_processes(backend, shared_sandbox) == []
    assert_healthy(backend, shared_sandbox)


def test_an_engine_that_hangs_during_a_run_is_given_up_on_at_the_deadline(
    engine: tuple[str, subprocess.Popen[bytes]], image: str, owner_prefix: str
) -> None:
    url, service = engine
    backend = DockerBackend(url, image, api_timeout=2.0, grace=1.0)
    handle = backend.create(owner_prefix + "hang", LIMITS)
    try:
        service.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(SandboxUnavailable, match="does not answer"):
                backend.execute(handle, ["true"], timeout=1, output_limit=10)
        finally:
            service.send_signal(signal.SIGCONT)
    finally:
        backend.remove(handle)
        backend.close()


def test_a_sweep_removes_its_own_scopes_containers_and_no_other(
    engine_url: str, image: str, owner_prefix: str
) -> None:
    ours = DockerBackend(engine_url, image, scope=f"sweep-{owner_prefix.strip('-')}")
    theirs = DockerBackend(engine_url, image, scope=f"other-{owner_prefix.strip('-')}")
    try:
        made = [ours.create(owner_prefix + f"sweep-{index}", LIMITS) for index in range(2)]
        kept = theirs.create(owner_prefix + "sweep-kept", LIMITS)
        try:
            assert ours.sweep() == 2
            assert [ours.alive(handle) for handle in made] == ["removed", "removed"]
            assert theirs.alive(kept) is None
            assert ours.sweep() == 0
        finally:
            theirs.remove(kept)
    finally:
        ours.close()
        theirs.close()


def test_a_runtime_the_engine_ignores_is_refused_not_quietly_dropped(
    engine_url: str, image: str, owner_prefix: str
) -> None:
    """Podman's compatible API ignores a runtime asked per container: asked for gVisor, the
    sandbox would run under runc, the host's kernel. Clara refuses it, saying what to do."""
    asked = DockerBackend(engine_url, image, runtime="runsc", scope="pytest-runtime")
    try:
        with pytest.raises(SandboxError, match=r"made the sandbox with 'runc'.*--runtime runsc"):
            asked.create(owner_prefix + "gvisor-asked", LIMITS)
        assert asked.sweep() == 0  # nothing left behind
    finally:
        asked.close()
