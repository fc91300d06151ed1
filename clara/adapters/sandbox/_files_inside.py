"""File moves that execute *inside* a docker sandbox, as the sandbox's user.

``DockerBackend`` reads this module's source and runs it in the container with
``python3 -I -S -c SOURCE put PATH`` (the file's bytes on stdin) or ``... get PATH MAX``
(the file's bytes on stdout). Files go through ``exec`` rather than the engine's archive
calls because those work on the container's root file system from the host: under gVisor
(``runsc``) ``/work`` lives inside the sandbox's own kernel, where they cannot reach it. Run as
the sandbox's user, a write can go nowhere the code could not write itself, and what it makes
is the user's (the archive calls wrote as root).

PATH is relative to ``/work`` (the host checked it: no ``..``, no NUL); symbolic links are
followed only while they stay under ``/work``. The exit code says what went wrong, and the
host turns it into words (``EXIT``); 0 is success.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys

WORK = "/work"

EXIT = {
    3: "no such file or folder in the sandbox",
    4: "leads outside /work (a symlink), refused",
    5: "the work directory is full",
    6: "a folder, not a file",
    7: "not a regular file",
    8: "too big",
    9: "cannot write it",
}
"""What each exit code means, for the host's messages."""

_CHUNK = 65536


def inside(path: str) -> str | None:
    """``path`` (under /work) with its links resolved, or None when it leads outside."""
    real = os.path.realpath(os.path.join(WORK, path))
    return real if real == WORK or real.startswith(WORK + "/") else None


def put(path: str) -> int:
    """Write stdin to ``path``. Whatever goes wrong, stdin is read to its end first: the host
    is still sending, and must hear the exit code, not a connection reset."""
    code = _put(path)
    if code != 0:
        drain()
    return code


def _put(path: str) -> int:
    parent = os.path.dirname(os.path.join(WORK, path))
    if inside(os.path.relpath(parent, WORK)) is None:
        return 4
    try:
        os.makedirs(parent, exist_ok=True)
    except FileExistsError:
        return 9  # a file where a folder of the path should be
    except OSError as error:
        return 5 if error.errno == errno.ENOSPC else 9
    target = inside(path)
    if target is None:
        return 4
    if os.path.isdir(target):
        return 6
    try:
        with open(target, "wb") as out:
            while chunk := sys.stdin.buffer.read(_CHUNK):
                out.write(chunk)
    except OSError as error:
        if error.errno == errno.ENOSPC:  # leave nothing half-written behind
            with contextlib.suppress(OSError):
                os.unlink(target)
            return 5
        sys.stderr.write(f"{error.strerror}\n")
        return 9
    return 0


def drain() -> None:
    """Read stdin to its end, keeping nothing."""
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(_CHUNK):
            pass


def get(path: str, most: int) -> int:
    target = inside(path)
    if target is None:
        return 4
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return 3
    if stat.S_ISDIR(info.st_mode):
        return 6
    if not stat.S_ISREG(info.st_mode):
        return 7
    if info.st_size > most:
        sys.stderr.write(f"{info.st_size}\n")
        return 8
    with open(target, "rb") as source:
        data = source.read(most + 1)
    if len(data) > most:  # it grew while read
        sys.stderr.write(f"{len(data)}\n")
        return 8
    sys.stdout.buffer.write(data)
    return 0


def main(arguments: list[str]) -> int:
    if arguments[0] == "put":
        return put(arguments[1])
    return get(arguments[1], int(arguments[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
