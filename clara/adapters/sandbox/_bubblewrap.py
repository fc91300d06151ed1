"""The ``bubblewrap`` backend: sandboxes for hosts without a container engine.

A sandbox here is a private work folder on the host plus its limits; nothing runs between
calls. Each ``execute`` starts ``bwrap`` afresh (about 0.1 s): every namespace unshared (the
network namespace holds only a loopback of its own), ``/usr`` bound read-only, a fresh
``/proc``, a minimal ``/dev``, a size-capped ``/tmp``, the work folder bound read-write at
``/work``, the root remounted read-only, an environment of PATH/HOME/LANG only, user 65534,
no capabilities, a session of its own, and ``--die-with-parent``.

Limits (docs/sandbox-bubblewrap.md lists which are in force where):

- ``prlimit`` inside the sandbox, so it binds everything the code starts: address space
  (``memory_mb`` per process), processes (``pids``), CPU seconds (the run's time limit times
  ``cpus``), file size (``work_mb``), no core files. ``RLIMIT_NPROC`` is counted per user, so
  when Clara runs as root every sandbox gets a host uid of its own (``setpriv``); otherwise
  the count lives in the run's own user namespace.
- cgroup v1 folders where ``/sys/fs/cgroup/{memory,pids,cpu}`` are writable: memory with swap
  for the whole sandbox, a pids cap for the whole tree, a CPU quota of ``cpus`` cores.
- the storage quota (``work_mb``) is measured after each run and checked before each
  ``put_file``; a run that grows the folder past it raises ``SandboxQuotaExceeded``.

The time limit kills the whole tree: ``bwrap`` starts in a new process group, which is
killed with SIGKILL; ``--die-with-parent`` then kills bwrap's child, the pid 1 of the
sandbox's pid namespace, and with it every process in the namespace (a child ignoring
SIGTERM included).

The parts live in modules of their own: ``_bwrap_cgroups`` (the cgroup folders),
``_capture`` (output with caps and a deadline) and ``_bwrap_files`` (files in and out
through descriptors opened without following symlinks, so a link the code made to
``/etc/passwd`` is refused, not followed).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from . import _bwrap_files as files
from ._bwrap_cgroups import JOIN_SCRIPT, Cgroups
from ._capture import capture
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

__all__ = ["BubblewrapBackend"]

logger = logging.getLogger(__name__)

_SANDBOX_UID = 65534
"""The user the code runs as inside (``nobody``)."""


def _running_uid(pid: str) -> int | None:
    """A host process's real uid (from its status: the owner of ``/proc/PID`` is root for
    processes that are not dumpable), or None when it is gone or a zombie (a sandbox's
    pid 1 whose bwrap parent exited first waits as a zombie for the host's init to reap
    it; by then every other process of its namespace is gone)."""
    uid: int | None = None
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"State:") and line.split()[1] in (b"Z", b"X"):
                    return None
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return uid


class _Meta(msgspec.Struct, frozen=True, kw_only=True):
    """What a sandbox's folder remembers about it (beside its work folder, out of reach)."""

    owner_hash: str
    uid: int
    limits: SandboxLimits


