"""Host-side access to a bubblewrap sandbox's work folder, safe against what the code left
there.

The code in a sandbox owns its work folder and may have filled it with traps for the host:
symbolic links to ``/etc/passwd``, a folder swapped for a link between two calls, named pipes
that would block a reader forever, folders nested thousands deep, a million empty files.
So every path is split and checked first (``split``: relative to ``/work``, no ``..``), and
every folder and file is opened one component at a time through descriptors, without
following symbolic links (``O_NOFOLLOW``, ``dir_fd``) and without blocking (``O_NONBLOCK``);
anything but a regular file or a folder is refused. Walks never recurse on the host's stack
past a fixed depth and stop after a bounded number of entries.

When Clara runs as root, what it makes here is handed to the sandbox's own uid (``owner``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from ._types import SandboxError, SandboxFile, SandboxGone

__all__ = ["ENTRY_COST", "list_folder", "measure", "read_file", "split", "write_file"]

ENTRY_COST = 1024
"""Bytes each file or folder counts against the quota beyond its blocks (empty files are
not free: a million of them would exhaust the host's inodes)."""

_READ_CHUNK = 65536
_LIST_DEPTH = 32
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def split(path: str) -> list[str]:
    """``path``'s components relative to the work folder (``/work/x``, ``x`` and ``./x`` are
    the same), or SandboxError when it leaves it."""
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


def measure(work: Path, max_visits: int) -> int:
    """Bytes the work folder takes (blocks plus ``ENTRY_COST`` per entry), walked without
    following links and without recursion (the code may nest folders thousands deep); the
    walk stops after ``max_visits`` entries, and paths past the host's PATH_MAX are skipped."""
    total = 0
    seen = 0
    pending = [str(work)]
    while pending and seen <= max_visits:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    seen += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512 + ENTRY_COST
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
        except OSError:
            continue
    return total


def _open_dir(work: Path, name: str, parts: Sequence[str], *, make: bool, owner: int | None) -> int:
    """A descriptor for the folder ``parts`` under ``work``, opened one component at a time
    without following symbolic links (made as needed when ``make``, handed to ``owner``)."""
    try:
        fd = os.open(work, _DIR_FLAGS)
    except FileNotFoundError as exc:
        raise SandboxGone(f"the sandbox {name} was removed", reason="removed") from exc
    try:
        for index, part in enumerate(parts):
            shown = "/".join(parts[: index + 1])
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not make:
                    raise SandboxError(f"no folder {shown!r} in the work directory") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                if owner is not None:
                    os.fchown(child, owner, owner)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise SandboxError(
                        f"{shown!r} is a symbolic link or a file, not a folder: refused"
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(
    work: Path, name: str, path: str, parts: Sequence[str], data: bytes, *, owner: int | None
) -> None:
    """Write ``data`` at ``parts`` (``path`` as the caller gave it, for messages), making
    folders on the way; a link, folder or pipe in its place is refused."""
    folder = _open_dir(work, name, parts[:-1], make=True, owner=owner)
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
            if owner is not None:
                os.fchown(fd, owner, owner)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    finally:
        os.close(folder)


def read_file(work: Path, name: str, path: str, parts: Sequence[str], max_bytes: int) -> bytes:
    """The regular file at ``parts``, at most ``max_bytes`` of it (more is an error)."""
    folder = _open_dir(work, name, parts[:-1], make=False, owner=None)
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


def list_folder(work: Path, name: str, parts: Sequence[str], max_entries: int) -> list[SandboxFile]:
    """Entries under the folder ``parts``, depth first and sorted, links listed but never
    followed, at most ``max_entries``."""
    folder = _open_dir(work, name, parts, make=False, owner=None)
    found: list[SandboxFile] = []
    try:
        for relative, info in _walk(folder, "/".join(parts), depth=0):
            found.append(
                SandboxFile(path=relative, size=info.st_size, is_dir=stat.S_ISDIR(info.st_mode))
            )
            if len(found) >= max_entries:
                break
    finally:
        os.close(folder)
    return found


def _walk(folder: int, prefix: str, depth: int) -> Iterator[tuple[str, os.stat_result]]:
    with os.scandir(folder) as entries:
        listed = sorted(entries, key=lambda entry: entry.name)
    for entry in listed:
        relative = f"{prefix}/{entry.name}" if prefix else entry.name
        info = entry.stat(follow_symlinks=False)
        yield relative, info
        if stat.S_ISDIR(info.st_mode) and depth < _LIST_DEPTH:
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=folder)
            except OSError:
                continue
            try:
                yield from _walk(child, relative, depth + 1)
            finally:
                os.close(child)
