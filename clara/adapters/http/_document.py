"""The /status document's shape: ``StatusDocument`` and the records it is made of.

Published as JSON Schema in ``status.schema.json`` (``_schema.py``; a test fails when the
code's shape and the file differ). Fields are only ever added, never renamed or removed.
How a document is built and sent is ``_stream.py``; which nodes the default view holds is
``_overview.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from ...actors import ActorState, ActorStatistics
from ...supervisors import SupervisorStatistics

__all__ = [
    "OVERVIEW",
    "TREE",
    "DeadLetterSummary",
    "DeadLetterView",
    "QueryView",
    "ReadinessView",
    "StatusDocument",
    "StatusHead",
    "StatusQuery",
    "Summary",
    "iso",
]

#: The default view: readiness, the summary, every supervisor with its first children, and
#: every node that needs attention. Its cost does not grow with the number of actors.
OVERVIEW = "overview"

#: The whole tree (or the part ``path`` / ``state`` select), paged with ``limit`` / ``offset``.
TREE = "tree"


class StatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a client asked for (already validated)."""

    view: str = TREE
    """``overview`` or ``tree``."""
    path: str = ""
    """Only nodes whose path starts with this."""
    states: frozenset[ActorState] | None = None
    """Only nodes in one of these states."""
    limit: int | None = None
    """At most this many nodes."""
    offset: int = 0
    """Skip this many matching nodes first (the next page of the tree)."""


class QueryView(msgspec.Struct, frozen=True, kw_only=True):
    path: str | None
    state: list[str] | None
    limit: int | None
    view: str = TREE
    """``overview`` (the default request) or ``tree``."""
    offset: int | None = None


class ReadinessView(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/readyz`` answers, in the document too: the page shows it first."""

    ready: bool
    reasons: dict[str, str]
    """Why not ready, by check (``tree``, ``llm``, ``discord``, ``store``, ...); empty when
    ready. Masked: no secret or token shape."""
    details: dict[str, dict[str, Any]] = {}
    """What operators should know beside the verdict, which it never changes (``email``:
    accounts watched and in error). Masked like the reasons."""


class DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    """A recent dead letter, as operators see it: its type, never its content."""

    recipient: str
    message_type: str
    reason: str
    at: str
    error: str | None


class DeadLetterSummary(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    by_reason: dict[str, int]
    recent: list[DeadLetterView]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """Counts over the whole tree, whatever the query."""

    actors: int
    supervisors: int
    actors_by_state: dict[str, int]
    supervisors_by_state: dict[str, int]
    restarts: int


class StatusHead(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of the status document known before the walk (sent first)."""

    version: str
    started_at: str
    """When the process started (ISO 8601, UTC)."""
    uptime_seconds: float
    generated_at: str
    root: str
    """The root supervisor's path."""
    query: QueryView
    readiness: ReadinessView
    summary: Summary
    dead_letters: DeadLetterSummary


class StatusDocument(StatusHead, frozen=True, kw_only=True):
    """The body of ``GET /status``. Fields are only ever added, never renamed or removed."""

    nodes: list[ActorStatistics | SupervisorStatistics]
    """The nodes the query selects, depth first in start order. The overview: every
    supervisor, the actors of each static supervisor, the first children of each
    dynamic one, and the nodes that need attention (a supervisor's ``child_count`` says
    how many it has in all). The tree: every node that matches, or one page of them."""
    truncated: bool
    """True when ``limit`` cut the node list."""
    next_offset: int | None = None
    """Where the next page starts (pass it as ``offset``) when ``limit`` cut it; else null."""


def iso(wall_time: float) -> str:
    """A ``time.time()`` value as ISO 8601 in UTC, to the millisecond."""
    moment = dt.datetime.fromtimestamp(wall_time, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
