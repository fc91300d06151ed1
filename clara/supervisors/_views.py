"""What a supervisor shows of itself and its subtree: snapshots, walks and counts.

``TreeViews`` is a mixin of ``SupervisorBase`` (kept apart so the base module stays about
deciding restarts and running children). Everything here only reads: the status endpoint,
``python -m clara status`` and the metrics are built on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..actors import ActorState, ActorStatistics
from ..actors._core.statistics import Failure
from ._child import Census, Child, ChildSummary, SupervisorStatistics, now_or_zero
from ._spec import RestartIntensity, Strategy

if TYPE_CHECKING:
    from ._base import SupervisorBase

__all__ = ["TreeViews"]


class TreeViews:
    """Statistics of one supervisor, and walks and counts of its whole subtree."""

    __slots__ = ()

    # Provided by SupervisorBase.
    strategy: Strategy
    _path: str
    _state: ActorState
    _restarts: int
    _intensity: RestartIntensity
    _last_failure: Failure | None
    _parent: SupervisorBase | None
    _link_key: Any

    if TYPE_CHECKING:

        def _records(self) -> Sequence[Child]: ...

        def _find(self, key: Any) -> Child | None: ...

    def statistics(self) -> SupervisorStatistics:
        now = now_or_zero()
        parent = self._parent
        own = parent._find(self._link_key) if parent is not None else None
        return SupervisorStatistics(
            path=self._path,
            kind=type(self).__name__,
            state=self._state,
            strategy=self.strategy.value,
            restarts=self._restarts,
            restarts_in_window=self._intensity.in_window(now),
            max_restarts=self._intensity.max_restarts,
            max_seconds=self._intensity.max_seconds,
            last_failure=None if self._last_failure is None else self._last_failure.info(),
            backoff=None if own is None else own.backoff_snapshot(),
            child_count=self._child_count(),
            children=self._child_summaries(),
        )

    def _child_count(self) -> int:
        return len(self._records())

    def _child_summaries(self) -> tuple[ChildSummary, ...]:
        return tuple(record.summary() for record in self._records())

    def walk(
        self, prefix: str = "", states: frozenset[ActorState] | None = None
    ) -> Iterator[SupervisorStatistics | ActorStatistics]:
        """Statistics of this supervisor and everything under it, depth first, in start order.

        Args:
            prefix: only nodes whose path starts with it (subtrees outside it are skipped).
            states: only nodes in one of these states (others cost no snapshot).
        """
        path = self._path
        if prefix and not (path.startswith(prefix) or prefix.startswith(path + "/")):
            return
        if (not prefix or path.startswith(prefix)) and (states is None or self._state in states):
            yield self.statistics()
        for record in self._records():
            if record.supervisor is not None:
                yield from record.supervisor.walk(prefix, states)
                continue
            cell = record.cell
            if cell is None:
                continue
            if prefix and not cell.path.startswith(prefix):
                continue
            if states is None or cell.state in states:
                yield cell.statistics()

    def census(self) -> Census:
        """Counts of this subtree's actors and supervisors by state, cheaply (no snapshots)."""
        census = Census()
        for _ in self.count_into(census):
            pass
        return census

    def count_into(self, census: Census, every: int = 256) -> Iterator[None]:
        """Add this subtree to ``census``, pausing (yielding None) every ``every`` children.

        An async caller awaits a checkpoint at each pause, so counting 100,000 actors never
        holds the event loop for long.
        """
        census.supervisors[self._state.value] = census.supervisors.get(self._state.value, 0) + 1
        census.restarts += self._restarts
        actors = census.actors
        for index, record in enumerate(self._records(), start=1):
            if record.supervisor is not None:
                yield from record.supervisor.count_into(census, every)
            elif record.cell is not None:
                state = record.cell.state.value
                actors[state] = actors.get(state, 0) + 1
            if index % every == 0:
                yield None
