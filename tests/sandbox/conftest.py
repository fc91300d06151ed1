"""podman's Docker-compatible API, started by the tests, and the sandbox image built once.

The service is ``podman system service --time=0 unix://<tmp>/podman.sock``: it serves the
machine's podman store (so an image built by ``podman import`` is there) with the engine
settings of ``/etc/containers/containers.conf`` (runc, cgroupfs, lowered ulimits: FACTS.md;
``.ci/run`` writes the same file). The image is ``ensure_image``'s, built by debootstrap the
first time (about 40 s) and found by name afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from clara.adapters.sandbox import (
    DEFAULT_IMAGE,
    DockerBackend,
    SandboxHandle,
    SandboxLimits,
    ensure_image,
)
from tests.helpers import require

HOST_MARKER = "SANDBOX_TEST_HOST_ONLY_MARKER"
"""Set in this process (and so in the podman service it starts): it must never show inside."""

LIMITS = SandboxLimits(memory_mb=256, cpus=1.0, pids=64, work_mb=16)


@pytest.fixture(scope="session")
def engine_url(engine: tuple[str, subprocess.Popen[bytes]]) -> str:
    """The URL of a podman API service of the test session's own."""
    return engine[0]


@pytest.fixture(scope="session")
def engine() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The podman API service's URL and process (a test may pause it, and must resume it)."""
    require(shutil.which("podman"), "podman")
    os.environ[HOST_MARKER] = "host-secret-" + secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="clara-podman-") as folder:
        socket = Path(folder) / "podman.sock"
        url = f"unix://{socket}"
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", url],
            # conmon leaves an empty "oom" marker in its working folder when a container's
            # process is killed for memory: keep it out of the checkout.
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_listening(service, url)
            yield url, service
        finally:
            service.terminate()
            try:
                service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()


def _wait_listening(service: subprocess.Popen[bytes], url: str) -> None:
    """Polls the service's socket until it answers (it starts in well under a second)."""
    client = docker.DockerClient(base_url=url, version="1.41", timeout=10)
    deadline = time.monotonic() + 30
    try:
        while True:
            if service.poll() is not None:
                assert service.stderr is not None
                pytest.fail(f"podman system service exited: {service.stderr.read()[-500:]!r}")
            try:
                client.ping()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            else:
                return
    finally:
        client.close()


@pytest.fixture(scope="session")
def image() -> str:
    require(shutil.which("podman"), "podman")
    require(shutil.which("debootstrap") or _has_image(DEFAULT_IMAGE), "debootstrap")
    ensure_image(DEFAULT_IMAGE)
    return DEFAULT_IMAGE


def _has_image(name: str) -> bool:
    found = subprocess.run(["podman", "image", "exists", name], check=False)
    return found.returncode == 0


@pytest.fixture(scope="session")
def backend(engine_url: str, image: str) -> Iterator[DockerBackend]:
    # A scope of its own: a Clara the tests start (scope "clara") sweeps only its own.
    docker_backend = DockerBackend(engine_url, image, grace=5.0, scope="pytest")
    yield docker_backend
    docker_backend.close()


@pytest.fixture(scope="session")
def owner_prefix() -> str:
    return f"test-{secrets.token_hex(4)}-"


@pytest.fixture(scope="session")
def shared_sandbox(backend: DockerBackend, owner_prefix: str) -> Iterator[SandboxHandle]:
    """One sandbox that the tests which leave it healthy share (creating one takes ~0.15 s,
    but a healthy sandbox after abuse is what they check)."""
    handle = backend.create(owner_prefix + "shared", LIMITS)
    yield handle
    backend.remove(handle)


@pytest.fixture
def own_sandbox(backend: DockerBackend, owner_prefix: str) -> Iterator[SandboxHandle]:
    """A sandbox for a test that kills or removes it."""
    handle = backend.create(owner_prefix + secrets.token_hex(4), LIMITS)
    yield handle
    backend.remove(handle)


def assert_healthy(backend: DockerBackend, handle: SandboxHandle) -> None:
    assert backend.alive(handle) is None
    result = backend.execute(handle, ["python3", "-c", "print(1)"], timeout=10, output_limit=100)
    assert (result.exit_code, result.stdout, result.timed_out) == (0, b"1\n", False), result


def user_processes(backend: DockerBackend, handle: SandboxHandle) -> list[str]:
    """Command lines of the sandbox user's processes other than the container's own
    (init, its ``sleep infinity``) and this listing itself."""
    listing = backend.execute(
        handle,
        [
            "python3",
            "-c",
            "import os\n"
            "for p in os.listdir('/proc'):\n"
            "    if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid()):\n"
            "        try: print(open(f'/proc/{p}/cmdline','rb').read()"
            ".replace(b'\\0', b' ').decode())\n"
            "        except OSError: pass",
        ],
        timeout=10,
        output_limit=10_000,
    )
    lines = listing.stdout.decode().splitlines()
    return [line for line in lines if line.strip() not in ("sleep infinity", "")]
