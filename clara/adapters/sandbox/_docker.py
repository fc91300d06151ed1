"""The ``docker`` backend: one hardened container per person, through the docker SDK.

Works against any Docker-compatible engine: Docker itself, or podman's API service
(``podman system service``). Every container runs under the one hardening profile
(``_profile``): no network, memory = swap limit, CPU quota, pids limit, read-only root with a
size-limited ``/work`` tmpfs, user ``nobody``, no capabilities, ``no-new-privileges``, an init
process, no host environment. Its main process only sleeps; each run is an ``exec``.

**Time limits.** The SDK's exec has no timeout, so every run goes through a small Python
wrapper inside the container (``_runner``): it starts the command in a session of its own,
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
import json
import logging
import posixpath
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import docker.utils.socket
import requests.exceptions

from . import _files_inside, _runner
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

_RUNNER = Path(_runner.__file__).read_text(encoding="utf-8")
"""The run wrapper's source (``_runner``), run inside the container by ``python3 -I -S -c``."""
_FILES = Path(_files_inside.__file__).read_text(encoding="utf-8")
"""The file mover's source (``_files_inside``), run the same way."""

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
        scope: what this backend's containers are labelled with (``clara.sandbox.scope``);
            ``sweep`` removes that scope's containers only, so a Clara and a sandbox service
            on one engine never sweep each other's.
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
        scope: str = "clara",
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
        self.scope = scope
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
                    labels={
                        "clara.sandbox": "1",
                        "clara.sandbox.owner": tag,
                        "clara.sandbox.scope": self.scope,
                    },
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
            if self.runtime:
                self._check_runtime(container.id)
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
        command = [*self._wrapped(nonce, timeout, output_limit, stdin is not None), *argv]
        started = time.monotonic()
        exit_code, stdout, stderr = self._exec(
            container, handle, command, timeout + self.grace, stdin=stdin
        )
        duration = time.monotonic() - started
        marker = _runner.TRAILER + nonce.encode() + b":"
        at = stderr.rfind(marker)
        if at < 0:
            # The wrapper itself was killed (by the run's own code, or for memory), so
            # nothing stopped what it started: a wrapper run of `true` kills every process
            # of the sandbox's user before this run is reported.
            self._exec(container, handle, [*self._wrapped(nonce, 10.0, 0, False), "true"], 30.0)
            # A run that took the whole sandbox with it (gVisor's kernel past the memory
            # limit) is a sandbox gone, not a run that failed.
            reason = self.alive(handle)
            if reason is not None:
                raise SandboxGone(f"sandbox {handle.name} stopped during a run ({reason})", reason)
            return ExecResult(
                exit_code=exit_code,
                stdout=stdout[:output_limit],
                stderr=stderr[:output_limit],
                truncated=len(stdout) > output_limit or len(stderr) > output_limit,
                duration=duration,
            )
        status = json.loads(stderr[at + len(marker) :])
        return ExecResult(
            exit_code=status["exit"],
            stdout=stdout,
            stderr=stderr[:at],
            truncated=bool(status["truncated"]),
            timed_out=bool(status["timed_out"]),
            oom=bool(status.get("oom")),
            duration=duration,
        )

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` under ``/work`` as the sandbox's user (``_files_inside``)."""
        relative = _relative(path)
        if not relative:
            raise SandboxError(f"path: a file under {WORK_DIR}, got {path!r}")
        container = self._container(handle)
        code, _, err = self._exec(
            container, handle, self._inside("put", relative), 60.0, stdin=data
        )
        if code == 5:
            raise SandboxQuotaExceeded(
                f"{path}: the work directory is full ({len(data)} bytes do not fit)"
            )
        if code != 0:
            raise SandboxError(f"{path}: {_inside_error(code, err)}")

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        """The file at ``path`` under ``/work`` (symlinks followed only within it)."""
        relative = _relative(path)
        container = self._container(handle)
        code, out, err = self._exec(
            container, handle, self._inside("get", relative, str(max_bytes)), 60.0
        )
        if code == 8:
            raise SandboxError(
                f"{path}: {_text(err)} bytes, more than the {max_bytes} that may be read"
            )
        if code != 0:
            raise SandboxError(f"{path}: {_inside_error(code, err)}")
        return out

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

    def _check_runtime(self, container_id: str) -> None:
        """Refuse a sandbox the engine made with another runtime than the one asked for.

        Docker names the runtime in ``HostConfig.Runtime``. Podman's compatible API says
        ``oci`` whatever runs, and ignores a runtime asked per container (podman 4: its
        service's own ``--runtime`` decides), so its own API is asked instead.
        """
        api = self._client.api
        attrs = self._call("inspect", lambda: api.inspect_container(container_id))
        found = attrs.get("HostConfig", {}).get("Runtime") or None
        if found in (None, "oci"):
            # docker-py has no call for podman's own API: its raw GET, on the same session.
            url = f"{api.base_url}/v4.0.0/libpod/containers/{container_id}/json"
            response = self._call("inspect", lambda: api._get(url))
            found = response.json().get("OCIRuntime") if response.status_code == 200 else None
        if found is None:
            logger.warning(
                "sandbox: the engine at %s does not say which runtime it used; %s was asked for",
                self.base_url,
                self.runtime,
            )
        elif found != self.runtime:
            raise SandboxError(
                f"CLARA_SANDBOX_RUNTIME is {self.runtime!r} but the engine at {self.base_url} "
                f"made the sandbox with {found!r}: podman's Docker-compatible API ignores the "
                "runtime asked per container; start its service as "
                f"`podman --runtime {self.runtime} system service`"
            )

    def sweep(self) -> int:
        """Remove every container labelled with this backend's scope (running or not)."""
        label = f"clara.sandbox.scope={self.scope}"
        found = self._call(
            "list",
            lambda: self._client.api.containers(all=True, filters={"label": label}),
        )
        removed = 0
        for container in found:
            self._remove_named(str(container["Id"]))  # one already gone is no error
            removed += 1
        if removed:
            logger.info(
                "sandbox: removed %d left from an earlier run (scope %s)", removed, self.scope
            )
        return removed

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
        self,
        container: Any,
        handle: SandboxHandle,
        command: list[str],
        deadline: float,
        *,
        stdin: bytes | None = None,
    ) -> tuple[int | None, bytes, bytes]:
        """One exec as the sandbox's user, ``stdin`` streamed to it, abandoned (and the
        container killed) at ``deadline`` seconds."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                exec_id = self._exec_client.exec_create(
                    container.id,
                    command,
                    stdout=True,
                    stderr=True,
                    stdin=stdin is not None,
                    user=SANDBOX_USER,
                    workdir=WORK_DIR,
                    environment={},
                )["Id"]
                if stdin is None:
                    out, err = self._exec_client.exec_start(exec_id, demux=True)
                else:
                    out, err = _with_stdin(self._exec_client, exec_id, stdin)
                box["output"] = (out or b"", err or b"")
                box["exit"] = _exit_code(self._exec_client, exec_id)
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
    def _wrapped(nonce: str, timeout: float, output_limit: int, stdin: bool) -> list[str]:
        """The wrapper's argv, up to the command's."""
        limits = [repr(float(timeout)), str(output_limit), "0" if stdin else "-"]
        return ["python3", "-I", "-S", "-c", _RUNNER, nonce, *limits, "--"]

    @staticmethod
    def _inside(*arguments: str) -> list[str]:
        """The in-container file mover's argv (``_files_inside``)."""
        return ["python3", "-I", "-S", "-c", _FILES, *arguments]

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


def _inside_error(code: int | None, err: bytes) -> str:
    """Words for a failed ``_files_inside`` run."""
    words = _files_inside.EXIT.get(code or 0)
    detail = _text(err)
    if words is None:
        return f"moving the file failed (exit {code}): {detail}"
    return f"{words}: {detail}" if detail else words


def _exit_code(client: Any, exec_id: str) -> int | None:
    """The exec's exit code: its stream can close a moment before the engine records the
    end (a program that stopped reading its stdin), so a running exec is asked again."""
    for _ in range(100):
        state = client.exec_inspect(exec_id)
        if not state.get("Running"):
            code = state.get("ExitCode")
            return None if code is None else int(code)
        time.sleep(0.01)
    return None


def _with_stdin(client: Any, exec_id: str, data: bytes) -> tuple[bytes | None, bytes | None]:
    """Start an exec made with ``stdin=True``: ``data`` is written to its stdin from a thread
    of its own (then closed) while its output is read here, so a program that prints before
    it reads cannot deadlock the two."""
    connection = client.exec_start(exec_id, socket=True)
    raw = getattr(connection, "_sock", connection)

    def send() -> None:
        try:
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the program ended without reading it all: its choice

    sender = threading.Thread(target=send, name="exec stdin", daemon=True)
    sender.start()
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        sockets = docker.utils.socket
        for stream, chunk in sockets.frames_iter(connection, tty=False):
            (out if stream == sockets.STDOUT else err).append(chunk)
    except (ConnectionResetError, BrokenPipeError):
        # The program ended before reading all it was sent; the engine closed the stream.
        # What it printed until then is kept; its exit code is read by the caller.
        pass
    finally:
        sender.join(timeout=5.0)
        connection.close()
    return b"".join(out), b"".join(err)