class BubblewrapBackend:
    """Sandboxes as bubblewrap runs over private work folders under ``root``.

    Args:
        root: where the sandboxes' folders live (made with mode 0711 if missing). When Clara
            runs as root, every folder above it must be searchable by others, because ``bwrap``
            runs as the sandbox's own uid and has to reach its work folder.
        bwrap: the ``bwrap`` executable.
        setpriv: the ``setpriv`` executable (used only when running as root).
        cgroup_root: where cgroup v1 controllers are mounted; ``None`` uses none.
        uid_base: first host uid given to sandboxes when running as root.
        uid_span: how many uids from ``uid_base`` sandboxes may take.
        tmp_mb: size of each run's ``/tmp`` (memory; inside the cgroup's memory when used).
        drain_limit: bytes of output per stream discarded past the cap before the run is
            killed (a run printing forever ends here instead of at its time limit).
        max_entries: the most entries ``list_files`` returns and the quota walk visits.

    Raises:
        SandboxUnavailable: ``bwrap`` or ``prlimit`` is missing, or ``root`` is unusable.
        ValueError: an argument is out of range (the message names it).
    """

    name = "bubblewrap"

    def __init__(
        self,
        root: Path,
        *,
        bwrap: str = "bwrap",
        setpriv: str = "setpriv",
        cgroup_root: Path | None = Path("/sys/fs/cgroup"),
        uid_base: int = 1_500_000_000,
        uid_span: int = 100_000_000,
        tmp_mb: int = 64,
        drain_limit: int = 64 * 1024 * 1024,
        max_entries: int = 10_000,
    ) -> None:
        for field, value in (
            ("uid_base", uid_base),
            ("uid_span", uid_span),
            ("tmp_mb", tmp_mb),
            ("drain_limit", drain_limit),
            ("max_entries", max_entries),
        ):
            if value < 1:
                raise ValueError(f"{field} must be at least 1, got {value}")
        if uid_base + uid_span > 2**32 - 2:
            raise ValueError(
                f"uid_base + uid_span must stay below 2**32 - 2, got {uid_base + uid_span}"
            )
        found = shutil.which(bwrap)
        if found is None:
            raise SandboxUnavailable(f"bubblewrap is not installed: no {bwrap!r} on PATH")
        self._bwrap = found
        self._prlimit = "/usr/bin/prlimit"
        if not os.access(self._prlimit, os.X_OK):
            raise SandboxUnavailable("prlimit is not installed at /usr/bin/prlimit (util-linux)")
        self._as_root = os.geteuid() == 0
        self._setpriv: str | None = None
        if self._as_root:
            self._setpriv = shutil.which(setpriv)
            if self._setpriv is None:
                raise SandboxUnavailable(f"running as root needs setpriv: no {setpriv!r} on PATH")
        self._root = Path(os.path.abspath(root))
        try:
            self._root.mkdir(mode=0o711, parents=True, exist_ok=True)
            if self._as_root:
                self._root.chmod(0o711)
        except OSError as exc:
            raise SandboxUnavailable(f"cannot make the sandbox folder {self._root}: {exc}") from exc
        if self._as_root:
            for folder in (self._root, *self._root.parents):
                if not os.stat(folder).st_mode & stat.S_IXOTH:
                    raise SandboxUnavailable(
                        f"{folder} is not searchable by others (mode o+x): a sandbox's own user "
                        f"could not reach its work folder under {self._root}"
                    )
        self._uid_base = uid_base
        self._uid_span = uid_span
        self._tmp_mb = tmp_mb
        self._drain_limit = drain_limit
        self._max_entries = max_entries
        self._cgroups = Cgroups(cgroup_root)
        self._usage: dict[str, int] = {}
        """Last measured size of each sandbox's work folder, by name."""

    # -- what is in force -------------------------------------------------------------------

    def describe(self) -> str:
        """One line for the start-up log and the docs: which isolation and limits hold here."""
        per_run = "per-run user namespace" if not self._as_root else "a host uid per sandbox"
        parts = [
            "bubblewrap: all namespaces (no network), read-only /usr, private /work",
            "prlimit per process: memory (address space), "
            f"processes ({per_run}), CPU time, file size",
            "storage quota measured after each run",
        ]
        if self._cgroups.controllers:
            parts.append("cgroup v1 for the whole sandbox: " + ", ".join(self._cgroups.controllers))
        else:
            parts.append("no writable cgroups: memory is limited per process only")
        return "; ".join(parts)

    # -- lifecycle --------------------------------------------------------------------------

    def create(self, owner: str, limits: SandboxLimits) -> SandboxHandle:
        if limits.network:
            raise SandboxError(
                "the bubblewrap backend runs code without a network; network=True is not offered"
            )
        for field in ("memory_mb", "pids", "work_mb"):
            if getattr(limits, field) < 1:
                raise SandboxError(
                    f"limits.{field} must be at least 1, got {getattr(limits, field)}"
                )
        if limits.cpus <= 0:
            raise SandboxError(f"limits.cpus must be above 0, got {limits.cpus}")
        owner_hash = hashlib.sha256(owner.encode()).hexdigest()[:16]
        name = f"clara-sandbox-{owner_hash}"
        folder = self._root / name
        if folder.exists():
            self._remove_folder(folder)
            self._cgroups.remove(name)
        uid = self._pick_uid(owner_hash)
        try:
            # Modes set explicitly: Clara runs with umask 077, which mkdir's mode obeys.
            folder.mkdir(mode=0o711)
            folder.chmod(0o711)
            work = folder / "work"
            work.mkdir(mode=0o700)
            work.chmod(0o700)
            if self._as_root:
                os.chown(work, uid, uid)
            (folder / "meta.json").write_bytes(
                msgspec.json.encode(_Meta(owner_hash=owner_hash, uid=uid, limits=limits))
            )
            self._cgroups.make(name, limits)
        except OSError as exc:
            self._remove_folder(folder)
            raise SandboxError(f"could not make the sandbox folder {folder}: {exc}") from exc
        self._usage[name] = 0
        logger.info("sandbox %s created (uid %d) at %s", name, uid, folder)
        return SandboxHandle(id=str(folder), name=name, backend=self.name)

    def _pick_uid(self, owner_hash: str) -> int:
        """The owner's own host uid (root only): its hash, moved on past uids already taken."""
        if not self._as_root:
            return os.getuid()
        taken = set()
        for meta_path in self._root.glob("clara-sandbox-*/meta.json"):
            try:
                meta = msgspec.json.decode(meta_path.read_bytes(), type=_Meta)
            except (OSError, msgspec.DecodeError):
                continue
            taken.add(meta.uid)
        offset = int(owner_hash, 16) % self._uid_span
        for step in range(self._uid_span):
            uid = self._uid_base + (offset + step) % self._uid_span
            if uid not in taken:
                return uid
        raise SandboxError("every sandbox uid is taken")  # pragma: no cover - 100 million sandboxes

    def alive(self, handle: SandboxHandle) -> str | None:
        folder = Path(handle.id)
        if not (folder / "work").is_dir() or not (folder / "meta.json").is_file():
            return "removed"
        return None

    def remove(self, handle: SandboxHandle) -> None:
        self._cgroups.remove(handle.name)
        self._remove_folder(Path(handle.id))
        self._usage.pop(handle.name, None)
        logger.info("sandbox %s removed", handle.name)

    def sweep(self) -> int:
        """Remove every sandbox folder (and its cgroups) under ``root``."""
        removed = 0
        for folder in sorted(self._root.glob("clara-sandbox-*")):
            if not folder.is_dir() or folder.is_symlink():
                continue
            self._cgroups.remove(folder.name)
            self._remove_folder(folder)
            self._usage.pop(folder.name, None)
            removed += 1
        if removed:
            logger.info(
                "sandbox: removed %d left from an earlier run under %s", removed, self._root
            )
        return removed

    def close(self) -> None:
        """Nothing to let go of: no connections, no processes between runs."""

    def _remove_folder(self, folder: Path) -> None:
        if folder.parent != self._root:
            raise SandboxError(f"{folder} is not a sandbox folder under {self._root}")

        if not folder.exists():
            return
        # rm(1) walks without recursion (the code may nest folders thousands deep, past
        # Python's recursion limit) and stays on this filesystem; chmod first, since the code
        # may have left folders without permissions (chmod 000).
        for command in (
            ["chmod", "-R", "u+rwX", "--", str(folder)],
            ["rm", "-rf", "--one-file-system", "--", str(folder)],
        ):
            subprocess.run(command, capture_output=True, check=False, env={"PATH": "/usr/bin:/bin"})
        if folder.exists():
            raise SandboxError(f"could not remove the sandbox folder {folder}")

    # -- leftovers ---------------------------------------------------------------------------

    def _leftovers(self, name: str, uid: int) -> list[int]:
        """Processes of the sandbox still on the host: its cgroups' members, or (as root)
        every process of its own uid."""
        pids = self._cgroups.members(name)
        if self._as_root and not self._cgroups.controllers:
            for entry in os.scandir("/proc"):
                if entry.name.isdigit() and _running_uid(entry.name) == uid:
                    pids.add(int(entry.name))
        return sorted(pids)

    def _reap(self, name: str, uid: int) -> None:
        """Kill what is left of a run and wait (briefly) until it is gone, so nothing of the
        sandbox outlives ``execute``: the pid namespace empties asynchronously after its
        pid 1 dies."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            left = self._leftovers(name, uid)
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        logger.warning(
            "sandbox %s: processes %s outlived their run", name, self._leftovers(name, uid)
        )

    # -- running code -----------------------------------------------------------------------

    def _meta(self, handle: SandboxHandle) -> _Meta:
        try:
            return msgspec.json.decode((Path(handle.id) / "meta.json").read_bytes(), type=_Meta)
        except FileNotFoundError as exc:
            raise SandboxGone(f"the sandbox {handle.name} was removed", reason="removed") from exc
        except (OSError, msgspec.DecodeError) as exc:
            raise SandboxGone(
                f"the sandbox {handle.name} is damaged: {exc}", reason="damaged"
            ) from exc

    def _command(
        self, handle: SandboxHandle, meta: _Meta, argv: Sequence[str], timeout: float
    ) -> list[str]:
        limits = meta.limits
        work = Path(handle.id) / "work"
        cpu_seconds = max(1, int(timeout * limits.cpus) + 1)
        command: list[str] = []
        procs = self._cgroups.procs(handle.name)
        if procs:
            # Join the cgroups before anything else starts, so nothing escapes them.
            command += ["/bin/sh", "-c", JOIN_SCRIPT, "sh", *map(str, procs), "--"]
        if self._setpriv is not None:
            uid = str(meta.uid)
            command += [
                self._setpriv,
                "--reuid",
                uid,
                "--regid",
                uid,
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
        command += [
            self._bwrap,
            "--unshare-all",
            "--hostname", "sandbox",
            "--uid", str(_SANDBOX_UID),
            "--gid", str(_SANDBOX_UID),
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(self._tmp_mb * 1024 * 1024),
            "--tmpfs", "/tmp",
            "--bind", str(work), "/work",
            "--remount-ro", "/dev",
            "--remount-ro", "/",
            "--chdir", "/work",
            "--clearenv",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
            "--setenv", "HOME", "/work",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "TMPDIR", "/tmp",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--",
            self._prlimit,
            f"--as={limits.memory_mb * 1024 * 1024}",
            f"--nproc={limits.pids}",
            f"--cpu={cpu_seconds}",
            f"--fsize={limits.work_mb * 1024 * 1024}",
            "--core=0",
            "--nofile=1024",
            "--",
            *argv,
        ]  # fmt: skip
        return command

    def execute(
        self,
        handle: SandboxHandle,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float,
        output_limit: int,
    ) -> ExecResult:
        if not argv:
            raise SandboxError("argv is empty: nothing to run")
        if timeout <= 0:
            raise SandboxError(f"timeout must be above 0 seconds, got {timeout}")
        if output_limit < 0:
            raise SandboxError(f"output_limit must be 0 or more bytes, got {output_limit}")
        meta = self._meta(handle)
        if self.alive(handle) is not None:
            raise SandboxGone(f"the sandbox {handle.name} was removed", reason="removed")
        command = self._command(handle, meta, argv, timeout)
        before = self._usage.get(handle.name)
        if before is None:
            before = self._measure(handle)
        ooms = self._cgroups.oom_kills(handle.name)
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"could not start bwrap: {exc}") from exc
        try:
            output = capture(process, stdin, started + timeout, output_limit, self._drain_limit)
        finally:
            self._kill(process, handle.name, meta.uid)
        duration = time.monotonic() - started
        code = process.returncode
        exit_code = None if output.timed_out else (128 - code if code < 0 else code)
        result = ExecResult(
            exit_code=exit_code,
            stdout=output.stdout,
            stderr=output.stderr,
            truncated=output.truncated,
            timed_out=output.timed_out,
            oom=self._cgroups.oom_kills(handle.name) > ooms,
            duration=duration,
        )
        logger.debug(
            "sandbox %s ran %d args: exit %s, %d+%d bytes, %.3f s%s%s",
            handle.name,
            len(argv),
            exit_code,
            len(result.stdout),
            len(result.stderr),
            duration,
            " (timed out)" if result.timed_out else "",
            " (out of memory)" if result.oom else "",
        )
        after = self._measure(handle)
        quota = meta.limits.work_mb * 1024 * 1024
        if after > quota and after > before:
            raise SandboxQuotaExceeded(
                f"the sandbox's files take {after / 1048576:.1f} MB, past its quota of "
                f"{meta.limits.work_mb} MB: delete files before writing more"
            )
        return result

    def _kill(self, process: subprocess.Popen[bytes], name: str, uid: int) -> None:
        """End the run's whole tree: bwrap's process group (its child, the sandbox's pid 1,
        dies with it, and the pid namespace with that), then whatever is left."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._reap(name, uid)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    # -- files ------------------------------------------------------------------------------

    def _measure(self, handle: SandboxHandle) -> int:
        """Bytes the work folder takes (see ``_bwrap_files.measure``), remembered."""
        total = files.measure(Path(handle.id) / "work", self._max_entries * 10)
        self._usage[handle.name] = total
        return total

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        meta = self._meta(handle)
        parts = files.split(path)
        if not parts:
            raise SandboxError(f"path {path!r} names the work directory itself, not a file")
        quota = meta.limits.work_mb * 1024 * 1024
        usage = self._measure(handle)
        if usage + len(data) + files.ENTRY_COST > quota:
            raise SandboxQuotaExceeded(
                f"writing {len(data)} bytes to {path!r} would take the sandbox past its quota of "
                f"{meta.limits.work_mb} MB ({usage / 1048576:.1f} MB used)"
            )
        owner = meta.uid if self._as_root else None
        files.write_file(Path(handle.id) / "work", handle.name, path, parts, data, owner=owner)
        self._measure(handle)

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        self._meta(handle)
        parts = files.split(path)
        if not parts:
            raise SandboxError(f"path {path!r} names the work directory itself, not a file")
        return files.read_file(Path(handle.id) / "work", handle.name, path, parts, max_bytes)

    def list_files(self, handle: SandboxHandle, path: str = ".") -> list[SandboxFile]:
        self._meta(handle)
        work = Path(handle.id) / "work"
        return files.list_folder(work, handle.name, files.split(path), self._max_entries)
