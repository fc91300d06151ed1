"""The actor system: what every actor in one tree shares (passed down, never global)."""

from __future__ import annotations

from typing import Any

from .dead_letters import DeadLetters
from .scheduler import Scheduler

__all__ = ["ActorSystem", "KindTotals"]


class KindTotals:
    """Running totals per actor kind (class name), for metrics that must never go down.

    A cell's own counters vanish with it (passivation, removal); these do not. Keys are
    class names, so their number is bounded by the code, not by the number of actors.
    """

    __slots__ = ("failed", "processed", "restarts")

    def __init__(self) -> None:
        self.processed: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self.restarts: dict[str, int] = {}


class ActorSystem:
    """What one supervision tree shares: its name and its dead-letter office.

    The root supervisor is given one (or makes one) and hands it to every child; tests make
    one per test. There is deliberately no process-wide default.

    Args:
        name: the root of every path in the tree (``/clara/...``).
        dead_letters: the dead-letter office; a fresh one holding 1,000 letters by default.
    """

    __slots__ = ("dead_letters", "name", "root", "scheduler", "totals")

    def __init__(self, name: str = "clara", dead_letters: DeadLetters | None = None) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"actor system name must be a non-empty str without '/'; got {name!r}")
        self.name = name
        self.dead_letters = dead_letters if dead_letters is not None else DeadLetters()
        #: Fires ask deadlines and actor timers; served by the root while the tree runs.
        self.scheduler = Scheduler()
        #: Processed / failed / restarted counts per actor kind, monotonic.
        self.totals = KindTotals()
        #: The root supervisor while the tree runs (for views of the whole tree, such as the
        #: status endpoint); None before. Typed loosely: the core knows no supervisor.
        self.root: Any = None

    def __repr__(self) -> str:
        return f"ActorSystem(name={self.name!r})"
