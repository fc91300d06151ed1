"""Holding the store's writer, so that the writes queued meanwhile are known to make one batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import trio
from sqlalchemy.orm import Session

from clara.store import Database

__all__ = ["Gate", "writer_held"]


class Gate:
    """A write that holds the writer until ``release``: the writes queued meanwhile batch."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self, session: Session) -> None:
        self.thread = threading.current_thread()
        self.entered.set()
        self.released.wait()

    async def wait_entered(self) -> None:
        await trio.to_thread.run_sync(self.entered.wait)

    def release(self) -> None:
        self.released.set()


@contextmanager
def writer_held(database: Database) -> Iterator[Gate]:
    """Queue a Gate; the writer is inside it once ``wait_entered()`` returns; let go on exit."""
    gate = Gate()
    database.write_soon(gate)
    try:
        yield gate
    finally:
        gate.release()
