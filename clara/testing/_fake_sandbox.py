"""FakeSandboxBackend: the ``SandboxBackend`` Protocol in memory, scripted by tests.

Each sandbox is a dict of files. ``execute`` runs ``on_execute`` (default: echo stdin to
stdout), caps the output as a real backend does, and obeys what the test told it: make a
sandbox die (``die``: ``alive`` then says why and every call raises ``SandboxGone``), die in
the middle of the next run (``die_during_next_run``), time the next run out
(``time_out_next_run``), fail it (``fail_next_run``), or hang in it until ``release`` (the
call blocks its worker thread, as a stuck engine would; ``entered`` is set when it starts).

Its methods are blocking and thread-safe, like a real backend's: the sandbox actor calls
them in worker threads. Every call is recorded in ``calls`` as ``(method, owner)``.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..adapters.sandbox import (
    ExecResult,
    SandboxError,
    SandboxFile,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)

__all__ = ["FakeSandbox", "FakeSandboxBackend", "OnExecute"]

OnExecute = Callable[["FakeSandbox", Sequence[str], bytes | None], ExecResult]
"""What a run does: given the sandbox, argv and stdin, its result (before the output cap)."""


@dataclass
class FakeSandbox:
    """One sandbox: its owner, limits and files (paths relative to the work directory)."""

    id: str
    owner: str
    limits: SandboxLimits
    files: dict[str, bytes] = field(default_factory=dict)
    dead: str | None = None
    """Why it no longer runs (``oom``, ``removed``...); None while it runs."""
    removed: bool = False

    def used(self) -> int:
        return sum(len(data) for data in self.files.values())


def _echo(sandbox: FakeSandbox, argv: Sequence[str], stdin: bytes | None) -> ExecResult:
    return ExecResult(exit_code=0, stdout=stdin or b"", stderr=b"")


def _work_path(path: str) -> str:
    """``path`` relative to the work directory, or SandboxError when it leaves it."""
    if path.startswith("/work/"):
        path = path[len("/work/") :]
    normal = posixpath.normpath(path)
    if path.startswith("/") or normal == ".." or normal.startswith("../"):
        raise SandboxError(f"{path!r} is outside the work directory")
    return normal


class FakeSandboxBackend:
    """An in-memory backend (see the module's docstring).

    Args:
        on_execute: what a run does (default: stdout is stdin, exit 0).
        name: the backend's name, as statistics and the audit show it.
    """

    def __init__(self, on_execute: OnExecute | None = None, *, name: str = "fake") -> None:
        self.name = name
        self.on_execute: OnExecute = on_execute or _echo
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.calls: list[tuple[str, str]] = []
        self.limits_seen: list[SandboxLimits] = []
        self.argv_seen: list[tuple[str, ...]] = []
        self.stdin_seen: list[bytes | None] = []
        self.entered = threading.Event()
        """Set when a run told to hang has started (and blocks)."""
        self.closed = False
        self.unavailable: str | None = None
        """When set, ``create`` raises ``SandboxUnavailable`` with this text."""
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._hang_next = False
        self._die_next: str | None = None
        self._time_out_next = False
        self._fail_next: BaseException | None = None
        self._serial = 0

    # -- scripting ---------------------------------------------------------------------------

    def of(self, owner: str) -> FakeSandbox:
        """The owner's current (latest, not removed) sandbox."""
        with self._lock:
            for sandbox in reversed(list(self.sandboxes.values())):
                if sandbox.owner == owner and not sandbox.removed:
                    return sandbox
        raise KeyError(f"{owner} has no sandbox")

    def die(self, owner: str, reason: str = "oom") -> None:
        """The owner's sandbox stops now (killed for memory, removed behind Clara's back)."""
        self.of(owner).dead = reason

    def die_during_next_run(self, reason: str = "oom") -> None:
        self._die_next = reason

    def time_out_next_run(self) -> None:
        self._time_out_next = True

    def fail_next_run(self, error: BaseException) -> None:
        self._fail_next = error

    def hang_next_run(self) -> None:
        """The next ``execute`` blocks its thread until ``release()``."""
        self._release.clear()
        self.entered.clear()
        self._hang_next = True

    def release(self) -> None:
        self._release.set()

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    def running(self) -> list[FakeSandbox]:
        with self._lock:
            return [s for s in self.sandboxes.values() if not s.removed]

    # -- the Protocol ------------------------------------------------------------------------

    def _record(self, method: str, owner: str) -> None:
        with self._lock:
            self.calls.append((method, owner))

    def _sandbox(self, handle: SandboxHandle) -> FakeSandbox:
        with self._lock:
            sandbox = self.sandboxes.get(handle.id)
        if sandbox is None or sandbox.removed:
            raise SandboxGone(f"sandbox {handle.name} is gone", "removed")
        if sandbox.dead is not None:
            raise SandboxGone(f"sandbox {handle.name} stopped: {sandbox.dead}", sandbox.dead)
        return sandbox

    def create(self, owner: str, limits: SandboxLimits) -> SandboxHandle:
        self._record("create", owner)
        if self.unavailable is not None:
            raise SandboxUnavailable(self.unavailable)
        with self._lock:
            self._serial += 1
            sandbox_id = f"fake-{self._serial}"
            for old in self.sandboxes.values():
                if old.owner == owner:
                    old.removed = True
            self.sandboxes[sandbox_id] = FakeSandbox(id=sandbox_id, owner=owner, limits=limits)
            self.limits_seen.append(limits)
        return SandboxHandle(id=sandbox_id, name=f"clara-sandbox-{owner}", backend=self.name)

    def alive(self, handle: SandboxHandle) -> str | None:
        with self._lock:
            sandbox = self.sandboxes.get(handle.id)
        self._record("alive", sandbox.owner if sandbox else "?")
        if sandbox is None or sandbox.removed:
            return "removed"
        return sandbox.dead

    def execute(
        self,
        handle: SandboxHandle,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float,
        output_limit: int,
    ) -> ExecResult:
        sandbox = self._sandbox(handle)
        self._record("execute", sandbox.owner)
        with self._lock:
            self.argv_seen.append(tuple(argv))
            self.stdin_seen.append(stdin)
        if self._hang_next:
            self._hang_next = False
            self.entered.set()
            self._release.wait()
        if self._die_next is not None:
            sandbox.dead, self._die_next = self._die_next, None
            raise SandboxGone(f"sandbox {handle.name} died during the run", sandbox.dead)
        if self._fail_next is not None:
            error, self._fail_next = self._fail_next, None
            raise error
        if self._time_out_next:
            self._time_out_next = False
            return ExecResult(
                exit_code=None, stdout=b"started\n", stderr=b"", timed_out=True, duration=timeout
            )
        result = self.on_execute(sandbox, argv, stdin)
        cut = len(result.stdout) > output_limit or len(result.stderr) > output_limit
        return ExecResult(
            exit_code=result.exit_code,
            stdout=result.stdout[:output_limit],
            stderr=result.stderr[:output_limit],
            truncated=result.truncated or cut,
            timed_out=result.timed_out,
            oom=result.oom,
            duration=result.duration or 0.01,
        )

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        sandbox = self._sandbox(handle)
        self._record("put_file", sandbox.owner)
        relative = _work_path(path)
        with self._lock:
            used = sandbox.used() - len(sandbox.files.get(relative, b""))
            if used + len(data) > sandbox.limits.work_mb * 1024 * 1024:
                raise SandboxQuotaExceeded(
                    f"{relative}: {len(data):,} bytes would take the work directory past "
                    f"{sandbox.limits.work_mb} MiB"
                )
            sandbox.files[relative] = bytes(data)

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        sandbox = self._sandbox(handle)
        self._record("get_file", sandbox.owner)
        relative = _work_path(path)
        with self._lock:
            data = sandbox.files.get(relative)
        if data is None:
            raise SandboxError(f"{relative}: no such file")
        if len(data) > max_bytes:
            raise SandboxError(f"{relative}: {len(data):,} bytes, more than {max_bytes:,}")
        return data

    def list_files(self, handle: SandboxHandle, path: str = ".") -> list[SandboxFile]:
        sandbox = self._sandbox(handle)
        self._record("list_files", sandbox.owner)
        prefix = _work_path(path)
        with self._lock:
            items = sorted(sandbox.files.items())
        return [
            SandboxFile(path=name, size=len(data))
            for name, data in items
            if prefix in (".", name) or name.startswith(prefix + "/")
        ]

    def remove(self, handle: SandboxHandle) -> None:
        with self._lock:
            sandbox = self.sandboxes.get(handle.id)
            if sandbox is not None:
                sandbox.removed = True
        self._record("remove", sandbox.owner if sandbox else "?")

    def sweep(self) -> int:
        """Remove every sandbox not removed yet (what a dead process would have left)."""
        with self._lock:
            left = [sandbox for sandbox in self.sandboxes.values() if not sandbox.removed]
            for sandbox in left:
                sandbox.removed = True
        self._record("sweep", "*")
        return len(left)

    def close(self) -> None:
        self.closed = True
