"""The ``remote`` backend against a real sandbox service on loopback.

The service runs in the test's own trio run (hypercorn on a free port) or as the real CLI
(``python -m clara sandbox-server``) in a subprocess, backed by bubblewrap (and once by the
docker backend through podman). The client is blocking, so each of its calls runs in a
worker thread, as the sandbox actor runs it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import pytest
import trio

from clara.actors.sandbox import bubblewrap_root
from clara.adapters.sandbox import (
    DockerBackend,
    SandboxBusy,
    SandboxError,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)
from clara.adapters.sandbox._bubblewrap import BubblewrapBackend
from clara.adapters.sandbox._remote import RemoteBackend
from clara.adapters.sandbox.server import SandboxService, serve_sandboxes
from clara.adapters.sandbox.server._wire import CreateRequest, HandleReply

_T = TypeVar("_T")

KEY = "right-key-" + "k" * 24
OTHER_KEY = "other-key-" + "o" * 24
WRONG_KEY = "wrong-key-" + "w" * 24
SECOND_KEY = "second-key-" + "s" * 24
LIMITS = SandboxLimits(memory_mb=256, cpus=1.0, pids=32, work_mb=4)
REPO = Path(__file__).resolve().parents[2]
REVERSE = "open('out.txt', 'wb').write(open('in/data.bin', 'rb').read()[::-1])"


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder every user can pass through (the sandbox's uid must reach its work folder)."""
    folder = Path(tempfile.mkdtemp(prefix="clara-remote-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def bwrap(root: Path) -> BubblewrapBackend:
    return BubblewrapBackend(root / "sandboxes", cgroup_root=None)


def sandbox_folders(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "sandboxes").glob("clara-sandbox-*"))


async def in_thread(call: Callable[[], _T]) -> _T:
    return await trio.to_thread.run_sync(call)


@asynccontextmanager
async def served(service: SandboxService) -> AsyncIterator[str]:
    """``service`` on a free loopback port for the block; its URL."""
    async with trio.open_nursery() as nursery:
        url: str = await nursery.start(serve_sandboxes, service, "127.0.0.1", 0)
        yield url
        nursery.cancel_scope.cancel()


def client(url: str, key: str = KEY) -> RemoteBackend:
    return RemoteBackend(url, key, timeout=30.0, execute_margin=10.0)


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_the_right_key_creates_runs_moves_files_and_removes(
    bwrap: BubblewrapBackend, root: Path
) -> None:
    service = SandboxService(bwrap, {"default": KEY})
    async with served(service) as url:
        remote = client(url)
        handle = await in_thread(lambda: remote.create("alice", LIMITS))
        assert handle.backend == "remote" and handle.name.startswith("clara-sandbox-")
        assert await in_thread(lambda: remote.alive(handle)) is None
        result = await in_thread(
            lambda: remote.execute(
                handle, ["python3", "-c", "print(1)"], timeout=10, output_limit=100
            )
        )
        assert (result.exit_code, result.stdout, result.timed_out) == (0, b"1\n", False)
        await in_thread(lambda: remote.put_file(handle, "in/data.bin", bytes(range(256))))
        result = await in_thread(
            lambda: remote.execute(
                handle,
                [
                    "python3",
                    "-c",
                    "open('out.txt','wb').write(open('in/data.bin','rb').read()[::-1])",
                ],
                timeout=10,
                output_limit=100,
            )
        )
        assert result.exit_code == 0, result
        listed = await in_thread(lambda: remote.list_files(handle))
        assert {(entry.path, entry.size) for entry in listed if not entry.is_dir} == {
            ("in/data.bin", 256),
            ("out.txt", 256),
        }
        back = await in_thread(lambda: remote.get_file(handle, "out.txt", 1000))
        assert back == bytes(range(256))[::-1]
        # The backend's own storage quota (work_mb=4) comes back as the same error.
        with pytest.raises(SandboxQuotaExceeded):
            await in_thread(lambda: remote.put_file(handle, "huge", b"z" * 5_000_000))
        with pytest.raises(SandboxError, match="outside|leaves|no such|not"):
            await in_thread(lambda: remote.get_file(handle, "../../etc/passwd", 1000))
        await in_thread(lambda: remote.remove(handle))
        assert await in_thread(lambda: remote.alive(handle)) == "removed"
        await in_thread(lambda: remote.remove(handle))  # already gone: no error
        assert service.sandboxes == 0 and sandbox_folders(root) == []
        remote.close()


@pytest.mark.trio
async def test_a_wrong_key_is_refused_and_never_echoed_or_logged(
    bwrap: BubblewrapBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service = SandboxService(bwrap, {"default": KEY})
    async with served(service) as url:
        remote = client(url, WRONG_KEY)
        with pytest.raises(SandboxError, match="refused the API key") as refused:
            await in_thread(lambda: remote.create("alice", LIMITS))
        assert not isinstance(refused.value, SandboxUnavailable | SandboxGone)
        assert WRONG_KEY not in str(refused.value) and KEY not in str(refused.value)
        answer = await in_thread(
            lambda: httpx.post(
                f"{url}/v1/sandboxes",
                headers={"Authorization": f"Bearer {WRONG_KEY}"},
                json={"owner": "alice", "limits": {}},
            )
        )
        assert answer.status_code == 401
        assert answer.json()["kind"] == "auth"
        assert "Authorization: Bearer" in answer.json()["error"]
        assert WRONG_KEY not in answer.text and KEY not in answer.text
        assert service.sandboxes == 0
    assert WRONG_KEY not in caplog.text and KEY not in caplog.text


@pytest.mark.trio
async def test_no_key_is_refused_but_health_answers(bwrap: BubblewrapBackend) -> None:
    service = SandboxService(bwrap, {"default": KEY})
    async with served(service) as url, httpx.AsyncClient() as http:
        bare = await http.post(f"{url}/v1/sandboxes", json={"owner": "a", "limits": {}})
        basic = await http.get(f"{url}/v1/sandboxes/x", auth=("user", KEY))
        twice = await http.get(
            f"{url}/v1/sandboxes/x",
            headers=[("Authorization", f"Bearer {KEY}"), ("Authorization", f"Bearer {KEY}")],
        )
        health = await http.get(f"{url}/v1/health")
    assert bare.status_code == basic.status_code == twice.status_code == 401
    assert "missing or wrong API key" in bare.json()["error"]
    assert bare.headers["www-authenticate"].startswith("Bearer")
    assert health.status_code == 200
    assert health.json() == {"backend": "bubblewrap", "sandboxes": 0, "capacity": 20}


@pytest.mark.trio
async def test_a_handle_of_another_key_is_refused(bwrap: BubblewrapBackend) -> None:
    service = SandboxService(bwrap, {"a": KEY, "b": OTHER_KEY})
    async with served(service) as url:
        mine, theirs = client(url, KEY), client(url, OTHER_KEY)
        handle = await in_thread(lambda: mine.create("alice", LIMITS))
        with pytest.raises(SandboxGone, match="for this key") as gone:
            await in_thread(lambda: theirs.execute(handle, ["true"], timeout=5, output_limit=10))
        assert gone.value.reason == "removed"
        with pytest.raises(SandboxGone):
            await in_thread(lambda: theirs.get_file(handle, "x", 10))
        assert await in_thread(lambda: theirs.alive(handle)) == "removed"
        await in_thread(lambda: theirs.remove(handle))  # a no-op for another key
        assert await in_thread(lambda: mine.alive(handle)) is None
        # The same owner under another key is another sandbox, not the first one.
        their_alice = await in_thread(lambda: theirs.create("alice", LIMITS))
        assert their_alice.name != handle.name and service.sandboxes == 2
        assert await in_thread(lambda: mine.alive(handle)) is None
        # An id the service never made, and one shaped to reach a backend path.
        for made_up in ("AAAAAAAAAAAAAAAAAAAAAA", "..%2F..%2Fetc"):
            forged = msgspec_replace(handle, made_up)
            assert await in_thread(partial(mine.alive, forged)) == "removed"


def msgspec_replace(handle: Any, new_id: str) -> Any:
    return msgspec.structs.replace(handle, id=new_id)


@pytest.mark.trio
async def test_create_again_replaces_the_owners_sandbox_and_forgets_the_old_id(
    bwrap: BubblewrapBackend, root: Path
) -> None:
    service = SandboxService(bwrap, {"default": KEY}, max_sandboxes=1)
    async with served(service) as url:
        remote = client(url)
        first = await in_thread(lambda: remote.create("alice", LIMITS))
        second = await in_thread(lambda: remote.create("alice", LIMITS))
        assert first.id != second.id and service.sandboxes == 1
        assert await in_thread(lambda: remote.alive(first)) == "removed"
        assert await in_thread(lambda: remote.alive(second)) is None
        with pytest.raises(SandboxBusy, match="all 1 sandboxes"):
            await in_thread(lambda: remote.create("bob", LIMITS))
    # Stopping the service removed what it made.
    assert service.sandboxes == 0 and sandbox_folders(root) == []


# -- limits ------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_the_time_limit_holds_through_the_remote(bwrap: BubblewrapBackend) -> None:
    service = SandboxService(bwrap, {"default": KEY})
    async with served(service) as url:
        remote = client(url)
        handle = await in_thread(lambda: remote.create("alice", LIMITS))
        script = (
            "import os, signal, time\n"
            "if os.fork() == 0:\n"
            "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "    time.sleep(600)\n"
            "time.sleep(600)\n"
        )
        result = await in_thread(
            lambda: remote.execute(handle, ["python3", "-c", script], timeout=0.5, output_limit=100)
        )
        assert result.timed_out and result.exit_code is None
        after = await in_thread(
            lambda: remote.execute(
                handle, ["python3", "-c", "print(2)"], timeout=10, output_limit=10
            )
        )
        assert after.stdout == b"2\n"


@pytest.mark.trio
async def test_limits_past_the_services_ceiling_are_refused_naming_the_field(
    bwrap: BubblewrapBackend,
) -> None:
    service = SandboxService(
        bwrap, {"default": KEY}, ceiling=SandboxLimits(memory_mb=256), max_timeout=60
    )
    async with served(service) as url:
        remote = client(url)
        with pytest.raises(
            SandboxError, match=r"limits\.memory_mb must be .* at most 256; got 512"
        ):
            await in_thread(lambda: remote.create("alice", SandboxLimits(memory_mb=512)))
        with pytest.raises(SandboxError, match="offers no network"):
            await in_thread(lambda: remote.create("alice", SandboxLimits(network=True)))
        handle = await in_thread(lambda: remote.create("alice", LIMITS))
        with pytest.raises(SandboxError, match="timeout must be above 0 and at most 60 s"):
            await in_thread(lambda: remote.execute(handle, ["true"], timeout=61, output_limit=10))
        async with httpx.AsyncClient() as http:
            bad = await http.post(
                f"{url}/v1/sandboxes/{handle.id}/execute",
                headers={"Authorization": f"Bearer {KEY}"},
                json={"argv": ["true"], "timeout": "soon", "output_limit": 10},
            )
        assert bad.status_code == 400
        assert "$.timeout" in bad.json()["error"]


@pytest.mark.trio
async def test_an_oversized_body_is_refused(bwrap: BubblewrapBackend) -> None:
    service = SandboxService(bwrap, {"default": KEY}, max_file_bytes=1000)
    async with served(service) as url:
        remote = client(url)
        handle = await in_thread(lambda: remote.create("alice", LIMITS))
        # Past the body limit: refused on its Content-Length, without being kept.
        with pytest.raises(SandboxQuotaExceeded, match="request body is"):
            await in_thread(lambda: remote.put_file(handle, "big", b"x" * 200_000))
        # Within the body limit but past the file limit.
        with pytest.raises(SandboxQuotaExceeded, match="the file is 1,001 bytes; at most 1,000"):
            await in_thread(lambda: remote.put_file(handle, "big", b"x" * 1001))

        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b" " * 4096

        async with httpx.AsyncClient() as http:
            chunked = await http.post(
                f"{url}/v1/sandboxes/{handle.id}/files/put",
                headers={"Authorization": f"Bearer {KEY}"},
                content=pieces(),
            )
        assert chunked.status_code == 413 and chunked.json()["kind"] == "too_large"
        await in_thread(lambda: remote.put_file(handle, "ok", b"y" * 1000))
        assert await in_thread(lambda: remote.get_file(handle, "ok", 1000)) == b"y" * 1000


@pytest.mark.trio
async def test_a_stopped_service_is_unavailable_naming_its_url(bwrap: BubblewrapBackend) -> None:
    service = SandboxService(bwrap, {"default": KEY})
    async with served(service) as url:
        remote = client(url)
        handle = await in_thread(lambda: remote.create("alice", LIMITS))
    with pytest.raises(SandboxUnavailable, match=f"cannot reach the sandbox service at {url}"):
        await in_thread(lambda: remote.execute(handle, ["true"], timeout=5, output_limit=10))
    with pytest.raises(SandboxUnavailable):
        await in_thread(lambda: remote.create("alice", LIMITS))


# -- the client's mapping, through httpx's mock transport ---------------------------------------


def test_statuses_become_the_protocols_errors_and_a_run_waits_past_its_limit() -> None:
    seen: list[httpx.Request] = []
    answers = {
        "/v1/sandboxes/busy/execute": (503, {"error": "full", "kind": "busy"}),
        "/v1/sandboxes/slow/execute": (429, {"error": "slow down", "kind": "busy"}),
        "/v1/sandboxes/quota/execute": (507, {"error": "disk full", "kind": "quota"}),
        "/v1/sandboxes/oom/execute": (410, {"error": "killed", "kind": "gone", "reason": "oom"}),
        "/v1/sandboxes/engine/execute": (502, {"error": "engine down", "kind": "unavailable"}),
        "/v1/sandboxes/odd/execute": (500, {"error": "broke", "kind": "error"}),
        "/v1/sandboxes/ok/execute": (
            200,
            {"exit_code": 0, "stdout": "MQo=", "stderr": "", "timed_out": False},
        ),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = answers[request.url.path]
        return httpx.Response(status, json=body)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    remote = RemoteBackend("http://sandbox.test", KEY, timeout=5.0, execute_margin=7.0, http=http)

    def run(handle_id: str) -> Any:
        handle = msgspec_replace(_handle(), handle_id)
        return remote.execute(handle, ["true"], timeout=30, output_limit=10)

    for handle_id, error in (
        ("busy", SandboxBusy),
        ("slow", SandboxBusy),
        ("quota", SandboxQuotaExceeded),
        ("oom", SandboxGone),
        ("engine", SandboxUnavailable),
        ("odd", SandboxError),
    ):
        with pytest.raises(error) as raised:
            run(handle_id)
        assert "http://sandbox.test" in str(raised.value) or isinstance(raised.value, SandboxGone)
    with pytest.raises(SandboxGone) as gone:
        run("oom")
    assert gone.value.reason == "oom"
    assert run("ok").stdout == b"1\n"
    assert seen[-1].extensions["timeout"]["read"] == 37.0
    assert seen[-1].headers["authorization"] == f"Bearer {KEY}"
    remote.close()
    assert not http.is_closed  # a client it was given stays the giver's


def _handle() -> Any:
    return SandboxHandle(id="x", name="clara-sandbox-x", backend="remote")


def test_the_client_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="url must start with https:// or http://"):
        RemoteBackend("ftp://x", KEY)
    with pytest.raises(ValueError, match="key"):
        RemoteBackend("https://x", "")
    with pytest.raises(ValueError, match="timeout"):
        RemoteBackend("https://x", KEY, timeout=0)


def test_the_service_checks_its_keys(bwrap: BubblewrapBackend) -> None:
    with pytest.raises(ValueError, match="at least one API key"):
        SandboxService(bwrap, {})
    with pytest.raises(ValueError, match="labelled 'short' is 5 characters") as short:
        SandboxService(bwrap, {"short": "abcde"})
    assert "abcde" not in str(short.value)


# -- the real CLI ---------------------------------------------------------------------------------


def cli_environment(root: Path, **extra: str) -> dict[str, str]:
    """The subprocess's environment: no CLARA_* of this process, a data folder of its own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLARA_")}
    env.update(CLARA_DATA_DIR=str(root / "data"), CLARA_SANDBOX_BACKEND="bubblewrap", **extra)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_the_cli_without_a_key_refuses_to_start_with_one_clear_line(root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clara", "sandbox-server", "--port", "0"],
        env=cli_environment(root),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("clara sandbox-server: CLARA_SANDBOX_SERVER_KEY is not set")


def test_the_cli_serves_the_right_key_and_refuses_a_wrong_one(root: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "clara", "sandbox-server", "--port", "0"],
        # Two keys: one per Clara process.
        env=cli_environment(root, CLARA_SANDBOX_SERVER_KEY=f"{KEY}, {SECOND_KEY}"),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # EOF at once if the service dies
        assert "listening on http://127.0.0.1:" in line, line
        url = line.rsplit(" ", 1)[1].strip()
        with pytest.raises(SandboxError, match="refused the API key"):
            client(url, WRONG_KEY).create("alice", LIMITS)
        remote = client(url)
        handle = remote.create("alice", LIMITS)
        result = remote.execute(handle, ["python3", "-c", "print(1)"], timeout=10, output_limit=10)
        assert (result.exit_code, result.stdout) == (0, b"1\n")
        # Where the CLI's bubblewrap backend keeps its sandboxes (not Clara's, nor the data folder).
        assert (bubblewrap_root("sandbox-server") / handle.name).is_dir()
        second = client(url, SECOND_KEY)
        assert second.sweep() == 0  # the other key's sandbox is not this key's to sweep
        theirs = second.create("alice", LIMITS)
        assert theirs.name != handle.name  # the same owner name, another key: another sandbox
        assert remote.alive(handle) is None
        second.close()
        remote.close()
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
    assert server.returncode == 0, errors
    assert KEY not in errors and WRONG_KEY not in errors and SECOND_KEY not in errors
    assert "sandbox service (bubblewrap) listening on" in errors
    # SIGTERM removed the sandbox it made.
    assert not (bubblewrap_root("sandbox-server") / handle.name).exists()


# -- the docker backend through podman ------------------------------------------------------------


@pytest.mark.trio
async def test_the_docker_backend_serves_through_the_remote(
    backend: DockerBackend, owner_prefix: str
) -> None:
    service = SandboxService(backend, {"default": KEY})
    async with served(service) as url:
        remote = client(url)
        handle = await in_thread(lambda: remote.create(owner_prefix + "remote", LIMITS))
        try:
            result = await in_thread(
                lambda: remote.execute(
                    handle, ["python3", "-c", "print(1)"], timeout=10, output_limit=100
                )
            )
            assert (result.exit_code, result.stdout) == (0, b"1\n"), result
            await in_thread(lambda: remote.put_file(handle, "note.txt", b"hi"))
            assert await in_thread(lambda: remote.get_file(handle, "note.txt", 10)) == b"hi"
        finally:
            await in_thread(lambda: remote.remove(handle))
        assert await in_thread(lambda: remote.alive(handle)) == "removed"


# -- TLS ------------------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    import datetime  # noqa: PLC0415
    import ipaddress  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@pytest.mark.trio
async def test_the_service_speaks_tls_with_a_certificate_and_key(
    bwrap: BubblewrapBackend, root: Path
) -> None:
    certfile, keyfile = self_signed(root)
    service = SandboxService(bwrap, {"default": KEY})
    async with trio.open_nursery() as nursery:
        url: str = await nursery.start(
            partial(serve_sandboxes, service, "127.0.0.1", 0, certfile=certfile, keyfile=keyfile)
        )
        assert url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(certfile))
        http = httpx.Client(verify=context)
        remote = RemoteBackend(url, KEY, http=http)
        handle = await in_thread(lambda: remote.create("alice", LIMITS))
        result = await in_thread(
            lambda: remote.execute(handle, ["python3", "-c", "print(1)"], timeout=9, output_limit=9)
        )
        assert result.stdout == b"1\n"
        # A client that does not trust the certificate never gets as far as sending the key.
        untrusting = RemoteBackend(url, KEY)
        with pytest.raises(SandboxUnavailable, match="cannot reach the sandbox service"):
            await in_thread(lambda: untrusting.alive(handle))
        untrusting.close()
        await in_thread(http.close)
        nursery.cancel_scope.cancel()


# -- what nobody holds any more ------------------------------------------------------------------


async def ask(
    service: SandboxService, method: str, path: str, body: bytes = b"", key: str = KEY
) -> tuple[int, bytes]:
    """One request straight to the ASGI app (no sockets: the test's clock is the app's)."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"authorization", b"Bearer " + key.encode())]
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await service(scope, receive, send)  # type: ignore[arg-type]
    return int(sent[0]["status"]), bytes(sent[1]["body"])


def create_body(owner: str) -> bytes:
    return msgspec.json.encode(CreateRequest(owner=owner, limits=LIMITS))


@pytest.mark.trio
async def test_a_sandbox_nobody_touched_for_the_idle_time_is_removed(
    bwrap: BubblewrapBackend, root: Path, mock_clock: trio.testing.MockClock
) -> None:
    """pytest-trio's MockClock moves only when jumped (threads' waits do not move it)."""
    clock = mock_clock
    service = SandboxService(bwrap, {"default": KEY}, idle_seconds=100)
    status, made = await ask(service, "POST", "/v1/sandboxes", create_body("alice"))
    assert status == 201, made
    status, kept = await ask(service, "POST", "/v1/sandboxes", create_body("bob"))
    assert status == 201, kept
    bob = msgspec.json.decode(kept, type=HandleReply)
    clock.jump(60)
    assert (await ask(service, "GET", f"/v1/sandboxes/{bob.id}"))[0] == 200  # bob is back
    assert await service.reap_once() == 0  # 60 s: nobody idle yet
    clock.jump(60)
    assert await service.reap_once() == 1  # alice: 120 s untouched; bob: 60 s
    assert service.sandboxes == 1 and len(sandbox_folders(root)) == 1
    status, _ = await ask(service, "GET", f"/v1/sandboxes/{bob.id}")
    assert status == 200
    alice = msgspec.json.decode(made, type=HandleReply)
    status, gone = await ask(service, "GET", f"/v1/sandboxes/{alice.id}")
    assert status == 404 and b"removed" in gone
    await service.close()


@pytest.mark.trio
async def test_a_keys_sweep_removes_its_sandboxes_and_no_other_keys(
    bwrap: BubblewrapBackend, root: Path
) -> None:
    service = SandboxService(bwrap, {"default": KEY, "other": WRONG_KEY * 2})
    async with served(service) as url:
        mine, theirs = client(url), client(url, WRONG_KEY * 2)
        await in_thread(lambda: mine.create("alice", LIMITS))
        await in_thread(lambda: mine.create("bob", LIMITS))
        kept = await in_thread(lambda: theirs.create("alice", LIMITS))
        assert await in_thread(mine.sweep) == 2
        assert await in_thread(mine.sweep) == 0
        assert service.sandboxes == 1 and len(sandbox_folders(root)) == 1
        assert await in_thread(lambda: theirs.alive(kept)) is None
        mine.close()
        theirs.close()


@pytest.mark.trio
async def test_a_service_starting_again_removes_what_its_killed_life_left(
    bwrap: BubblewrapBackend, root: Path
) -> None:
    # What a service killed with kill -9 leaves: sandboxes in the backend nobody has ids for.
    await in_thread(lambda: bwrap.create("default/alice", LIMITS))
    await in_thread(lambda: bwrap.create("default/bob", LIMITS))
    assert len(sandbox_folders(root)) == 2
    async with served(SandboxService(bwrap, {"default": KEY})):
        assert sandbox_folders(root) == []
