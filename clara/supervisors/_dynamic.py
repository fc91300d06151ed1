"""DynamicSupervisor: one actor per key, started on first use, bounded, passivated when idle."""

from __future__ import annotations

import functools
import itertools
import logging
import math
import random
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

import trio

from ..actors import Actor, ActorCell, ActorRef, ActorState, Overflow
from ..actors._core.events import Passivated, Restored
from ..actors._core.mailbox import DEFAULT_CONTROL_CAPACITY
from ..errors import ChildStartError, TooManyChildren, describe_error
from ._base import SupervisorBase
from ._child import Child, ChildSummary
from ._spec import Backoff, ChildSpec, Restart, Strategy, _positive

__all__ = ["DynamicSupervisor", "InMemorySnapshotStore", "SnapshotStore"]

logger = logging.getLogger(__name__)


class SnapshotStore(Protocol):
    """Where a DynamicSupervisor keeps the state of passivated children between activations."""

    async def save(self, key: Hashable, snapshot: Any) -> None:
        """Persist ``snapshot`` (what ``on_passivate`` returned) for ``key``."""

    async def load(self, key: Hashable) -> Any:
        """Return the snapshot saved for ``key``, or None if there is none."""


class InMemorySnapshotStore:
    """A SnapshotStore in a dict: for tests, and for state that may die with the process."""

    def __init__(self) -> None:
        self.snapshots: dict[Hashable, Any] = {}
        self.saves = 0
        self.loads = 0

    async def save(self, key: Hashable, snapshot: Any) -> None:
        self.saves += 1
        self.snapshots[key] = snapshot

    async def load(self, key: Hashable) -> Any:
        self.loads += 1
        return self.snapshots.get(key)


