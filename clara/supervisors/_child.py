"""What a supervisor knows about its children, and the snapshots it reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import trio

from ..actors import ActorCell, ActorState, BackoffSnapshot, FailureInfo
from ._spec import Backoff, ChildSpec

if TYPE_CHECKING:
    from ._base import SupervisorBase

__all__ = ["Census", "Child", "ChildSummary", "SupervisorStatistics", "now_or_zero"]


def now_or_zero() -> float:
    """trio's clock, or 0 outside a trio run (a snapshot taken before the tree runs)."""
    try:
        return trio.current_time()
    except RuntimeError:
        return 0.0


class ChildSummary(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One child as its supervisor sees it."""

    id: str
    kind: str
    """``"actor"`` or ``"supervisor"``."""
    restart: str
    state: ActorState
    restarts: int
    """Restarts decided for it, a pending one included (as ``backoff.attempt`` counts it)."""
    backoff: BackoffSnapshot | None


class SupervisorStatistics(
    msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="supervisor", tag_field="type"
):
    """A snapshot of one supervisor (``"type": "supervisor"``)."""

    path: str
    kind: str
    state: ActorState
    strategy: str
    restarts: int
    """Restarts of its children decided since it started (pending ones included, as in
    ``restarts_in_window``)."""
    restarts_in_window: int
    """Restarts inside the current intensity window (``max_seconds``)."""
    max_restarts: int
    max_seconds: float
    last_failure: FailureInfo | None
    backoff: BackoffSnapshot | None
    """Its own backoff, when its parent is about to restart it."""
    child_count: int
    children: tuple[ChildSummary, ...]
    """Every child, for a static supervisor; empty for a DynamicSupervisor (use ``walk``)."""


class Census(msgspec.Struct, kw_only=True):
    """How many actors and supervisors a subtree has, by state, and its restarts."""

    actors: dict[str, int] = msgspec.field(default_factory=dict)
    supervisors: dict[str, int] = msgspec.field(default_factory=dict)
    restarts: int = 0
    """Restarts made by the subtree's supervisors."""

    @property
    def actor_count(self) -> int:
        return sum(self.actors.values())

    @property
    def supervisor_count(self) -> int:
        return sum(self.supervisors.values())


class Child:
    """A supervisor's record of one child: its spec, what runs, and its restart bookkeeping."""

    __slots__ = (
        "attempt",
        "backoff",
        "cell",
        "delay",
        "generation",
        "id",
        "key",
        "next_start_at",
        "restarts",
        "running",
        "spec",
        "started_at",
        "supervisor",
    )

    def __init__(self, spec: ChildSpec, name: str, key: Any = None) -> None:
        self.spec = spec
        self.id = name
        self.key: Any = name if key is None else key
        self.cell: ActorCell | None = None
        self.supervisor: SupervisorBase | None = spec.start if spec.is_supervisor else None
        self.backoff: Backoff | None = spec.backoff
        self.attempt = 0
        self.delay = 0.0
        self.next_start_at: float | None = None
        self.restarts = 0
        self.generation = 0
        self.running = False
        self.started_at = 0.0

    @property
    def state(self) -> ActorState:
        if self.cell is not None:
            return self.cell.state
        if self.supervisor is None:
            return ActorState.STOPPED  # an actor not started yet
        return self.supervisor.state

    def backoff_snapshot(self) -> BackoffSnapshot | None:
        if self.attempt == 0:
            return None
        return BackoffSnapshot(
            attempt=self.attempt, delay=self.delay, next_start_at=self.next_start_at
        ).at(now_or_zero())

    def summary(self) -> ChildSummary:
        return ChildSummary(
            id=self.id,
            kind="supervisor" if self.supervisor is not None else "actor",
            restart=self.spec.restart.value,
            state=self.state,
            restarts=self.restarts,
            backoff=self.backoff_snapshot(),
        )
