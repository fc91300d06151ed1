"""Why a stdio MCP server's process ended: its exit status, and the stderr lines that matter.

"process 4242 exited (stderr: Starting default (STDIO) server...)" told an operator
neither how the process ended nor anything useful about why: the only stderr line was the
server's start-up banner, which reads like the cause. Two things fix it:

- ``exit_status`` reads how the process ended (an exit code, or the signal that killed it,
  named: ``SIGKILL``) with ``waitid(WNOWAIT)``, which leaves the process to be reaped by the
  SDK that started it;
- ``StderrTail`` keeps the server's last stderr lines and knows which of them came after
  the server had started: a server that dies after it started is explained by what it said
  since (its start-up talk is not shown), or by the fact that it said nothing; one that
  never got going is explained by all it said. Before a death is explained, what is still
  waiting in the pipe is read (``drain``), so the lines written just before the end are
  not lost to a reader task that has not run yet.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal

import trio

__all__ = ["StderrTail", "exit_status", "wait_for_exit"]

logger = logging.getLogger(__name__)

#: Lines kept; the explanation shows the last few non-empty ones.
_KEPT = 20
_SHOWN = 3
_LINE = 500
_TEXT = 300


def exit_status(pid: int) -> str | None:
    """How child process ``pid`` ended (``exited with code 1``, ``was killed by SIGKILL``),
    or None while it runs (or once it was reaped, or if it is not this process's child).

    It only looks: the process stays a zombie for whoever reaps it.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except OSError:  # ChildProcessError: reaped already, or not ours
        return None
    if info is None:
        return None
    if info.si_code == os.CLD_EXITED:
        return f"exited with code {info.si_status}"
    try:
        name = signal.Signals(info.si_status).name
    except ValueError:
        name = f"signal {info.si_status}"
    if info.si_code == os.CLD_DUMPED:
        return f"was killed by {name} (core dumped)"
    return f"was killed by {name}"


async def wait_for_exit(pid: int, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for process ``pid`` to end (at once if it has)."""
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone already, or no pidfd here
        return
    try:
        with trio.move_on_after(timeout):
            await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)


class StderrTail:
    """A server's stderr, read line by line: logged at DEBUG, the last lines kept.

    Args:
        name: the server's name, for the log.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: collections.deque[str] = collections.deque(maxlen=_KEPT)
        self.count = 0
        """Lines read so far (including those no longer kept)."""
        self.started_at: int | None = None
        """``count`` when the server had started (``mark_started``), or None."""
        self._partial = b""
        self._fd: int | None = None

    async def pump(self, fd: int) -> None:
        """Read the pipe ``fd`` until its end (then close it); run as a task."""
        stream = trio.lowlevel.FdStream(fd)
        async with stream:
            self._fd = fd
            try:
                while chunk := await stream.receive_some(65536):
                    self._take(chunk)
            finally:
                self._fd = None  # closed by the stream on the way out: never read it again
        self._flush()

    def drain(self) -> None:
        """Read what is waiting in the pipe now, without waiting for more.

        Called before a death is explained (and at start), so the lines a process wrote
        just before are counted even if the reading task has not run since.
        """
        fd = self._fd
        if fd is None:
            return
        with contextlib.suppress(OSError):  # BlockingIOError: nothing more is waiting
            while chunk := os.read(fd, 65536):
                self._take(chunk)

    def mark_started(self) -> None:
        """The server has started: what it wrote until now is its start-up talk."""
        self.drain()
        self._flush()
        self.started_at = self.count

    def note(self) -> str:
        """The lines worth showing with an error, as `` (stderr…: a | b | c)``.

        Before the server started: its last non-empty lines. After: only lines written
        since it started, or a note that there were none (its banner is not the cause).
        """
        lines = [line.strip() for line in self.lines]  # one line of text: no indentation
        if self.started_at is None:
            shown = [line for line in lines if line][-_SHOWN:]
            return f" (stderr: {' | '.join(shown)[-_TEXT:]})" if shown else ""
        since = min(self.count - self.started_at, len(lines))
        shown = [line for line in lines[len(lines) - since :] if line][-_SHOWN:]
        if not shown:
            return " (nothing on stderr since it started)"
        return f" (stderr since it started: {' | '.join(shown)[-_TEXT:]})"

    def _take(self, chunk: bytes) -> None:
        *complete, rest = (self._partial + chunk).split(b"\n")
        for raw in complete:
            self._add(raw)
        self._partial = rest[-65536:]

    def _flush(self) -> None:
        if self._partial:
            self._add(self._partial)
            self._partial = b""

    def _add(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip()
        self.lines.append(line[:_LINE])
        self.count += 1
        logger.debug("mcp %s stderr: %s", self.name, line)
