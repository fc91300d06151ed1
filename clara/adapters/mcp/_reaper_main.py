"""The reaper process: kills the MCP servers it was told about when Clara goes away.

Run by ``Reaper`` as ``python -I <this file>``, in its own session, with a pipe from Clara on
stdin. Lines ``+PID`` and ``-PID`` add and remove a process group (each stdio server leads its
own). When the pipe ends (Clara exited, however it exited: even SIGKILL closes it), every group
still registered gets SIGKILL, and the reaper exits. Standard library only: it starts in ~20 ms.
"""

import contextlib
import os
import signal
import sys


def _kill_all(groups: set[int]) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def main() -> None:
    groups: set[int] = set()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for Clara, which stops servers itself

    def on_term(signum: int, frame: object) -> None:
        _kill_all(groups)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if len(line) < 2 or not line[1:].isdigit():
            continue
        group = int(line[1:])
        if line.startswith(b"+"):
            groups.add(group)
        elif line.startswith(b"-"):
            groups.discard(group)
    _kill_all(groups)


if __name__ == "__main__":
    main()
