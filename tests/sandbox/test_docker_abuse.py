"""Abuse, contained: each attack ends with a clear result and the sandbox still healthy.

Real podman through its Docker-compatible API (``conftest``), the image built by debootstrap.
Every test ends by running ``print(1)`` in the same sandbox: whatever the code did, the next
person's run works.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from clara.adapters.sandbox import DockerBackend, ExecResult, SandboxHandle
from tests.sandbox.conftest import HOST_MARKER, LIMITS, assert_healthy, user_processes


def python(backend: DockerBackend, handle: SandboxHandle, code: str, **kwargs: float) -> ExecResult:
    options: dict[str, float] = {"timeout": 10.0, "output_limit": 10_000} | kwargs
    return backend.execute(
        handle,
        ["python3", "-c", code],
        timeout=options["timeout"],
        output_limit=int(options["output_limit"]),
    )


@pytest.fixture
def loopback_server() -> Iterator[tuple[int, list[object], threading.Event]]:
    """A TCP server of the test's own on every host address; records whoever connects."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()
    first = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            first.set()
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted, first
    stop.set()
    thread.join()
    server.close()


def host_addresses() -> list[str]:
    """This host's own IPv4 addresses (loopback first); never an outside address."""
    addresses = ["127.0.0.1"]
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False)
    addresses += [a for a in found.stdout.split() if "." in a]
    return addresses


def test_no_server_on_the_hosts_loopback_or_addresses_can_be_reached(
    backend: DockerBackend,
    shared_sandbox: SandboxHandle,
    loopback_server: tuple[int, list[object], threading.Event],
) -> None:
    port, accepted, first = loopback_server
    # First: the server is reachable from the host itself, so a failure below means something.
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert first.wait(10)
    seen = len(accepted)
    code = (
        "import socket, sys\n"
        f"for host in {host_addresses()!r}:\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=2)\n"
        "        print('reached', host)\n"
        "    except OSError as exc:\n"
        "        print('refused', host, exc.errno)\n"
        "print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n"
    )
    result = python(backend, shared_sandbox, code)
    assert result.exit_code == 0, result
    assert b"reached" not in result.stdout, result.stdout
    assert result.stdout.decode().splitlines()[-1] == "['lo']"
    assert len(accepted) == seen
    assert_healthy(backend, shared_sandbox)


def test_a_fork_bomb_stops_at_the_pids_limit_and_is_killed_at_the_time_limit(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    bomb = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = python(backend, shared_sandbox, bomb, timeout=2)
    assert result.timed_out and result.exit_code is None, result
    assert user_processes(backend, shared_sandbox) == []
    assert_healthy(backend, shared_sandbox)


def test_a_2_gb_allocation_is_killed_for_memory_and_the_sandbox_lives_on(
    backend: DockerBackend, shared_sandbox: SandboxHandle, owner_prefix: str
) -> None:
    result = python(backend, shared_sandbox, "data = b'x' * (2 * 1024**3)\nprint(len(data))")
    assert result.exit_code == 137, result
    assert result.oom, result
    assert not result.timed_out
    # The memory limit killed the process, not the container: it still runs...
    assert_healthy(backend, shared_sandbox)
    # ...and the engine still makes new ones.
    other = backend.create(owner_prefix + "after-oom", LIMITS)
    try:
        assert_healthy(backend, other)
    finally:
        backend.remove(other)


def test_an_infinite_loop_is_killed_at_the_time_limit(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    result = python(
        backend, shared_sandbox, "print('started', flush=True)\nwhile True: pass", timeout=1
    )
    assert result.timed_out and result.exit_code is None, result
    assert result.stdout == b"started\n"
    assert_healthy(backend, shared_sandbox)


def test_nothing_outside_the_work_directory_can_be_written(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    for target in ("/etc/evil", "/usr/bin/evil", "/evil", "/root/evil", "/var/evil"):
        result = backend.execute(
            shared_sandbox,
            ["sh", "-c", f"echo x > {target}"],
            timeout=10,
            output_limit=1000,
        )
        assert result.exit_code != 0, (target, result)
        assert b"Read-only file system" in result.stderr or b"Permission denied" in result.stderr
    written = backend.execute(
        shared_sandbox,
        ["sh", "-c", "echo ok > /work/fine && cat fine"],
        timeout=10,
        output_limit=100,
    )
    assert written.stdout == b"ok\n"
    assert_healthy(backend, shared_sandbox)


def test_50_mb_of_output_is_capped_at_the_source(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    code = (
        "import sys\n"
        "chunk = b'y' * 1024 * 1024\n"
        "for _ in range(50):\n"
        "    sys.stdout.buffer.write(chunk)\n"
        "sys.stdout.flush()\n"
        "print('finished', file=sys.stderr)\n"
    )
    result = python(backend, shared_sandbox, code, timeout=30, output_limit=4096)
    assert result.truncated and not result.timed_out, result.stderr
    assert result.stdout == b"y" * 4096
    # The program ran to its end: only its output was cut.
    assert (result.exit_code, result.stderr) == (0, b"finished\n")
    assert_healthy(backend, shared_sandbox)


def test_the_hosts_environment_is_not_inside(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    assert os.environ[HOST_MARKER]  # set before the engine started: the engine has it
    result = backend.execute(shared_sandbox, ["env"], timeout=10, output_limit=10_000)
    names = {line.split("=", 1)[0] for line in result.stdout.decode().splitlines()}
    assert HOST_MARKER not in names
    # The image's and the engine's own; LC_CTYPE is Python's C-locale coercion in the wrapper.
    expected = {"PATH", "HOME", "TERM", "HOSTNAME", "container", "PWD", "SHLVL", "_", "LC_CTYPE"}
    assert names <= expected, names
    assert os.environ[HOST_MARKER].encode() not in result.stdout
    identity = backend.execute(shared_sandbox, ["id", "-u"], timeout=10, output_limit=100)
    assert identity.stdout == b"65534\n"
    assert_healthy(backend, shared_sandbox)


def test_a_child_that_ignores_sigterm_and_leaves_its_session_dies_at_the_limit(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    code = (
        "import os, signal, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(3600)\n"
        "    os._exit(0)\n"
        "print('parent leaves', flush=True)\n"
    )
    result = python(backend, shared_sandbox, code, timeout=2)
    assert result.stdout == b"parent leaves\n"
    # The daemonised grandchild held the output open: the run lasted until its limit.
    assert result.timed_out, result
    assert user_processes(backend, shared_sandbox) == []
    assert_healthy(backend, shared_sandbox)


def test_a_background_process_does_not_outlive_its_run(
    backend: DockerBackend, shared_sandbox: SandboxHandle
) -> None:
    result = backend.execute(
        shared_sandbox,
        ["sh", "-c", "setsid sleep 3600 >/dev/null 2>&1 < /dev/null & echo started"],
        timeout=10,
        output_limit=100,
    )
    assert (result.exit_code, result.stdout, result.timed_out) == (0, b"started\n", False)
    assert user_processes(backend, shared_sandbox) == []
    assert_healthy(backend, shared_sandbox)
