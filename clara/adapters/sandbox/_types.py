"""What every sandbox backend offers, and what it hands back.

A backend (``docker``, ``bubblewrap``, ``remote``) runs people's code somewhere it cannot hurt
Clara or the host. Its methods are **blocking** (the docker SDK is synchronous): the sandbox
actor calls them in worker threads that are abandoned on cancellation, so a call that hangs
never holds the actor past its shutdown. Every method that touches one sandbox takes its
``SandboxHandle``; a sandbox that died (OOM kill, pids exhausted, removed behind Clara's
back) raises ``SandboxGone`` from any of them, and ``alive`` says so without raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from ...errors import ClaraError

__all__ = [
    "ExecResult",
    "SandboxBackend",
    "SandboxBusy",
    "SandboxError",
    "SandboxFile",
    "SandboxGone",
    "SandboxHandle",
    "SandboxLimits",
    "SandboxQuotaExceeded",
    "SandboxUnavailable",
]


class SandboxError(ClaraError):
    """Something about a sandbox failed; the message says what, in words for a person."""


class SandboxUnavailable(SandboxError):
    """The backend cannot be reached (the engine is down, the service does not answer)."""


class SandboxGone(SandboxError):
    """The sandbox no longer exists or no longer runs (killed for memory, removed, exited);
    ``reason`` says which, for the person whose sandbox it was."""

    def __init__(self, message: str, reason: str = "gone") -> None:
        super().__init__(message)
        self.reason = reason


class SandboxBusy(SandboxError):
    """Every sandbox slot is taken: try again in a moment."""


class SandboxQuotaExceeded(SandboxError):
    """A write would take the sandbox's files past its storage quota."""


class SandboxLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one sandbox may use. Every backend enforces all of them (or refuses to start)."""

    memory_mb: int = 512
    """Memory, swap included (no swap beyond it)."""
    cpus: float = 1.0
    """CPU time, in cores."""
    pids: int = 128
    """Processes and threads at once (a fork bomb stops here)."""
    work_mb: int = 256
    """The writable work directory (``/work``), the person's storage quota."""
    network: bool = False
    """Whether the sandbox has a network at all (an operator's choice, per server)."""


class ExecResult(msgspec.Struct, frozen=True, kw_only=True):
    """One run: what it printed (capped at the source), how it ended."""

    exit_code: int | None
    """None when it was killed at its time limit."""
    stdout: bytes
    stderr: bytes
    truncated: bool = False
    """Output past the cap was dropped (the process went on; only the first part is kept)."""
    timed_out: bool = False
    """Killed at its time limit (its whole process group)."""
    oom: bool = False
    """The kernel killed a process of the run for memory (where the backend can tell: a
    cgroup's OOM-kill count went up during the run)."""
    duration: float = 0.0
    """Seconds, wall clock."""


class SandboxFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    """Relative to the work directory."""
    size: int
    is_dir: bool = False


class SandboxHandle(msgspec.Struct, frozen=True, kw_only=True):
    """One sandbox, as its backend knows it."""

    id: str
    """The backend's own id (a container id, a folder)."""
    name: str
    """Clara's name for it (``clara-sandbox-<owner hash>``): found again after a restart."""
    backend: str


class SandboxBackend(Protocol):
    """A place to run code. Blocking methods; see the module's docstring."""

    name: str
    """``docker``, ``bubblewrap`` or ``remote``."""

    def create(self, owner: str, limits: SandboxLimits) -> SandboxHandle:
        """A new, running sandbox for ``owner`` (one left from an earlier life under the same
        name is removed first).

        Raises:
            SandboxUnavailable: the backend cannot be reached.
            SandboxError: the sandbox could not be made (the image is missing, ...).
        """
        ...

    def alive(self, handle: SandboxHandle) -> str | None:
        """None while it runs; else why it does not (``oom``, ``removed``, ``exited 137``)."""
        ...

    def execute(
        self,
        handle: SandboxHandle,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float,
        output_limit: int,
    ) -> ExecResult:
        """Run ``argv`` in the work directory as the sandbox's unprivileged user, its whole
        process group killed at ``timeout``; stdout and stderr each capped at
        ``output_limit`` bytes at the source."""
        ...

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` under the work directory (folders made as needed).

        Raises:
            SandboxError: ``path`` leaves the work directory.
            SandboxQuotaExceeded: the work directory would be past its size.
        """
        ...

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        """The file at ``path`` under the work directory (at most ``max_bytes``).

        Raises:
            SandboxError: no such file, a folder, too big, or outside the work directory.
        """
        ...

    def list_files(self, handle: SandboxHandle, path: str = ".") -> list[SandboxFile]:
        """What is under ``path`` (recursively, bounded), relative to the work directory."""
        ...

    def remove(self, handle: SandboxHandle) -> None:
        """Remove the sandbox and its files (no error when it is already gone)."""
        ...

    def sweep(self) -> int:
        """Remove every sandbox of this backend's scope, and return how many: those a
        process that died (``kill -9``, a power cut) left behind, whose handles nobody holds.
        Called once at start, before any sandbox of this process is made.

        Raises:
            SandboxUnavailable: the backend cannot be reached.
        """
        ...

    def close(self) -> None:
        """Let go of the backend's connections."""
        ...
