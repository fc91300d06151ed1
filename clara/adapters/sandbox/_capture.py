"""Reading a host process's output with caps and a deadline, feeding its stdin on the way.

The bubblewrap backend runs code as a child of Clara's process, so what the code prints
arrives on pipes Clara reads. ``capture`` keeps at most ``output_limit`` bytes of each stream,
reads up to ``drain_limit`` more into nothing (the program runs on; ``truncated`` says so),
and gives up past that (a program printing forever ends there rather than at its time
limit) or at the deadline. Nothing here kills: the caller does, whatever ``capture`` returns.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass

__all__ = ["Captured", "capture"]

_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Captured:
    stdout: bytes
    stderr: bytes
    truncated: bool
    """Output past ``output_limit`` was dropped."""
    timed_out: bool
    """The deadline passed before the process ended."""


def capture(
    process: subprocess.Popen[bytes],
    stdin: bytes | None,
    deadline: float,
    output_limit: int,
    drain_limit: int,
) -> Captured:
    """Read both streams until they close and the process ends, or until ``deadline``
    (``time.monotonic()``), or until more than ``drain_limit`` bytes past the cap were
    dropped from one stream."""
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.fileno(), process.stderr.fileno()
    kept: dict[int, bytearray] = {out: bytearray(), err: bytearray()}
    dropped: dict[int, int] = dict.fromkeys(kept, 0)
    truncated = False

    def result(timed_out: bool) -> Captured:
        return Captured(bytes(kept[out]), bytes(kept[err]), truncated, timed_out)

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
                return result(timed_out=True)
            for key, _events in selector.select(remaining):
                fd = key.fd
                if fd == stdin_fd:
                    assert pending is not None and process.stdin is not None
                    try:
                        written = os.write(fd, pending[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the program did not read it all: its choice
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(fd)
                        process.stdin.close()
                    continue
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    selector.unregister(fd)
                    continue
                room = output_limit - len(kept[fd])
                if room > 0:
                    kept[fd] += chunk[:room]
                if len(chunk) > room:
                    truncated = True
                    dropped[fd] += len(chunk) - max(room, 0)
                    if dropped[fd] > drain_limit:
                        return result(timed_out=False)
    try:
        process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return result(timed_out=True)
    return result(timed_out=False)
