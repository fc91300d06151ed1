"""The ``docker`` backend: one hardened container per person, through the docker SDK.

Works against any Docker-compatible engine: Docker itself, or podman's API service
(``podman system service``). Every container runs under the one hardening profile
(``_profile``): no network, memory = swap limit, CPU quota, pids limit, read-only root with a
size-limited ``/work`` tmpfs, user ``nobody``, no capabilities, ``no-new-privileges``, an init
process, no host environment. Its main process only sleeps; each run is an ``exec``.

**Time limits.** The SDK's exec has no timeout, so every run goes through a small Python
wrapper inside the container (``_RUNNER``): it starts the command in a session of its own,
reads its output, and at the limit (and again when the command ends) stops and kills *every*
process of the sandbox's user except the container's own keeper, so a child that ignores
SIGTERM, calls ``setsid`` or daemonises dies with the rest and nothing of one run is left
running into the next. A run's processes therefore never outlive it. Behind that, a host-side
deadline: the exec waits in a thread; if it has not returned ``grace`` seconds after the limit
(the wrapper itself was killed, the engine hangs) the container is killed and the run raises
``SandboxGone``.

**Output** is capped at the source: the wrapper forwards at most ``output_limit`` bytes of each
stream and reads the rest into nothing (the program runs on; ``truncated`` says so), so 50 MB
of output never crosses the engine's socket.

**Files** go in and out with ``put_archive`` / ``get_archive``; every path is relative to
``/work``, ``..`` is refused, and each is resolved inside the container first (symlinks
included) and refused unless it stays under ``/work``.

The image needs ``sh``, coreutils, findutils and ``python3`` (``ensure_image`` builds one).
Calls block: run them in worker threads (see ``_types``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import posixpath
import secrets
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from ._profile import SANDBOX_USER, WORK_DIR, docker_kwargs, sandbox_profile
from ._types import (
    ExecResult,
    SandboxError,
    SandboxFile,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)

__all__ = ["DockerBackend"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_API_VERSION = "1.41"
"""Pinned so the client does not ask the engine at construction (podman 4 speaks 1.41)."""

_UID = int(SANDBOX_USER.split(":")[0])
_LIST_LIMIT = 1000
_TRAILER = b"\0clara-run:"

# Runs inside the container as the sandbox's user: python3 -I -S -c _RUNNER NONCE LIMIT CAP
# STDIN -- ARGV... Writes the command's output (each stream capped at CAP) to its own
# stdout/stderr, then a trailer on stderr: \0clara-run:NONCE:{json}.
_RUNNER = r"""
import json, os, select, signal, subprocess, sys, time
nonce, limit, cap, stdin_path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
argv = sys.argv[6:]
me = os.getpid()
uid = os.getuid()

def oom_kills():
    try:
        with open("/sys/fs/cgroup/memory/memory.oom_control") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.events") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def processes():
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open("/proc/%d/status" % pid) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):
            continue
        state = fields.get("State", "").split()
        if int(fields.get("Uid", "-1").split()[0]) != uid or (state and state[0] in "ZX"):
            continue
        found.append((pid, int(fields.get("PPid", "0")), cmdline))
    return found

def keeper(found):
    # The container's own main process (sleep infinity, the first child of init): killing
    # it would end the container.
    mains = [pid for pid, ppid, cmd in found if ppid == 1 and cmd == b"sleep\0infinity\0"]
    return min(mains) if mains else None

def kill_all():
    for _ in range(200):
        found = processes()
        spare = {me, 1, keeper(found)}
        targets = [pid for pid, _, _ in found if pid not in spare]
        if not targets:
            return
        # Stopped first, then killed: a fork bomb cannot fork while it is stopped.
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in targets:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        time.sleep(0.002)

def write(fd, data):
    while data:
        data = data[os.write(fd, data):]

stdin = subprocess.DEVNULL
if stdin_path != "-":
    stdin = open(stdin_path, "rb")
    os.unlink(stdin_path)
kill_all()
ooms = oom_kills()
start = time.monotonic()
deadline = start + limit
timed_out = truncated = False
try:
    child = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, close_fds=True)
except OSError as exc:
    write(2, ("%s: %s\n" % (argv[0], exc.strerror)).encode())
    write(2, b"\0clara-run:" + nonce.encode() + b":" + json.dumps(
        {"exit": 127, "timed_out": False, "truncated": False, "oom": False}).encode())
    sys.exit(0)
