"""The docker backend under gVisor (``runsc``): the abuse set's core, in a user-space kernel.

Real podman again, but a service of this module's own started with ``podman --runtime runsc``:
podman's Docker-compatible API ignores the ``runtime`` a client asks for (``HostConfig.Runtime``
is never read), so ``DockerBackend(runtime="runsc")`` refuses a sandbox the engine made with
another runtime (tested in ``test_docker_lifecycle``). The first test checks that the code
really runs under gVisor's kernel, not the host's.

podman must know ``runsc`` as a runtime: Debian's runsc (2022) needs ``--network=none`` on
Linux 6.8 and later (its ``network=sandbox`` takes every network namespace for the host's and
refuses to start), so ``.ci/run`` names a wrapper that adds it in ``[engine.runtimes]``.

What differs from runc, and is asserted here as it is:
- the pids limit is gVisor's ``RLIMIT_NPROC`` (``_profile`` puts it there: the host's pids
  limit counts gVisor's own threads, and reaching it crashes the sandbox's kernel);
- the memory limit is the whole sandbox's, gVisor's kernel included (~35 MB, and ~4 MB of
  host memory per process): a run past it takes the sandbox with it (``SandboxGone``), where
  runc kills only the process;
- the engine's archive calls do not reach the ``/work`` and ``/tmp`` tmpfs, which live inside
  gVisor's kernel: files and stdin therefore travel through ``exec`` (``_files_inside``),
  for every runtime, and are tested here too.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator

import pytest

from clara.adapters.sandbox import (
    DockerBackend,
    ExecResult,
    SandboxError,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
)
from tests.helpers import require
from tests.sandbox.conftest import _wait_listening, assert_healthy, user_processes

LIMITS = SandboxLimits(memory_mb=512, cpus=1.0, pids=32, work_mb=16)
"""Memory for the processes allowed: each costs gVisor ~4 MB of host memory, charged to the
sandbox's limit (61 sleeping processes filled 256 MB, and the sandbox was killed for it)."""


def python(backend: DockerBackend, handle: SandboxHandle, code: str, **kwargs: float) -> ExecResult:
    options: dict[str, float] = {"timeout": 10.0, "output_limit": 10_000} | kwargs
    return backend.execute(
        handle,
        ["python3", "-c", code],
        timeout=options["timeout"],
        output_limit=int(options["output_limit"]),
    )


@pytest.fixture(scope="module")
def gvisor_url() -> Iterator[str]:
    """A podman API service whose containers run under runsc."""
    require(shutil.which("podman"), "podman")
    require(shutil.which("runsc"), "runsc (gVisor)")
    with tempfile.TemporaryDirectory(prefix="clara-gvisor-") as folder:
        url = f"unix://{folder}/podman.sock"
        service = subprocess.Popen(
            ["podman", "--runtime", "runsc", "system", "service", "--time=0", url],
            cwd=folder,  # conmon's "oom" markers stay out of the checkout
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_listening(service, url)
            yield url
        finally:
            service.terminate()
            try:
                service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()


@pytest.fixture(scope="module")
def gvisor(gvisor_url: str, image: str) -> Iterator[DockerBackend]:
    backend = DockerBackend(gvisor_url, image, runtime="runsc", grace=5.0, scope="pytest-gvisor")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"test-gvisor-{secrets.token_hex(4)}-"


@pytest.fixture(scope="module")
def sandbox(gvisor: DockerBackend, prefix: str) -> Iterator[SandboxHandle]:
    try:
        handle = gvisor.create(prefix + "shared", LIMITS)
        gvisor.execute(handle, ["true"], timeout=10, output_limit=0)
    except SandboxError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        require(False, f"podman with a working runsc runtime ({first[:200]})")
        raise  # unreachable: require skipped or failed
    yield handle
    gvisor.remove(handle)


def test_the_code_runs_under_gvisors_kernel_not_the_hosts(
    gvisor: DockerBackend, sandbox: SandboxHandle
) -> None:
    result = gvisor.execute(sandbox, ["uname", "-r"], timeout=10, output_limit=100)
    assert result.exit_code == 0, result
    assert result.stdout.decode().strip() != os.uname().release
    engine = subprocess.run(
        ["podman", "inspect", "--format", "{{.OCIRuntime}}", sandbox.id],
        capture_output=True,
        text=True,
        check=True,
    )
    assert engine.stdout.strip() == "runsc"


def test_an_infinite_loop_is_killed_at_the_time_limit(
    gvisor: DockerBackend, sandbox: SandboxHandle
) -> None:
    result = python(gvisor, sandbox, "print('started', flush=True)\nwhile True: pass", timeout=1)
    assert result.timed_out and result.exit_code is None, result
    assert result.stdout == b"started\n"
    assert_healthy(gvisor, sandbox)


def test_a_fork_bomb_stops_at_the_process_limit_and_the_sandbox_lives_on(
    gvisor: DockerBackend, sandbox: SandboxHandle
) -> None:
    bomb = (
        "import os, signal\n"
        "made = 0\n"
        "while True:\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        print('refused after', made, flush=True)\n"
        "        break\n"
        "    if pid == 0:\n"
        "        signal.pause()\n"
        "    made += 1\n"
        "signal.pause()\n"
    )
    result = python(gvisor, sandbox, bomb, timeout=3)
    assert result.timed_out and result.exit_code is None, result
    made = int(result.stdout.split()[-1])
    assert 0 < made < LIMITS.pids, result.stdout
    assert user_processes(gvisor, sandbox) == []
    assert_healthy(gvisor, sandbox)


def test_a_2_gb_allocation_takes_only_its_own_sandbox_down(
    gvisor: DockerBackend, sandbox: SandboxHandle, prefix: str
) -> None:
    """Past the limit, gVisor either kills the whole sandbox (its kernel's memory counts too)
    or refuses the allocation (a ``MemoryError``): which one varies with how much it had
    mapped. Either way the allocation never succeeds and nothing else is touched."""
    doomed = gvisor.create(prefix + "oom", LIMITS)
    try:
        try:
            result = python(gvisor, doomed, "data = b'x' * (2 * 1024**3)\nprint(len(data))")
        except SandboxGone:
            assert gvisor.alive(doomed) not in (None, "removed")
        else:
            # Refused inside (MemoryError), or the sandbox's kernel went down while the run
            # was reported (runsc: "waiting on PID ... EOF"): never the allocation made.
            assert result.exit_code != 0, result
            assert b"2147483648" not in result.stdout
        # Its neighbour and the engine are untouched.
        assert_healthy(gvisor, sandbox)
    finally:
        gvisor.remove(doomed)
    again = gvisor.create(prefix + "oom", LIMITS)
    try:
        assert_healthy(gvisor, again)
    finally:
        gvisor.remove(again)


def test_a_server_on_the_hosts_loopback_cannot_be_reached(
    gvisor: DockerBackend, sandbox: SandboxHandle
) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # reachable from the host: a refusal below means something
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('reached')\n"
            "except OSError as exc:\n"
            "    print('refused', exc.errno)\n"
            "lines = open('/proc/net/dev').readlines()[2:]\n"
            "print(sorted(line.split(':')[0].strip() for line in lines))\n"
        )
        result = python(gvisor, sandbox, code)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result.exit_code == 0, result
    assert result.stdout.startswith(b"refused"), result.stdout
    assert result.stdout.decode().splitlines()[-1] == "['lo']"
    assert len(accepted) == 1  # the host's own check only
    assert_healthy(gvisor, sandbox)


