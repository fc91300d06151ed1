"""``Reaper``: MCP server processes never outlive Clara.

A normal stop closes every server (the SDK ends stdin, then kills the process group). What
a normal stop cannot cover is Clara itself dying abruptly (SIGKILL, the OOM killer): its
children would be left running. ``PR_SET_PDEATHSIG`` does not fit here (it fires when the
*thread* that spawned the child exits, and trio spawns from worker threads that come and go),
so one small helper process per Clara holds the list of server process groups and kills them
when its pipe from Clara closes, which the kernel does however Clara ends.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import trio

__all__ = ["Reaper"]

logger = logging.getLogger(__name__)

_SCRIPT = Path(__file__).with_name("_reaper_main.py")


class Reaper:
    """Starts the reaper process on first use; ``guard``/``release`` server process groups."""

    def __init__(self) -> None:
        self._process: trio.Process | None = None
        self._lock = trio.Lock()
        self.guarded: set[int] = set()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def _send(self, line: str) -> None:
        async with self._lock:
            process = self._process
            if process is None or process.returncode is not None:
                process = self._process = await trio.lowlevel.open_process(
                    [sys.executable, "-I", str(_SCRIPT)],
                    stdin=subprocess.PIPE,
                    start_new_session=True,  # Ctrl-C on Clara's terminal must not reach it
                )
                for group in self.guarded:  # a reaper that died is replaced, list and all
                    assert process.stdin is not None
                    await process.stdin.send_all(f"+{group}\n".encode())
            assert process.stdin is not None
            try:
                await process.stdin.send_all(line.encode())
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                logger.warning("the MCP process reaper is gone; it is started again on next use")
                self._process = None

    async def guard(self, pid: int) -> None:
        """Kill process group ``pid`` if Clara dies before ``release(pid)``."""
        self.guarded.add(pid)
        await self._send(f"+{pid}\n")

    async def release(self, pid: int) -> None:
        self.guarded.discard(pid)
        if self._process is not None:
            await self._send(f"-{pid}\n")

    async def aclose(self) -> None:
        """Stop the reaper (it kills whatever is still guarded on its way out)."""
        process, self._process = self._process, None
        if process is None:
            return
        with trio.CancelScope(shield=True):
            if process.stdin is not None:
                await process.stdin.aclose()
            with trio.move_on_after(5):
                await process.wait()
