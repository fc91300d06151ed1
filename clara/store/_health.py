"""Whether the store answers: database errors that mean "unreachable" become Clara's own
``StoreUnavailable``, and ``StoreHealth`` remembers the last outcome for readiness.

A database that is down (stopped, restarting, unreachable, out of connections) fails
every unit of work the same way; callers need to know that this is an outage, not a bug
in what they asked, so they can keep the promise for later instead of crashing. The
driver's text is kept short and masked: it can name hosts, never passwords, but a URL or
DSN in it must not leak what it holds.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import exc

from ..errors import StoreUnavailable
from ..logs import SecretFilter

__all__ = ["StoreHealth", "as_unavailable", "describe"]

#: Driver errors that mean the database did not answer, not that a statement was wrong.
_OUTAGES: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,  # the pool's: every connection is out, and none came back in time
    ConnectionError,
)


def as_unavailable(error: BaseException) -> BaseException:
    """``error`` as a ``StoreUnavailable`` when it means the database is unreachable (its
    cause kept as ``__cause__``); any other error as it is."""
    if isinstance(error, StoreUnavailable):
        return error
    outage = isinstance(error, _OUTAGES) or (
        isinstance(error, exc.DBAPIError) and error.connection_invalidated
    )
    if not outage:
        return error
    unavailable = StoreUnavailable(f"the database is unavailable: {describe(error)}")
    unavailable.__cause__ = error
    return unavailable


def describe(error: BaseException) -> str:
    """One short, masked line for a database error: the driver's own first line."""
    original = getattr(error, "orig", None) or error
    # Only the driver's own text: SQLAlchemy's adds the statement and its parameters.
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    text = lines[0] if lines else type(original).__name__
    text = SecretFilter().mask(text)
    return text if len(text) <= 200 else text[:199] + "…"


class StoreHealth:
    """The store's last outcome, shared by the writer thread, worker threads and trio.

    ``problem()`` is a readiness check: None while the last unit of work (or probe)
    succeeded, else why the store is unavailable and since when.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self.outages = 0
        """How many times the store went from answering to not."""

    def ok(self) -> None:
        if self._down_since is None:  # the usual case: no lock, nothing to change
            return
        with self._lock:
            self._down_since = None
            self._reason = ""

    def failed(self, error: BaseException) -> None:
        """Note ``error`` if it is an outage (``StoreUnavailable``); ignore any other."""
        if not isinstance(error, StoreUnavailable):
            return
        with self._lock:
            if self._down_since is None:
                self._down_since = time.time()
                self.outages += 1
            self._reason = str(error)

    @property
    def up(self) -> bool:
        return self._down_since is None

    def problem(self) -> str | None:
        with self._lock:
            since = self._down_since
            reason = self._reason
        if since is None:
            return None
        return f"{reason} (for {max(0, round(time.time() - since))}s)"

    def describe(self) -> dict[str, object]:
        with self._lock:
            since = self._down_since
            reason = self._reason
        return {"up": since is None, "down_since": since, "reason": reason or None,
                "outages": self.outages}  # fmt: skip
