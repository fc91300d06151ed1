"""The actor system: what every actor in one tree shares (passed down, never global)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .dead_letters import DeadLetters
from .events import LifecycleEvent
from .scheduler import Scheduler

__all__ = ["ActorSystem", "KindTotals", "Observer"]

logger = logging.getLogger(__name__)

#: Called with every lifecycle event of a tree (see ``ActorSystem.observe``).
Observer = Callable[[LifecycleEvent], None]


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
    """What one supervision tree shares: its name, its dead-letter office, its scheduler and
    the observers of its lifecycle events.

    The root supervisor is given one (or makes one) and hands it to every child; tests make
    one per test. There is deliberately no process-wide default.

    Args:
        name: the root of every path in the tree (``/clara/...``).
        dead_letters: the dead-letter office; a fresh one holding 1,000 letters by default.
    """

    __slots__ = ("dead_letters", "name", "observers", "root", "scheduler", "totals")

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
        #: Who gets the tree's lifecycle events (``observe``); empty, it costs nothing.
        self.observers: tuple[Observer, ...] = ()

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(event)`` with every lifecycle event of this tree from now on.

        Events (``Started``, ``Crashed``, ``BackingOff``, ``Restarted``, ``Stopped``,
        ``Passivated``, ``Restored``, ``Escalated``) are frozen Structs with the ``path``
        they are about and the time ``at`` which they happened. The observer is called
        synchronously from the runtime's task, in order: keep it quick, never block in it.
        What it raises is logged and ignored.

        Returns:
            A function that ends this observation (idempotent).

        Raises:
            TypeError: ``observer`` is not callable.
        """
        if not callable(observer):
            raise TypeError(f"observer must be callable with one event; got {observer!r}")
        self.observers = (*self.observers, observer)

        def forget() -> None:
            observers = list(self.observers)
            if observer in observers:
                observers.remove(observer)
                self.observers = tuple(observers)

        return forget

    def emit(self, event: LifecycleEvent) -> None:
        """Hand ``event`` to every observer (the runtime calls this; check ``observers``
        first, so that nobody listening costs nothing)."""
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                logger.warning(
                    "an observer of %s raised on %s for %s; ignored",
                    self.name,
                    type(event).__name__,
                    event.path,
                    exc_info=True,
                )

    def __repr__(self) -> str:
        return f"ActorSystem(name={self.name!r})"