def test_the_code_runs_as_nobody_and_writes_only_under_work(
    gvisor: DockerBackend, sandbox: SandboxHandle
) -> None:
    identity = gvisor.execute(sandbox, ["id", "-u"], timeout=10, output_limit=100)
    assert identity.stdout == b"65534\n"
    for target in ("/etc/evil", "/usr/bin/evil", "/evil"):
        result = gvisor.execute(
            sandbox, ["sh", "-c", f"echo x > {target}"], timeout=10, output_limit=1000
        )
        assert result.exit_code != 0, (target, result)
    assert_healthy(gvisor, sandbox)


def test_50_mb_of_output_is_capped_at_the_source(
    gvisor: DockerBackend, sandbox: SandboxHandle
) -> None:
    code = (
        "import sys\n"
        "chunk = b'y' * 1024 * 1024\n"
        "for _ in range(50):\n"
        "    sys.stdout.buffer.write(chunk)\n"
        "sys.stdout.flush()\n"
        "print('finished', file=sys.stderr)\n"
    )
    result = python(gvisor, sandbox, code, timeout=30, output_limit=4096)
    assert result.truncated and not result.timed_out, result.stderr
    assert result.stdout == b"y" * 4096
    assert (result.exit_code, result.stderr) == (0, b"finished\n")
    assert_healthy(gvisor, sandbox)


def test_files_go_in_and_come_back_out(gvisor: DockerBackend, sandbox: SandboxHandle) -> None:
    data = bytes(range(256)) * 100
    gvisor.put_file(sandbox, "in/data.bin", data)
    result = gvisor.execute(
        sandbox,
        # gVisor of 2022 has no statx (coreutils' stat fails): Python's stat asks fstatat.
        [
            "sh",
            "-c",
            "python3 -c \"import os; print(os.stat('in/data.bin').st_uid)\" "
            "&& sha256sum < in/data.bin > in/sum.txt",
        ],
        timeout=10,
        output_limit=100,
    )
    assert (result.exit_code, result.stdout) == (0, b"65534\n"), result
    assert gvisor.get_file(sandbox, "in/data.bin", 1_000_000) == data
    expected = hashlib.sha256(data).hexdigest().encode()
    assert gvisor.get_file(sandbox, "in/sum.txt", 100).startswith(expected)
    piped = gvisor.execute(
        sandbox, ["sh", "-c", "tr a-z A-Z"], stdin=b"hello\n", timeout=10, output_limit=100
    )
    assert piped.stdout == b"HELLO\n", piped
