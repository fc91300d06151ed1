"""Supervisor: a fixed, ordered list of children and a restart strategy."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from ..actors import ActorCell, ActorRef, ActorState
from ..errors import ChildStartError, describe_error
from ._base import SupervisorBase
from ._child import Child
from ._spec import Backoff, ChildSpec, Restart, Strategy

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)


class Supervisor(SupervisorBase):
    """Starts its children in order, restarts them by strategy, stops them in reverse order.

    A supervisor is a child like any other: put it as the ``start`` of a ``ChildSpec``.

    Args:
        children: the child specs, in start order; ids must be unique.
        strategy: ``ONE_FOR_ONE`` (default), ``ONE_FOR_ALL`` or ``REST_FOR_ONE``.
        max_restarts: restarts allowed within ``max_seconds`` (default 3).
        max_seconds: the intensity window in seconds (default 5); a restart exactly
            ``max_seconds`` old still counts.
        backoff: the restart backoff of children whose spec names none.
        rng: random source for backoff jitter.

    Raises:
        ValueError: duplicate child ids, or an invalid strategy / intensity.
        TypeError: a child is not a ``ChildSpec``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            strategy=strategy,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            backoff=backoff,
            rng=rng,
        )
        records: list[Child] = []
        seen: set[str] = set()
        for index, spec in enumerate(children):
            if not isinstance(spec, ChildSpec):
                raise TypeError(f"children[{index}] must be a ChildSpec; got {type(spec).__name__}")
            if spec.id in seen:
                raise ValueError(f"children: duplicate child id {spec.id!r}")
            if spec.is_supervisor and spec.start is self:
                raise ValueError(f"children: {spec.id!r} is this supervisor itself")
            seen.add(spec.id)
            records.append(Child(spec, spec.id))
        self._children = records
        self._by_id = {record.id: record for record in records}

    def _records(self) -> Sequence[Child]:
        return self._children

    def _find(self, key: str) -> Child | None:
        return self._by_id.get(key)

    def _new_cell(self, record: Child) -> ActorCell:
        assert self._system is not None
        cell = record.spec.adopt(self, f"{self._path}/{record.id}", self._system)
        cell.key = record.key
        record.cell = cell
        return cell

    def _restart_group(self, record: Child) -> list[Child]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [record]
        live = [child for child in self._children if child.id in self._by_id]
        if self.strategy is Strategy.ONE_FOR_ALL:
            return live
        index = live.index(record)
        return live[index:]

    def _retire(self, record: Child) -> None:
        if record.spec.restart is Restart.TEMPORARY:
            # OTP removes temporary children once they end.
            self._by_id.pop(record.id, None)
            self._children = [child for child in self._children if child is not record]

    async def _start_initial(self) -> None:
        started: list[Child] = []
        for record in self._children:
            try:
                await self._start_child(record, restart=False)
            except Exception as exc:
                logger.error(
                    "supervisor %s: child %s failed to start: %s",
                    self._path,
                    record.id,
                    describe_error(exc),
                )
                for done in reversed(started):
                    await self._stop_child(done, final=True)
                raise ChildStartError(self._path, record.id, exc) from exc
            started.append(record)

    async def start_child(self, spec: ChildSpec) -> None:
        """Add a child to a running supervisor and start it (after the existing children).

        Raises:
            ValueError: a child with that id exists.
            ChildStartError: it failed to start (it is not kept).
            RuntimeError: the supervisor is not running.
        """
        if not isinstance(spec, ChildSpec):
            raise TypeError(f"start_child takes a ChildSpec; got {type(spec).__name__}")
        if self._nursery is None or self._stopping:
            raise RuntimeError(f"{self._path or 'Supervisor'} is not running")
        if spec.id in self._by_id:
            raise ValueError(f"{self._path}: a child with id {spec.id!r} exists")
        record = Child(spec, spec.id)
        self._children = [*self._children, record]
        self._by_id[spec.id] = record
        try:
            await self._start_child(record, restart=False)
        except Exception as exc:
            self._children = [child for child in self._children if child is not record]
            del self._by_id[spec.id]
            if record.cell is not None:
                record.cell.terminate(ActorState.FAILED)
            raise ChildStartError(self._path, spec.id, exc) from exc

    async def terminate_child(self, child_id: str) -> None:
        """Stop a child for good (it is not restarted; a temporary one is removed)."""
        record = self._record(child_id)
        if record.cell is not None:
            await self.stop_child(record.cell)
            return
        await self._stop_child(record, final=True)
        self._retire(record)

    # -- lookups ---------------------------------------------------------------------------

    def ref(self, child_id: str) -> ActorRef:
        """The ref of actor child ``child_id``: valid across its restarts, and already before
        the supervisor starts it (its spec's declared ref; see ``ChildSpec.ref``).

        Raises:
            UnknownChild: no such child.
            TypeError: that child is a supervisor (use ``child``).
        """
        record = self._record(child_id)
        if record.cell is None and record.supervisor is None:
            return record.spec.ref
        return self._ref_of(record)

    def child(self, child_id: str) -> SupervisorBase:
        """The nested supervisor ``child_id``.

        Raises:
            UnknownChild: no such child.
            TypeError: that child is an actor (use ``ref``).
        """
        record = self._record(child_id)
        if record.supervisor is None:
            raise TypeError(f"child {child_id!r} is an actor, not a supervisor; use ref()")
        return record.supervisor

    @property
    def child_ids(self) -> list[str]:
        return [record.id for record in self._children]