class DynamicSupervisor(SupervisorBase):
    """Children by key (channel id, user id, ...), started on first use.

    Every child is restarted on its own (ONE_FOR_ONE), with backoff, under the supervisor's
    restart intensity. The number of children is bounded; with ``passivate_after`` set, a child
    idle for that long is stopped, its ``on_passivate`` snapshot saved in ``snapshots``, and it
    is started again (``on_restore`` then ``on_start``) by ``get_or_start`` or by the next
    message sent to a ref still held. When full, the least recently idle child is passivated to
    make room; if none is idle, ``TooManyChildren`` is raised.

    Args:
        start: ``start(key)`` returns a fresh Actor for that key (called for every incarnation).
        max_children: the bound on live children (default 10,000).
        restart: restart type of every child (default ``TRANSIENT``: restarted after a crash,
            gone after a normal exit).
        shutdown: seconds a child may take to stop (default 5).
        mailbox_capacity: each child's mailbox capacity (default 1000).
        overflow: each child's overflow policy (default ``BACKPRESSURE``).
        control_capacity: the bound of each child's control lane (timer ticks, ``tell_self``;
            default 64).
        backoff: restart backoff (default ``Backoff()``).
        max_restarts: restarts allowed within ``max_seconds`` across all children (default 3).
        max_seconds: the intensity window (default 5); a restart exactly ``max_seconds``
            old still counts.
        passivate_after: idle seconds before a child is passivated; None never passivates.
        snapshots: where passivated children's state goes (default: kept in memory).
        child_name: how a key appears in paths (default ``str``); must not contain ``/``.
        rng: random source for backoff jitter.
    """

    def __init__(
        self,
        start: Callable[[Any], Actor],
        *,
        max_children: int = 10_000,
        restart: Restart = Restart.TRANSIENT,
        shutdown: float = 5.0,
        mailbox_capacity: int = 1000,
        overflow: Overflow = Overflow.BACKPRESSURE,
        control_capacity: int = DEFAULT_CONTROL_CAPACITY,
        backoff: Backoff | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        passivate_after: float | None = None,
        snapshots: SnapshotStore | None = None,
        child_name: Callable[[Any], str] = str,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            strategy=Strategy.ONE_FOR_ONE,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            backoff=backoff,
            rng=rng,
        )
        if not callable(start):
            raise TypeError(f"start must be a callable start(key) -> Actor; got {start!r}")
        if isinstance(max_children, bool) or not isinstance(max_children, int) or max_children < 1:
            raise ValueError(f"max_children must be a positive int; got {max_children!r}")
        if passivate_after is not None:
            _positive("passivate_after", passivate_after)
        self._factory = start
        self.max_children = max_children
        self.passivate_after = passivate_after
        self.snapshots: SnapshotStore = (
            snapshots if snapshots is not None else (InMemorySnapshotStore())
        )
        self._child_name = child_name
        # One spec shared by every child: keys differ, policies do not.
        self._spec = ChildSpec(
            id="child",
            start=start,
            restart=restart,
            shutdown=shutdown,
            mailbox_capacity=mailbox_capacity,
            overflow=overflow,
            backoff=backoff,
            control_capacity=control_capacity,
        )
        self._children: dict[Any, Child] = {}
        self._starting: dict[Any, trio.Event] = {}
        # Keys of idle children, least recently idle first, with the time they went idle.
        self._idle: OrderedDict[Any, float] = OrderedDict()
        self._reaper_wakeup: trio.Event | None = None
        # Passivation in progress, by key: a reactivation waits for it to finish.
        self._passivating: dict[Any, trio.Event] = {}
        # Passivated cells that someone still holds a ref to: reused, so that ref stays valid.
        self._dormant: weakref.WeakValueDictionary[Any, ActorCell] = weakref.WeakValueDictionary()
        self.passivations = 0
        self.activations = 0

    # -- public -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._children)

    def keys(self) -> list[Any]:
        return list(self._children)

    def get(self, key: Hashable) -> ActorRef | None:
        """The ref of a live child, or None (never starts one)."""
        record = self._children.get(key)
        return None if record is None or record.cell is None else record.cell.ref

    async def get_or_start(self, key: Hashable) -> ActorRef:
        """The ref of the child for ``key``, starting it (restoring its snapshot) if needed.

        Concurrent calls for one key start it once; every caller gets the same ref.

        Raises:
            ChildStartError: its ``on_restore`` / ``on_start`` raised (it is not kept).
            TooManyChildren: ``max_children`` live children and none idle to passivate.
            RuntimeError: the supervisor is not running.
        """
        record = self._children.get(key)
        if record is not None and record.cell is not None:
            starting = self._starting.get(key)
            if starting is not None:
                await starting.wait()
                return await self.get_or_start(key)
            return record.cell.ref
        if self._nursery is None or self._stopping:
            raise RuntimeError(f"{self._path or 'DynamicSupervisor'} is not running")
        if len(self._children) >= self.max_children:
            await self._make_room(key)
            return await self.get_or_start(key)  # someone may have started it meanwhile
        dormant = self._dormant.pop(key, None)
        if dormant is not None and dormant.state is not ActorState.PASSIVATED:
            dormant = None  # stopped for good through a ref meanwhile: start afresh
        record = self._register(key, dormant)
        assert record.cell is not None
        await self._activate(record)
        if not record.running:
            failure = record.cell._last_failure
            raise ChildStartError(
                self._path,
                record.id,
                RuntimeError(failure.info().message if failure else "start failed"),
            )
        return record.cell.ref

    async def terminate_child(self, key: Hashable) -> None:
        """Stop the child for ``key`` for good (no restart, no passivation snapshot)."""
        record = self._record(key)
        assert record.cell is not None
        await self.stop_child(record.cell)

    def statistics_of(self, key: Hashable) -> Any:
        record = self._record(key)
        assert record.cell is not None
        return record.cell.statistics()

    # -- SupervisorBase ----------------------------------------------------------------------

    def _records(self) -> Sequence[Child]:
        return list(self._children.values())

    def _find(self, key: Any) -> Child | None:
        return self._children.get(key)

    def _child_summaries(self) -> tuple[ChildSummary, ...]:
        return ()

    def _child_count(self) -> int:
        return len(self._children)

    def _make_actor(self, record: Child) -> Any:
        return self._factory(record.key)

    def _retire(self, record: Child) -> None:
        if self._children.get(record.key) is record:
            del self._children[record.key]
        self._idle.pop(record.key, None)

    async def _start_initial(self) -> None:
        assert self._nursery is not None
        # Started again by its parent after it gave up: as in OTP, a dynamic supervisor comes
        # back empty (whoever starts its children starts them again). The children of the run
        # that failed were stopped but kept for a restart that is not coming: end them, so
        # ``get_or_start`` starts a new child instead of handing out a dead one's ref.
        if self._children:
            self._terminate_all()
            self._children.clear()
            self._idle.clear()
            self._starting.clear()
        if self.passivate_after is not None:
            self._nursery.start_soon(self._reaper)

    async def _stop_all(self, *, final: bool) -> None:
        # Keyed children do not depend on each other (no start order to reverse): they stop
        # together, so stopping 10,000 channels takes one shutdown timeout, not 10,000.
        async with trio.open_nursery() as nursery:
            for record in list(self._records()):
                if record.running or final:
                    nursery.start_soon(functools.partial(self._stop_child, record, final=final))
        if final:
            self._children.clear()
            self._idle.clear()

    def reactivate(self, cell: ActorCell) -> None:
        """A message arrived for a passivated child: register it again and start it."""
        key = cell.key
        record = self._children.get(key)
        if record is not None and record.cell is cell:
            return  # already coming back
        if self._nursery is None or self._stopping:
            return  # the message waits in the mailbox; the cell is terminated at stop
        if len(self._children) >= self.max_children and not self._evict_one_now():
            raise TooManyChildren(
                self._path,
                f"holds {self.max_children} children (max_children), none idle; "
                f"cannot start {self._child_name(key)!r} again",
            )
        self._dormant.pop(key, None)
        record = self._register(key, cell)
        self._nursery.start_soon(self._activate, record)

    # -- internals ---------------------------------------------------------------------------

    def _register(self, key: Any, cell: ActorCell | None) -> Child:
        name = self._child_name(key)
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"child_name({key!r}) must be a non-empty str without '/'; got {name!r}"
            )
        record = Child(self._spec, name, key)
        if cell is not None:
            record.cell = cell
            cell.mark(ActorState.STARTING)
        else:
            self._new_cell(record)
        self._children[key] = record
        self._starting[key] = trio.Event()
        return record

    async def _activate(self, record: Child) -> None:
        """First start (or start after passivation) of a registered child."""
        key = record.key
        cell = record.cell
        assert cell is not None
        try:
            passivating = self._passivating.get(key)
            if passivating is not None:
                await passivating.wait()
            snapshot = await self.snapshots.load(key)
            cell.idle_hook = self._went_idle
            revived = snapshot is not None or cell.incarnation > 0  # it was passivated
            await self._start_child(
                record, restart=False, snapshot=snapshot, restore=snapshot is not None
            )
            self.activations += 1
            system = self._system
            if revived and system is not None and system.observers:
                system.emit(Restored(path=cell.path, at=trio.current_time()))
            if cell.is_idle():
                self._went_idle(cell)
        except Exception as exc:
            logger.warning(
                "dynamic child %s/%s failed to start: %s",
                self._path,
                record.id,
                describe_error(exc),
            )
            self._retire(record)
            cell.terminate(ActorState.FAILED)
        except BaseException:
            self._retire(record)
            cell.terminate(ActorState.STOPPED)
            raise
        finally:
            event = self._starting.pop(key, None)
            if event is not None:
                event.set()

    def _went_idle(self, cell: ActorCell) -> None:
        if self.passivate_after is None or self._children.get(cell.key) is None:
            return
        idle = self._idle
        idle[cell.key] = trio.current_time()
        idle.move_to_end(cell.key)
        wakeup = self._reaper_wakeup
        if wakeup is not None:
            self._reaper_wakeup = None
            wakeup.set()

    async def _reaper(self) -> None:
        """Passivate children idle for ``passivate_after`` seconds, oldest first."""
        assert self.passivate_after is not None
        idle = self._idle
        while True:
            if not idle:
                wakeup = self._reaper_wakeup = trio.Event()
                await wakeup.wait()
                continue
            key, since = next(iter(idle.items()))
            deadline = since + self.passivate_after
            if trio.current_time() < deadline:
                await trio.sleep_until(deadline)
                continue
            del idle[key]
            record = self._children.get(key)
            if record is not None and not self._stopping:
                await self._passivate(record)

    async def _make_room(self, for_key: Any) -> None:
        """Passivate the least recently idle child that is idle now, or raise TooManyChildren."""
        for _ in range(2):
            for key in list(itertools.islice(self._idle, 64)):
                record = self._children.get(key)
                if record is None or record.cell is None:
                    del self._idle[key]
                    continue
                if record.cell.is_idle():
                    del self._idle[key]
                    await self._passivate(record)
                    return
            # A runner that has just answered lingers for one scheduling round: let it end.
            await trio.lowlevel.checkpoint()
        raise TooManyChildren(
            self._path,
            f"holds {self.max_children} children (max_children), none idle; "
            f"cannot start {self._child_name(for_key)!r}",
        )

    def _evict_one_now(self) -> bool:
        """Start passivating the least recently idle child, for a sync caller; False if none."""
        if not self._idle or self._nursery is None:
            return False
        key = next(iter(self._idle))
        del self._idle[key]
        record = self._children.get(key)
        if record is None or record.cell is None or not record.cell.is_idle():
            return False
        # Leave the key's slot now so the caller fits; passivation finishes in the background.
        self._retire(record)
        self._passivating[key] = trio.Event()
        self._nursery.start_soon(self._passivate, record, True)
        return True

    async def _passivate(self, record: Child, already_retired: bool = False) -> None:
        """Stop an idle child, keep its snapshot, free its slot; the next message revives it."""
        cell = record.cell
        assert cell is not None
        key = record.key
        if not already_retired:
            if not cell.is_idle():
                return
            self._retire(record)
            self._passivating[key] = trio.Event()
        record.generation += 1
        record.running = False
        cell.mark(ActorState.PASSIVATED)
        actor = cell.actor
        try:
            snapshot = None
            timeout = record.spec.shutdown_timeout
            with trio.move_on_after(timeout if math.isfinite(timeout) else math.inf):
                if actor is not None:
                    snapshot = await actor.on_passivate()
            # Its tasks and services end with it (an MCP server's process, say).
            await cell.end_incarnation(timeout)
            with trio.move_on_after(timeout if math.isfinite(timeout) else math.inf):
                await self.snapshots.save(key, snapshot)
            self.passivations += 1
            logger.debug("passivated %s", cell.path)
            system = self._system
            if system is not None and system.observers:
                system.emit(Passivated(path=cell.path, at=trio.current_time()))
        except Exception as exc:
            logger.warning(
                "passivating %s failed: %s: %s; its state is lost",
                cell.path,
                type(exc).__name__,
                exc,
            )
        finally:
            done = self._passivating.pop(key, None)
            if done is not None:
                done.set()
        if key not in self._children:
            self._dormant[key] = cell
        if len(cell.mailbox) and cell.state is ActorState.PASSIVATED:
            self.reactivate(cell)  # a message came in while we were passivating
