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
SIGTERM included). Files move on the host side through descriptors opened without
following symlinks, so a link the code made to ``/etc/passwd`` is refused, not followed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import selectors
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

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
_READ_CHUNK = 65536
_ENTRY_COST = 1024
"""Bytes each file or folder counts against the quota beyond its blocks (empty files are
not free: a million of them would exhaust the host's inodes)."""
_CGROUP_PARENT = "clara-sandbox"


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
        self._cgroups = self._writable_cgroups(cgroup_root)
        self._usage: dict[str, int] = {}
        """Last measured size of each sandbox's work folder, by name."""

    # -- what is in force -------------------------------------------------------------------

    @staticmethod
    def _writable_cgroups(cgroup_root: Path | None) -> dict[str, Path]:
        """The cgroup v1 controllers (memory, pids, cpu) where Clara may make folders."""
        found: dict[str, Path] = {}
        if cgroup_root is None:
            return found
        for controller, probe in (
            ("memory", "memory.limit_in_bytes"),
            ("pids", "pids.max"),
            ("cpu", "cpu.cfs_quota_us"),
        ):
            parent = cgroup_root / controller / _CGROUP_PARENT
            try:
                parent.mkdir(exist_ok=True)
                if (parent / probe).exists() and os.access(parent / "cgroup.procs", os.W_OK):
                    found[controller] = parent
            except OSError:
                continue
        return found

    def describe(self) -> str:
        """One line for the start-up log and the docs: which isolation and limits hold here."""
        per_run = "per-run user namespace" if not self._as_root else "a host uid per sandbox"
        parts = [
            "bubblewrap: all namespaces (no network), read-only /usr, private /work",
            "prlimit per process: memory (address space), "
            f"processes ({per_run}), CPU time, file size",
            "storage quota measured after each run",
        ]
        if self._cgroups:
            parts.append("cgroup v1 for the whole sandbox: " + ", ".join(sorted(self._cgroups)))
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
            self._remove_cgroups(name)
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
            self._make_cgroups(name, limits)
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
        self._remove_cgroups(handle.name)
        self._remove_folder(Path(handle.id))
        self._usage.pop(handle.name, None)
        logger.info("sandbox %s removed", handle.name)

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

    # -- cgroups ----------------------------------------------------------------------------

    def _make_cgroups(self, name: str, limits: SandboxLimits) -> None:
        memory = self._cgroups.get("memory")
        if memory is not None:
            group = memory / name
            group.mkdir(exist_ok=True)
            limit = str(limits.memory_mb * 1024 * 1024)
            (group / "memory.limit_in_bytes").write_text(limit)
            if (group / "memory.memsw.limit_in_bytes").exists():
                (group / "memory.memsw.limit_in_bytes").write_text(limit)
        pids = self._cgroups.get("pids")
        if pids is not None:
            group = pids / name
            group.mkdir(exist_ok=True)
            (group / "pids.max").write_text(str(limits.pids))
        cpu = self._cgroups.get("cpu")
        if cpu is not None:
            group = cpu / name
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text("100000")
            (group / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpus * 100000))))

    def _cgroup_procs(self, name: str) -> list[Path]:
        return [
            parent / name / "cgroup.procs"
            for parent in self._cgroups.values()
            if (parent / name).is_dir()
        ]

    def _kill_cgroups(self, name: str) -> None:
        """SIGKILL anything still in the sandbox's cgroups (v1 has no ``cgroup.kill``)."""
        for procs in self._cgroup_procs(name):
            try:
                pids = procs.read_text().split()
            except OSError:
                continue
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)

    def _leftovers(self, name: str, uid: int) -> list[int]:
        """Processes of the sandbox still on the host: its cgroups' members, or (as root)
        every process of its own uid."""
        pids: set[int] = set()
        for procs in self._cgroup_procs(name):
            try:
                pids.update(int(pid) for pid in procs.read_text().split())
            except (OSError, ValueError):
                continue
        if self._as_root and not self._cgroups:
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

    def _remove_cgroups(self, name: str) -> None:
        self._kill_cgroups(name)
        for parent in self._cgroups.values():
            try:
                (parent / name).rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("could not remove cgroup %s: %s", parent / name, exc)

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
        procs = self._cgroup_procs(handle.name)
        if procs:
            # Join the cgroups before anything else starts, so nothing escapes them.
            script = (
                'for f in "$@"; do case "$f" in --) shift; break;; esac; '
                'echo $$ > "$f"; shift; done; exec "$@"'
            )
            command += ["/bin/sh", "-c", script, "sh", *map(str, procs), "--"]
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
            stdout, stderr, truncated, timed_out = self._collect(
                process, stdin, started + timeout, output_limit
            )
        finally:
            self._kill(process, handle.name, meta.uid)
        duration = time.monotonic() - started
        code = process.returncode
        exit_code = None if timed_out else (128 - code if code < 0 else code)
        result = ExecResult(
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            truncated=truncated,
            timed_out=timed_out,
            duration=duration,
        )
        logger.debug(
            "sandbox %s ran %d args: exit %s, %d+%d bytes, %.3f s%s",
            handle.name,
            len(argv),
            exit_code,
            len(stdout),
            len(stderr),
            duration,
            " (timed out)" if timed_out else "",
        )
        after = self._measure(handle)
        quota = meta.limits.work_mb * 1024 * 1024
        if after > quota and after > before:
            raise SandboxQuotaExceeded(
                f"the sandbox's files take {after / 1048576:.1f} MB, past its quota of "
                f"{meta.limits.work_mb} MB: delete files before writing more"
            )
        return result

    def _collect(
        self,
        process: subprocess.Popen[bytes],
        stdin: bytes | None,
        deadline: float,
        output_limit: int,
    ) -> tuple[bytes, bytes, bool, bool]:
        """Read both streams until they close or the deadline passes, keeping at most
        ``output_limit`` bytes of each and discarding up to ``drain_limit`` more."""
        assert process.stdout is not None and process.stderr is not None
        kept: dict[int, bytearray] = {
            process.stdout.fileno(): bytearray(),
            process.stderr.fileno(): bytearray(),
        }
        dropped: dict[int, int] = dict.fromkeys(kept, 0)
        truncated = False
        pending = memoryview(stdin) if stdin is not None else None
        stdin_fd = process.stdin.fileno() if process.stdin is not None else None
        with selectors.DefaultSelector() as selector:
            for fd in kept:
                selector.register(fd, selectors.EVENT_READ)
            if stdin_fd is not None:
                os.set_blocking(stdin_fd, False)
                selector.register(stdin_fd, selectors.EVENT_WRITE)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return (
                        bytes(kept[process.stdout.fileno()]),
                        bytes(kept[process.stderr.fileno()]),
                        truncated,
                        True,
                    )
                for key, _events in selector.select(remaining):
                    fd = key.fd
                    if fd == stdin_fd:
                        assert pending is not None and process.stdin is not None
                        try:
                            written = os.write(fd, pending[:_READ_CHUNK])
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            written = len(pending)
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(fd)
                            process.stdin.close()
                        continue
                    chunk = os.read(fd, _READ_CHUNK)
                    if not chunk:
                        selector.unregister(fd)
                        continue
                    room = output_limit - len(kept[fd])
                    if room > 0:
                        kept[fd] += chunk[:room]
                    if len(chunk) > room:
                        truncated = True
                        dropped[fd] += len(chunk) - max(room, 0)
                        if dropped[fd] > self._drain_limit:
                            # Printing forever: stop here rather than at the time limit.
                            return (
                                bytes(kept[process.stdout.fileno()]),
                                bytes(kept[process.stderr.fileno()]),
                                True,
                                False,
                            )
        remaining = max(0.0, deadline - time.monotonic())
        try:
            process.wait(remaining)
        except subprocess.TimeoutExpired:
            return (
                bytes(kept[process.stdout.fileno()]),
                bytes(kept[process.stderr.fileno()]),
                truncated,
                True,
            )
        return (
            bytes(kept[process.stdout.fileno()]),
            bytes(kept[process.stderr.fileno()]),
            truncated,
            False,
        )

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
        """Bytes the work folder takes (blocks plus a cost per entry), walked without
        following links and without recursion (the code may nest folders thousands deep);
        the walk stops after ten times ``max_entries`` entries, and paths past the host's
        PATH_MAX are not visited."""
        total = 0
        seen = 0
        pending = [str(Path(handle.id) / "work")]
        while pending and seen <= self._max_entries * 10:
            folder = pending.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        seen += 1
                        try:
                            info = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        total += info.st_blocks * 512 + _ENTRY_COST
                        if stat.S_ISDIR(info.st_mode):
                            pending.append(entry.path)
            except OSError:
                continue
        self._usage[handle.name] = total
        return total

    @staticmethod
    def _parts(path: str) -> list[str]:
        """``path``'s components relative to the work folder, or SandboxError when it leaves it."""
        if "\0" in path:
            raise SandboxError(f"path {path!r} holds a NUL byte")
        cleaned = path.strip()
        if cleaned.startswith("/work/") or cleaned == "/work":
            cleaned = cleaned[len("/work") :]
        elif cleaned.startswith("/"):
            raise SandboxError(f"path {path!r} is outside the work directory /work")
        parts = [part for part in cleaned.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise SandboxError(f"path {path!r} leaves the work directory (it holds '..')")
        return parts

    def _open_dir(
        self, handle: SandboxHandle, parts: Sequence[str], *, make: bool, uid: int
    ) -> int:
        """A descriptor for the folder ``parts`` under the work folder, opened one component
        at a time without following symbolic links (made as needed when ``make``)."""
        work = Path(handle.id) / "work"
        try:
            fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            raise SandboxGone(f"the sandbox {handle.name} was removed", reason="removed") from exc
        try:
            for index, part in enumerate(parts):
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    if not make:
                        raise SandboxError(
                            f"no folder {'/'.join(parts[: index + 1])!r} in the work directory"
                        ) from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    if self._as_root:
                        os.fchown(child, uid, uid)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise SandboxError(
                            f"{'/'.join(parts[: index + 1])!r} is a symbolic link or a file, "
                            "not a folder: refused"
                        ) from None
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def put_file(self, handle: SandboxHandle, path: str, data: bytes) -> None:
        meta = self._meta(handle)
        parts = self._parts(path)
        if not parts:
            raise SandboxError(f"path {path!r} names the work directory itself, not a file")
        quota = meta.limits.work_mb * 1024 * 1024
        usage = self._measure(handle)
        if usage + len(data) + _ENTRY_COST > quota:
            raise SandboxQuotaExceeded(
                f"writing {len(data)} bytes to {path!r} would take the sandbox past its quota of "
                f"{meta.limits.work_mb} MB ({usage / 1048576:.1f} MB used)"
            )
        folder = self._open_dir(handle, parts[:-1], make=True, uid=meta.uid)
        try:
            try:
                fd = os.open(
                    parts[-1],
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK,
                    0o644,
                    dir_fd=folder,
                )
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                    raise SandboxError(
                        f"{path!r} is a symbolic link, a folder or a pipe: refused"
                    ) from None
                raise SandboxError(f"cannot write {path!r}: {exc.strerror}") from exc
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise SandboxError(f"{path!r} is not a regular file: refused")
                if self._as_root:
                    os.fchown(fd, meta.uid, meta.uid)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        finally:
            os.close(folder)
        self._measure(handle)

    def get_file(self, handle: SandboxHandle, path: str, max_bytes: int) -> bytes:
        self._meta(handle)
        parts = self._parts(path)
        if not parts:
            raise SandboxError(f"path {path!r} names the work directory itself, not a file")
        folder = self._open_dir(handle, parts[:-1], make=False, uid=0)
        try:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
            except FileNotFoundError:
                raise SandboxError(f"no file {path!r} in the work directory") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise SandboxError(f"{path!r} is a symbolic link: refused") from None
                raise SandboxError(f"cannot read {path!r}: {exc.strerror}") from exc
        finally:
            os.close(folder)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise SandboxError(f"{path!r} is a folder, not a file")
            if not stat.S_ISREG(info.st_mode):
                raise SandboxError(f"{path!r} is not a regular file: refused")
            if info.st_size > max_bytes:
                raise SandboxError(
                    f"{path!r} is {info.st_size} bytes, more than the {max_bytes} allowed"
                )
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes:
                chunk = os.read(fd, min(_READ_CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > max_bytes:
                raise SandboxError(f"{path!r} is more than the {max_bytes} bytes allowed")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def list_files(self, handle: SandboxHandle, path: str = ".") -> list[SandboxFile]:
        self._meta(handle)
        parts = self._parts(path)
        folder = self._open_dir(handle, parts, make=False, uid=0)
        prefix = "/".join(parts)
        found: list[SandboxFile] = []
        try:
            for relative, info in self._walk(folder, prefix, depth=0):
                found.append(
                    SandboxFile(path=relative, size=info.st_size, is_dir=stat.S_ISDIR(info.st_mode))
                )
                if len(found) >= self._max_entries:
                    break
        finally:
            os.close(folder)
        return found

    def _walk(self, folder: int, prefix: str, depth: int) -> Iterator[tuple[str, os.stat_result]]:
        """Entries under an open folder, depth first, links listed but never followed."""
        with os.scandir(folder) as entries:
            listed = sorted(entries, key=lambda entry: entry.name)
        for entry in listed:
            relative = f"{prefix}/{entry.name}" if prefix else entry.name
            info = entry.stat(follow_symlinks=False)
            yield relative, info
            if stat.S_ISDIR(info.st_mode) and depth < 32:
                try:
                    child = os.open(
                        entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder
                    )
                except OSError:
                    continue
                try:
                    yield from self._walk(child, relative, depth + 1)
                finally:
                    os.close(child)
