"""cgroup v1 folders for bubblewrap sandboxes: memory (with swap), pids and a CPU quota for
a whole sandbox, where the host lets Clara write them.

Each controller that is mounted and writable gets a parent folder ``clara-sandbox`` and, in
it, one folder per sandbox (named as the sandbox). A run joins every folder before anything
else starts (``join_script``), so nothing it starts escapes them. Controllers that are not
writable are left out and ``controllers`` says which hold; the backend then limits memory
per process only (prlimit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from ._types import SandboxLimits

__all__ = ["JOIN_SCRIPT", "Cgroups"]

logger = logging.getLogger(__name__)

PARENT = "clara-sandbox"

JOIN_SCRIPT = (
    'for f in "$@"; do case "$f" in --) shift; break;; esac; echo $$ > "$f"; shift; done; exec "$@"'
)
"""``sh -c JOIN_SCRIPT sh PROCS... -- COMMAND...``: join each cgroup, then become COMMAND."""

_PROBES = (
    ("memory", "memory.limit_in_bytes"),
    ("pids", "pids.max"),
    ("cpu", "cpu.cfs_quota_us"),
)


class Cgroups:
    """The writable cgroup v1 controllers under ``root`` (none when ``root`` is None)."""

    def __init__(self, root: Path | None) -> None:
        self._parents: dict[str, Path] = {}
        if root is None:
            return
        for controller, probe in _PROBES:
            parent = root / controller / PARENT
            try:
                parent.mkdir(exist_ok=True)
                if (parent / probe).exists() and os.access(parent / "cgroup.procs", os.W_OK):
                    self._parents[controller] = parent
            except OSError:
                continue

    @property
    def controllers(self) -> list[str]:
        """The controllers in force, sorted."""
        return sorted(self._parents)

    def make(self, name: str, limits: SandboxLimits) -> None:
        """The sandbox's folders with its limits (``OSError`` when the host refuses)."""
        memory = self._parents.get("memory")
        if memory is not None:
            group = memory / name
            group.mkdir(exist_ok=True)
            limit = str(limits.memory_mb * 1024 * 1024)
            (group / "memory.limit_in_bytes").write_text(limit)
            if (group / "memory.memsw.limit_in_bytes").exists():
                (group / "memory.memsw.limit_in_bytes").write_text(limit)
        pids = self._parents.get("pids")
        if pids is not None:
            group = pids / name
            group.mkdir(exist_ok=True)
            (group / "pids.max").write_text(str(limits.pids))
        cpu = self._parents.get("cpu")
        if cpu is not None:
            group = cpu / name
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text("100000")
            (group / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpus * 100000))))

    def procs(self, name: str) -> list[Path]:
        """The ``cgroup.procs`` files a run of the sandbox joins."""
        return [
            parent / name / "cgroup.procs"
            for parent in self._parents.values()
            if (parent / name).is_dir()
        ]

    def members(self, name: str) -> set[int]:
        """Processes in any of the sandbox's folders."""
        pids: set[int] = set()
        for procs in self.procs(name):
            try:
                pids.update(int(pid) for pid in procs.read_text().split())
            except (OSError, ValueError):
                continue
        return pids

    def oom_kills(self, name: str) -> int:
        """How many processes the kernel killed for the sandbox's memory limit so far (0
        without a memory controller, or on kernels that do not count them)."""
        memory = self._parents.get("memory")
        if memory is None:
            return 0
        try:
            for line in (memory / name / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def kill(self, name: str) -> None:
        """SIGKILL everything in the sandbox's folders (v1 has no ``cgroup.kill``)."""
        for pid in self.members(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, name: str) -> None:
        """Kill what is left and remove the sandbox's folders."""
        self.kill(name)
        for parent in self._parents.values():
            try:
                (parent / name).rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("could not remove cgroup %s: %s", parent / name, exc)