left = {child.stdout.fileno(): [1, cap], child.stderr.fileno(): [2, cap]}
poller = select.poll()
for fd in left:
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
while left:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        timed_out = True
        break
    for fd, _ in poller.poll(remaining * 1000):
        chunk = os.read(fd, 65536)
        if not chunk:
            poller.unregister(fd)
            del left[fd]
            continue
        out = left[fd]
        if out[1] > 0:
            write(out[0], chunk[:out[1]])
        if len(chunk) > out[1]:
            truncated = True
        out[1] = max(0, out[1] - len(chunk))
code = None
if not timed_out:
    try:
        code = child.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
kill_all()
if timed_out:
    child.wait()
    code = None
elif code < 0:
    code = 128 - code
oom = oom_kills() > ooms
write(2, b"\0clara-run:" + nonce.encode() + b":" + json.dumps(
    {"exit": code, "timed_out": timed_out, "truncated": truncated, "oom": oom}).encode())
"""

# Resolves $1 (a path under /work) inside the container, symlinks included, and refuses it
# unless it stays there. -e: it must exist; -m: the last parts may be missing.
_RESOLVE = r"""
p=$(realpath "$2" -- "$1") || exit 3
case "$p" in /work|/work/*) ;; *) exit 4;; esac
printf '%s\n' "$p"
"""


def owner_hash(owner: str) -> str:
    """The owner's name in container names and labels (not the owner's id itself)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


class DockerBackend:
    """Sandboxes as containers of a Docker-compatible engine.

    Args:
        base_url: the engine's API (``unix:///run/podman/podman.sock``, ``tcp://host:2375``).
        image: the image every sandbox runs (needs sh, coreutils, python3).
        runtime: an OCI runtime by name (``runsc`` for gVisor) or None for the engine's.
        network: the network a sandbox joins when its limits turn the network on.
        api_timeout: seconds a control call (create, inspect, files) may take.
        grace: seconds past a run's limit before the host gives up on it and kills the
            container.
    """

    name = "docker"

    def __init__(
        self,
        base_url: str,
        image: str,
        *,
        runtime: str | None = None,
        network: str = "bridge",
        api_timeout: float = 60.0,
        grace: float = 10.0,
    ) -> None:
        if not base_url:
            raise ValueError("base_url: the engine's API URL, got ''")
        if not image:
            raise ValueError("image: the sandbox image's name, got ''")
        if api_timeout <= 0 or grace <= 0:
            raise ValueError(f"api_timeout and grace: positive seconds, got {api_timeout}, {grace}")
        self.base_url = base_url
        self.image = image
        self.runtime = runtime
        self.network = network
        self.grace = grace
        try:
            self._client = docker.DockerClient(
                base_url=base_url, version=_API_VERSION, timeout=api_timeout
            )
            # A run's exec waits as long as the run: no socket timeout there (the host-side
            # deadline in execute bounds it instead).
            self._exec_client = docker.APIClient(
                base_url=base_url, version=_API_VERSION, timeout=None
            )
        except docker.errors.DockerException as exc:
            raise ValueError(f"base_url: not an engine URL the docker SDK knows: {exc}") from exc

    # -- the SDK, with its errors mapped -------------------------------------------------

    def _call(self, what: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise SandboxUnavailable(
                f"the container engine at {self.base_url} does not answer ({what}): {exc}"
            ) from exc
        except docker.errors.APIError as exc:
            if "no space left" in str(exc).lower():
                raise SandboxQuotaExceeded(f"{what}: the sandbox's work directory is full") from exc
            raise SandboxError(f"{what}: the container engine said: {exc.explanation}") from exc
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(
                f"the container engine at {self.base_url} cannot be used ({what}): {exc}"
            ) from exc

    def _container(self, handle: SandboxHandle) -> Any:
        try:
            container = self._call("inspect", lambda: self._client.containers.get(handle.id))
        except SandboxError as exc:
            if isinstance(exc.__cause__, docker.errors.NotFound):
                raise SandboxGone(f"sandbox {handle.name} was removed", "removed") from exc
            raise
        if container.status != "running":
            reason = _reason(container.attrs.get("State", {}))
            raise SandboxGone(f"sandbox {handle.name} is not running ({reason})", reason)
        return container

    # -- the Protocol ------------------------------------------------------------------------

    def create(self, owner: str, limits: SandboxLimits) -> SandboxHandle:
        """A new running container for ``owner`` (one of the same name is removed first)."""
        tag = owner_hash(owner)
        name = f"clara-sandbox-{tag}"
        self._remove_named(name)
        kwargs = docker_kwargs(sandbox_profile(limits, runtime=self.runtime, network=self.network))
        try:
            container = self._call(
                "create",
                lambda: self._client.containers.create(
                    self.image,
                    ["sleep", "infinity"],
                    name=name,
                    hostname="sandbox",
                    labels={"clara.sandbox": "1", "clara.sandbox.owner": tag},
                    detach=True,
                    **kwargs,
                ),
            )
        except SandboxError as exc:
            if isinstance(exc.__cause__, docker.errors.ImageNotFound):
                raise SandboxError(
                    f"the sandbox image {self.image!r} is missing from the engine at "
                    f"{self.base_url} (build it with clara.adapters.sandbox.ensure_image)"
                ) from exc
            raise
        try:
            self._call("start", container.start)
        except BaseException:
            self._remove_named(name)
            raise
        logger.info("sandbox %s created (%s)", name, container.short_id)
        return SandboxHandle(id=container.id, name=name, backend=self.name)

    def alive(self, handle: SandboxHandle) -> str | None:
        """None while the container runs; else ``removed``, ``oom`` or ``exited N``."""
        try:
            state = self._call(
                "inspect", lambda: self._client.api.inspect_container(handle.id)
            ).get("State", {})
        except SandboxError as exc:
            if isinstance(exc.__cause__, docker.errors.NotFound):
                return "removed"
            raise
        if state.get("Running"):
            return None
        return _reason(state)

    def execute(
        self,
        handle: SandboxHandle,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float,
        output_limit: int,
    ) -> ExecResult:
        """Run ``argv`` in ``/work`` as ``nobody`` (see the module's docstring for the limits).

        Raises:
            SandboxGone: the container is not running, or had to be killed because the run
                did not end at its limit.
            SandboxUnavailable: the engine does not answer.
        """
        if not argv or any("\0" in part for part in argv):
            raise SandboxError("argv: a command and its arguments, without NUL bytes")
        if not timeout > 0:
            raise SandboxError(f"timeout: positive seconds, got {timeout!r}")
        if output_limit < 0:
            raise SandboxError(f"output_limit: bytes (0 or more), got {output_limit!r}")
        container = self._container(handle)
        nonce = secrets.token_hex(8)
        stdin_path = "-"
        if stdin is not None:
            stdin_name = f".clara-stdin-{nonce}"
            archive = _tar([(stdin_name, stdin, 0o600)])
            self._call("stdin", lambda: container.put_archive("/tmp", archive))
            stdin_path = f"/tmp/{stdin_name}"
        command = [*self._runner(nonce, timeout, output_limit, stdin_path), *argv]
        started = time.monotonic()
        exit_code, stdout, stderr = self._exec(container, handle, command, timeout + self.grace)
        duration = time.monotonic() - started
        marker = _TRAILER + nonce.encode() + b":"
        at = stderr.rfind(marker)
        if at < 0:
            # The wrapper itself was killed (by the run's own code, or for memory), so
            # nothing stopped what it started: a wrapper run of `true` kills every process
            # of the sandbox's user before this run is reported.
            self._exec(container, handle, [*self._runner(nonce, 10.0, 0, "-"), "true"], 30.0)
            return ExecResult(
                exit_code=exit_code,
                stdout=stdout[:output_limit],
                stderr=stderr[:output_limit],
                truncated=len(stdout) > output_limit or len(stderr) > output_limit,
                duration=duration,
            )
        status = json.loads(stderr[at + len(marker) :])
        stderr = stderr[:at]
        if status["oom"]:
            stderr += b"\n[killed: out of memory]\n"
        return ExecResult(
            exit_code=status["exit"],
            stdout=stdout,
            stderr=stderr,
            truncated=bool(status["truncated"]),
            timed_out=bool(status["timed_out"]),
            duration=duration,
        )

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` under ``/work`` as the sandbox's user."""
        relative = _relative(path)
        if not relative:
            raise SandboxError(f"path: a file under {WORK_DIR}, got {path!r}")
        container = self._container(handle)
        parent, _, base = relative.rpartition("/")
        if parent:
            code, _, err = self._small(container, handle, ["mkdir", "-p", "--", _full(parent)])
            if code != 0:
                raise SandboxError(f"{path}: cannot make its folder: {_text(err)}")
        target = self._resolve(container, handle, relative, must_exist=False)
        folder, _, base = target.rpartition("/")
        code, out, err = self._small(container, handle, ["stat", "-f", "-c", "%a %S", WORK_DIR])
        if code == 0:
            blocks, block_size = (int(part) for part in out.split())
            if len(data) > blocks * block_size:
                raise SandboxQuotaExceeded(
                    f"{path}: the work directory is full ({len(data)} bytes do not fit in "
                    f"the {blocks * block_size} left)"
                )
        archive = _tar([(base, data, 0o644)])
        try:
            self._call(f"writing {path}", lambda: container.put_archive(folder, archive))
        except SandboxQuotaExceeded as exc:
            # The engine writes as root and leaves what fitted, root-owned (the sandbox's user
            # could not remove it from the sticky /work): replace it with an empty file of
            # the user's, then remove that.
            self._call(
                "cleaning up", lambda: container.put_archive(folder, _tar([(base, b"", 0o644)]))
            )
            self._small(container, handle, ["rm", "-f", "--", target])
            raise SandboxQuotaExceeded(
                f"{path}: the work directory is full ({len(data)} bytes do not fit)"
            ) from exc

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        """The file at ``path`` under ``/work`` (symlinks followed only within it)."""
        relative = _relative(path)
        container = self._container(handle)
        target = self._resolve(container, handle, relative, must_exist=True)
        stream, stat = self._call(f"reading {path}", lambda: container.get_archive(target))
        if stat.get("mode", 0) & (1 << 31):
            raise SandboxError(f"{path}: a folder, not a file")
        if stat.get("size", 0) > max_bytes:
            raise SandboxError(
                f"{path}: {stat['size']} bytes, more than the {max_bytes} that may be read"
            )
        with tarfile.open(fileobj=_Chunks(stream), mode="r|") as archive:
            for member in archive:
                if not member.isfile():
                    raise SandboxError(f"{path}: not a regular file")
                if member.size > max_bytes:
                    raise SandboxError(
                        f"{path}: {member.size} bytes, more than the {max_bytes} that may be read"
                    )
                extracted = archive.extractfile(member)
                assert extracted is not None
                return extracted.read()
        raise SandboxError(f"{path}: no such file")

    def list_files(self, handle: SandboxHandle, path: str = ".") -> list[SandboxFile]:
        """Up to 1,000 entries under ``path`` (eight levels deep), relative to ``/work``."""
        relative = _relative(path)
        container = self._container(handle)
        target = self._resolve(container, handle, relative, must_exist=True)
        prefix = target[len(WORK_DIR) + 1 :]
        script = (
            f"find \"$1\" -mindepth 1 -maxdepth 8 -printf '%y\\t%s\\t%P\\0'"
            f" | head -z -n {_LIST_LIMIT}"
        )
        code, out, err = self._small(container, handle, ["sh", "-c", script, "sh", target])
        if code != 0:
            raise SandboxError(f"{path}: cannot list it: {_text(err)}")
        files = []
        for entry in out.split(b"\0"):
            if not entry:
                continue
            kind, size, name = entry.decode(errors="replace").split("\t", 2)
            files.append(
                SandboxFile(
                    path=posixpath.join(prefix, name) if prefix else name,
                    size=int(size) if kind != "d" else 0,
                    is_dir=kind == "d",
                )
            )
        return files

    def remove(self, handle: SandboxHandle) -> None:
        """Remove the container and its files; nothing happens when it is gone already."""
        try:
            self._call("remove", lambda: self._client.api.remove_container(handle.id, force=True))
        except SandboxError as exc:
            if not isinstance(exc.__cause__, docker.errors.NotFound):
                raise
        logger.info("sandbox %s removed", handle.name)

    def close(self) -> None:
        self._client.close()
        self._exec_client.close()

    # -- helpers ---------------------------------------------------------------------------

    def _remove_named(self, name: str) -> None:
        try:
            self._call("remove", lambda: self._client.api.remove_container(name, force=True))
        except SandboxError as exc:
            if not isinstance(exc.__cause__, docker.errors.NotFound):
                raise

    def _exec(
        self, container: Any, handle: SandboxHandle, command: list[str], deadline: float
    ) -> tuple[int | None, bytes, bytes]:
        """One exec as the sandbox's user, abandoned (and the container killed) at
        ``deadline`` seconds."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                exec_id = self._exec_client.exec_create(
                    container.id,
                    command,
                    stdout=True,
                    stderr=True,
                    user=SANDBOX_USER,
                    workdir=WORK_DIR,
                    environment={},
                )["Id"]
                out, err = self._exec_client.exec_start(exec_id, demux=True)
                box["output"] = (out or b"", err or b"")
                box["exit"] = self._exec_client.exec_inspect(exec_id).get("ExitCode")
            except BaseException as exc:  # handed to the caller's thread below
                box["error"] = exc

        worker = threading.Thread(target=run, name=f"exec {handle.name}", daemon=True)
        worker.start()
        worker.join(deadline)
        if worker.is_alive():
            logger.warning("sandbox %s: a run did not end at its limit; killing it", handle.name)
            try:
                self._call("kill", container.kill)
            except SandboxUnavailable:
                # The engine itself hangs: the sandbox may well be fine, the engine is not.
                raise
            except SandboxError:
                logger.exception("sandbox %s: could not kill it", handle.name)
            raise SandboxGone(
                f"sandbox {handle.name} was killed: a run did not stop at its time limit",
                "killed",
            )
        error = box.get("error")
        if isinstance(error, docker.errors.APIError):
            reason = self.alive(handle)
            if reason is not None:
                raise SandboxGone(f"sandbox {handle.name} stopped ({reason})", reason) from error
        if error is not None:
            # Mapped to Clara's errors like any other call.
            self._call("exec", _raiser(error))
        out, err = box["output"]
        return box["exit"], out, err

    @staticmethod
    def _runner(nonce: str, timeout: float, output_limit: int, stdin_path: str) -> list[str]:
        """The wrapper's argv, up to the command's."""
        limits = [repr(float(timeout)), str(output_limit), stdin_path]
        return ["python3", "-I", "-S", "-c", _RUNNER, nonce, *limits, "--"]

    def _small(
        self, container: Any, handle: SandboxHandle, command: list[str]
    ) -> tuple[int | None, bytes, bytes]:
        return self._exec(container, handle, command, 30.0)

    def _resolve(
        self, container: Any, handle: SandboxHandle, relative: str, *, must_exist: bool
    ) -> str:
        flag = "-e" if must_exist else "-m"
        code, out, err = self._small(
            container, handle, ["sh", "-c", _RESOLVE, "sh", _full(relative), flag]
        )
        shown = relative or "."
        if code == 3:
            raise SandboxError(f"{shown}: no such file or folder in the sandbox")
        if code == 4:
            raise SandboxError(f"{shown}: leads outside {WORK_DIR} (a symlink), refused")
        if code != 0:
            raise SandboxError(f"{shown}: cannot resolve it: {_text(err)}")
        return out.decode().rstrip("\n")


def _raiser(exc: BaseException) -> Callable[[], None]:
    def again() -> None:
        raise exc

    return again


def _reason(state: dict[str, Any]) -> str:
    if state.get("OOMKilled"):
        return "oom"
    return f"exited {state.get('ExitCode')}"


def _relative(path: str) -> str:
    """``path`` as a clean path relative to /work ("" for /work itself).

    Raises:
        SandboxError: it is absolute outside /work, climbs out with ``..``, or has a NUL.
    """
    if "\0" in path:
        raise SandboxError(f"path: no NUL bytes, got {path!r}")
    if path.startswith("/"):
        if path != WORK_DIR and not path.startswith(WORK_DIR + "/"):
            raise SandboxError(f"{path}: outside the work directory {WORK_DIR}")
        path = path[len(WORK_DIR) :]
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SandboxError(f"{path}: '..' is not allowed (paths stay under {WORK_DIR})")
    return "/".join(parts)


def _full(relative: str) -> str:
    return f"{WORK_DIR}/{relative}" if relative else WORK_DIR


def _text(data: bytes) -> str:
    return data.decode(errors="replace").strip()[-300:]


def _tar(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.uid = info.gid = _UID
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _Chunks(io.RawIOBase):
    """A file over the SDK's chunk generator (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
