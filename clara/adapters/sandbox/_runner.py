"""The run wrapper that executes *inside* a docker sandbox, as the sandbox's user.

``DockerBackend`` reads this module's source and runs it in the container with
``python3 -I -S -c SOURCE NONCE LIMIT CAP STDIN -- ARGV...``, on the image's Python
(standard library only, no Clara). It is a module of its own so that it is linted and
type-checked like the rest, and can be read as a program.

What it does, because the SDK's exec has no timeout and cannot kill what it started:

1. kill every process of the sandbox's user left from an earlier run (except the container's
   keeper, ``sleep infinity``, whose end would end the container);
2. start ARGV in a session of its own, its stdin the wrapper's own when STDIN is ``0`` (the
   host streams it through the exec), none when it is ``-``;
3. forward at most CAP bytes of each stream to its own stdout/stderr and read the rest into
   nothing (the program runs on; ``truncated`` says so), so 50 MB of output never crosses the
   engine's socket;
4. at LIMIT seconds, or when ARGV ends, stop then kill every process of the user again, so a
   child that ignores SIGTERM, calls ``setsid`` or daemonises dies with the rest;
5. end with a trailer on stderr: ``\\0clara-run:NONCE:{"exit", "timed_out", "truncated",
   "oom"}``; ``oom`` is true when the container's cgroup counted an OOM kill during the run.
   The nonce is random per run, so what ARGV prints cannot forge the trailer the host looks for.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

TRAILER = b"\0clara-run:"
"""What starts the status trailer on stderr (then the nonce, ``:``, and the JSON)."""

_CHUNK = 65536
_KEEPER = b"sleep\0infinity\0"


def oom_kills() -> int:
    """The container cgroup's OOM-kill count (cgroup v1, then v2); 0 where neither says."""
    for path, prefix in (
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill "),
        ("/sys/fs/cgroup/memory.events", "oom_kill "),
    ):
        try:
            with open(path) as lines:
                for line in lines:
                    if line.startswith(prefix):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return 0


def processes(uid: int) -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, command line) of every live process of ``uid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read()
            owner = int(fields.get("Uid", "-1").split()[0])
            parent = int(fields.get("PPid", "0"))
        except (OSError, ValueError, IndexError):
            continue
        state = fields.get("State", "").split()
        if owner != uid or (state and state[0] in "ZX"):
            continue
        found.append((pid, parent, command))
    return found


def keeper(found: list[tuple[int, int, bytes]]) -> int | None:
    """The container's own main process (``sleep infinity``, the first child of init)."""
    mains = [pid for pid, parent, command in found if parent == 1 and command == _KEEPER]
    return min(mains) if mains else None


def kill_all(me: int, uid: int) -> None:
    """Stop, then kill, every process of ``uid`` but this one, init and the keeper; again
    until none is left (a fork bomb cannot fork while it is stopped)."""
    for _ in range(200):
        found = processes(uid)
        spare = {me, 1, keeper(found)}
        targets = [pid for pid, _, _ in found if pid not in spare]
        if not targets:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in targets:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        time.sleep(0.002)


def write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def trailer(nonce: str, status: Mapping[str, object]) -> bytes:
    return TRAILER + nonce.encode() + b":" + json.dumps(status).encode()


def pump(child: subprocess.Popen[bytes], deadline: float, cap: int) -> tuple[bool, bool]:
    """Forward the child's output (CAP bytes of each stream) until both close or the
    deadline passes; (timed out, truncated)."""
    assert child.stdout is not None and child.stderr is not None
    left = {child.stdout.fileno(): [1, cap], child.stderr.fileno(): [2, cap]}
    poller = select.poll()
    for fd in left:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    truncated = False
    while left:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True, truncated
        for fd, _ in poller.poll(remaining * 1000):
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                poller.unregister(fd)
                del left[fd]
                continue
            target, room = left[fd]
            if room > 0:
                write(target, chunk[:room])
            if len(chunk) > room:
                truncated = True
            left[fd][1] = max(0, room - len(chunk))
    return False, truncated


def main(arguments: list[str]) -> None:
    nonce, stdin_path = arguments[0], arguments[3]
    limit, cap = float(arguments[1]), int(arguments[2])
    argv = arguments[5:]
    me, uid = os.getpid(), os.getuid()
    # "-": no stdin; "0": the exec's own stdin, streamed from the host, passed on as it is.
    stdin: int | None = subprocess.DEVNULL if stdin_path == "-" else None
    kill_all(me, uid)
    ooms = oom_kills()
    deadline = time.monotonic() + limit
    try:
        child = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        write(2, f"{argv[0]}: {exc.strerror}\n".encode())
        write(2, trailer(nonce, {"exit": 127, "timed_out": False, "truncated": False}))
        return
    timed_out, truncated = pump(child, deadline, cap)
    code: int | None = None
    if not timed_out:
        try:
            code = child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    kill_all(me, uid)
    if timed_out:
        child.wait()
        code = None
    elif code is not None and code < 0:
        code = 128 - code
    ended = {"exit": code, "timed_out": timed_out, "truncated": truncated}
    write(2, trailer(nonce, {**ended, "oom": oom_kills() > ooms}))


if __name__ == "__main__":
    main(sys.argv[1:])
