"""Lifecycle events: what the runtime tells an observer of an ``ActorSystem``.

Every actor and supervisor of a tree reports its life cycle (started, crashed, backing off,
restarted, stopped, passivated, restored; a supervisor's escalation) to the observers
registered with ``system.observe(callback)``. The test kit records them so that a test
awaits "backing off, attempt 2, delay 0.2 s" instead of polling statistics; anything else
(an audit log, a metrics exporter) may listen the same way.

Nobody listening costs nothing but one check of an empty tuple per event: the events are
only built when an observer is registered, and they happen per start, crash and stop, never
per message. Observers are called synchronously, in the runtime's own task, in the order
things happen: keep them quick, and never block or await in one. What an observer raises
is logged and otherwise ignored: watching the tree must never break it.

Each event is a frozen msgspec Struct with the ``path`` of the actor or supervisor it is
about and ``at``, trio's clock when it happened (virtual under ``MockClock``, so tests can
assert exact times).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BackingOff",
    "Crashed",
    "Escalated",
    "LifecycleEvent",
    "Passivated",
    "Restarted",
    "Restored",
    "Started",
    "Stopped",
]


class LifecycleEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What every lifecycle event says: whom it is about and when."""

    path: str
    """The actor's or supervisor's path, e.g. ``/clara/channels/1234``."""
    at: float
    """trio's clock when it happened (virtual under MockClock)."""


class Started(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """An incarnation is running: ``on_start`` returned (for a supervisor: every child of it
    started). Follows every start, the first and each restart."""

    incarnation: int
    """1 for the first start, then one more for each restart (for a supervisor: each run)."""


class Crashed(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """An incarnation ended with an error: a handler, a background task or ``on_start``
    raised (or, for a nested supervisor, its start failed). Its supervisor decides next."""

    error_type: str
    """The exception's class name."""
    message: str
    """``str()`` of the exception."""


class BackingOff(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """A restart is scheduled: the child starts again ``delay`` seconds after ``at``.

    Sent for each child its supervisor's strategy restarts (the crashed one and, under
    ONE_FOR_ALL or REST_FOR_ONE, its siblings)."""

    attempt: int
    """Restarts since the child was last stable (1 for the first)."""
    delay: float
    """The backoff delay, in seconds."""


class Restarted(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """A restart is done: the new incarnation runs (it follows that incarnation's
    ``Started``)."""

    restarts: int
    """How many times this child has been restarted, this one included."""


class Stopped(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """Ended for good: stopped, not restarted after its end (a temporary or transient
    child), or ended with its subtree. A ``Crashed`` comes first when it failed."""


class Passivated(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """A DynamicSupervisor stopped this idle child and kept its snapshot; the next message
    or ``get_or_start`` brings it back."""


class Restored(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """A child passivated earlier runs again (``on_restore`` had its snapshot, if any); it
    follows that incarnation's ``Started``."""


class Escalated(LifecycleEvent, frozen=True, kw_only=True, gc=False):
    """A supervisor gave up: it stopped its children and failed, so its parent decides (a
    root's ``run`` raises). ``path`` is the supervisor's."""

    child: str
    """The id of the child whose restart would have been one too many ("" if the failure
    came from elsewhere)."""
    error_type: str
    """The failure's class name, usually ``RestartIntensityExceeded``."""
    message: str
    """``str()`` of the failure."""
