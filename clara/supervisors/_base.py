"""What every supervisor does: own a nursery, decide restarts in one control loop, stop in order.

A supervisor runs one task (``_serve``) that owns a nursery. Its actor children have no task
of their own: their runners start in that nursery when they have messages. Nested
supervisors run their own ``_serve`` in it. Decisions (restart, escalate, stop) are made one
at a time by the control loop, fed by events: a child ended, a restart timer fired, a stop
was requested. The event queue is bounded by the number of children (at most one pending
exit and one pending timer per child, plus one stop).
"""

from __future__ import annotations

import abc
import heapq
import itertools
import logging
import math
import random
from collections import deque
from typing import TYPE_CHECKING, Any

import trio

from ..actors import (
    ActorCell,
    ActorRef,
    ActorState,
    ActorSystem,
    Mailbox,
)
from ..actors._core.events import BackingOff, Crashed, Escalated, Restarted, Started, Stopped
from ..actors._core.statistics import Failure
from ..errors import RestartIntensityExceeded, UnknownChild
from ._child import Child
from ._child import now_or_zero as _now
from ._spec import Backoff, Restart, RestartIntensity, Strategy
from ._views import TreeViews

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SupervisorBase"]

logger = logging.getLogger(__name__)

_EXITED = "exited"
_RESTART_DUE = "restart_due"
_STOP = "stop"


class SupervisorBase(TreeViews, abc.ABC):
    """The machinery shared by ``Supervisor`` and ``DynamicSupervisor``.

    Args:
        strategy: which children restart together.
        max_restarts: restarts allowed within ``max_seconds`` (default 3); one more and the
            supervisor fails, so its parent decides (escalation).
        max_seconds: the intensity window, seconds (default 5); a restart exactly
            ``max_seconds`` old still counts, as in OTP.
        backoff: the default restart backoff of its children.
        rng: the random source for backoff jitter (seed one for reproducible tests).
    """

    def __init__(
        self,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(strategy, Strategy):
            allowed = ", ".join(item.name for item in Strategy)
            raise ValueError(f"strategy must be a Strategy ({allowed}); got {strategy!r}")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff; got {type(backoff).__name__}")
        self.strategy = strategy
        self._intensity = RestartIntensity(max_restarts, max_seconds)
        self.backoff = backoff if backoff is not None else Backoff()
        self._rng = rng or random.Random()
        self._path = ""
        self._system: ActorSystem | None = None
        self._parent: SupervisorBase | None = None
        self._link_key = ""
        self._state = ActorState.STOPPED
        self._nursery: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None
        self._events: deque[tuple[Any, ...]] = deque()
        # Pending restarts: (time, order, group, generations), soonest first.
        self._timers: list[tuple[float, int, tuple[Child, ...], tuple[int, ...]]] = []
        self._timer_order = itertools.count()
        self._event_ready = trio.Event()
        self._done: trio.Event | None = None
        self._restarts = 0
        self._last_failure: Failure | None = None
        self._stopping = False
        self._runs = 0

    # -- what subclasses provide ------------------------------------------------------------

    @abc.abstractmethod
    def _records(self) -> Sequence[Child]:
        """The children, in start order."""

    @abc.abstractmethod
    def _find(self, key: Any) -> Child | None:
        """The child with ``key``, if there is one."""

    async def _start_initial(self) -> None:
        """Start the children that exist before the supervisor runs."""

    def _restart_group(self, record: Child) -> list[Child]:
        return [record]

    def _retire(self, record: Child) -> None:
        """Forget a child that ended for good (temporary, transient after a normal exit)."""

    def _make_actor(self, record: Child) -> Any:
        """A fresh incarnation for ``record``."""
        return record.spec.start()

    # -- public ---------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def state(self) -> ActorState:
        return self._state

    @property
    def system(self) -> ActorSystem:
        if self._system is None:
            raise RuntimeError(f"{type(self).__name__} is not started yet")
        return self._system

    async def run(
        self,
        system: ActorSystem | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run this supervisor as the root of a tree until ``stop()``.

        Use ``await nursery.start(root.run)`` to continue once every child has started.

        Raises:
            ChildStartError: a child failed to start; the ones started are stopped again.
            RestartIntensityExceeded: the root gave up after too many restarts; every child
                has been stopped.
        """
        system = system if system is not None else ActorSystem()
        system.root = self
        await self._serve(f"/{system.name}", system, None, "", task_status=task_status)

    async def stop(self) -> None:
        """Stop every child in reverse start order, each within its shutdown timeout.

        Returns once the supervisor has stopped; idempotent.
        """
        done = self._done
        if done is None or self._state in (ActorState.STOPPED, ActorState.FAILED):
            return
        if not self._stopping:
            self._stopping = True
            self._post((_STOP,))
        await done.wait()

    # -- CellOwner (what cells call) -------------------------------------------------------

    def child_exited(self, cell: ActorCell, error: BaseException | None) -> None:
        record = self._find(cell.key)
        if record is None or record.cell is not cell:
            return
        self._post((_EXITED, record, error, record.generation))

    async def stop_child(self, cell: ActorCell) -> None:
        record = self._find(cell.key)
        if record is None or record.cell is not cell:
            await cell.stop_gracefully()
            return
        if cell._runner_scope is not None and _current_task_is_runner(cell):
            raise RuntimeError(
                f"{cell.path}: an actor cannot await its own ref.stop(); "
                "call self.context.stop() instead"
            )
        record.generation += 1  # a pending restart of this child is now stale
        await cell.stop_gracefully(record.spec.shutdown_timeout)
        record.running = False
        record.attempt = 0
        record.next_start_at = None
        self._retire(record)

    def reactivate(self, cell: ActorCell) -> None:
        """Only dynamic supervisors passivate; see DynamicSupervisor."""

    # -- the supervisor's own life ----------------------------------------------------------------

    def _supervisor_exited(self, child: SupervisorBase, error: BaseException | None) -> None:
        record = self._find(child._link_key)
        if record is None or record.supervisor is not child:
            return
        self._post((_EXITED, record, error, record.generation))

    def _post(self, event: tuple[Any, ...]) -> None:
        self._events.append(event)
        self._event_ready.set()

    async def _serve(
        self,
        path: str,
        system: ActorSystem,
        parent: SupervisorBase | None,
        link_key: str,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        if self._done is not None:
            raise RuntimeError(f"{path}: this supervisor is already running")
        self._path, self._system, self._parent, self._link_key = path, system, parent, link_key
        self._state = ActorState.STARTING
        self._stopping = False
        self._events.clear()
        self._timers.clear()
        self._event_ready = trio.Event()
        self._intensity.reset()
        self._runs += 1
        done = self._done = trio.Event()
        failure: Exception | None = None
        start_error: Exception | None = None
        clean = False
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    if parent is None and not system.scheduler.serving:
                        await nursery.start(system.scheduler.serve)
                    try:
                        await self._start_initial()
                    except Exception as exc:
                        start_error = exc
                        if system.observers:
                            system.emit(
                                Crashed(
                                    path=path,
                                    at=_now(),
                                    error_type=type(exc).__name__,
                                    message=str(exc),
                                )
                            )
                    else:
                        self._state = ActorState.RUNNING
                        logger.info("supervisor %s started", path)
                        if system.observers:
                            system.emit(Started(path=path, at=_now(), incarnation=self._runs))
                        task_status.started()
                        try:
                            await self._control_loop()
                        except Exception as exc:  # escalation (or a bug): the supervisor fails
                            failure = exc
                            self._last_failure = Failure(exc)
                            logger.error("supervisor %s failed: %s", path, exc)
                            if system.observers:
                                system.emit(
                                    Escalated(
                                        path=path,
                                        at=_now(),
                                        child=getattr(exc, "child_id", ""),
                                        error_type=type(exc).__name__,
                                        message=str(exc),
                                    )
                                )
                            self._state = ActorState.STOPPING
                            await self._stop_all(final=parent is None)
                    nursery.cancel_scope.cancel()
            clean = start_error is None
        finally:
            self._nursery = None
            self._scope = None
            if not clean:  # cancelled from outside, or a start failure: nothing may linger
                self._terminate_all()
            failed = failure is not None or not clean
            self._state = ActorState.FAILED if failed else ActorState.STOPPED
            self._done = None
            done.set()
            if failure is None and start_error is None and system.observers:
                system.emit(Stopped(path=path, at=_now()))
        if start_error is not None:
            raise start_error
        if failure is None:
            logger.info("supervisor %s stopped", path)
            return
        if parent is None:
            raise failure
        parent._supervisor_exited(self, failure)

    async def _control_loop(self) -> None:
        events = self._events
        timers = self._timers
        while True:
            while not events:
                # Pending restarts are deadlines of this loop, not tasks of their own.
                if timers and timers[0][0] <= trio.current_time():
                    _, _, group, generations = heapq.heappop(timers)
                    events.append((_RESTART_DUE, group, generations))
                    break
                if timers:
                    with trio.move_on_at(timers[0][0]):
                        await self._event_ready.wait()
                else:
                    await self._event_ready.wait()
                if self._event_ready.is_set():
                    self._event_ready = trio.Event()
            event = events.popleft()
            kind = event[0]
            if kind == _STOP:
                self._state = ActorState.STOPPING
                await self._stop_all(final=True)
                return
            if kind == _EXITED:
                _, record, error, generation = event
                if generation == record.generation and record.running:
                    record.running = False
                    await self._on_exit(record, error)
            elif kind == _RESTART_DUE:
                _, group, generations = event
                live = [
                    record
                    for record, generation in zip(group, generations, strict=True)
                    if record.generation == generation and not record.running
                ]
                await self._start_group(live)

    def _should_restart(self, record: Child, error: BaseException | None) -> bool:
        restart = record.spec.restart
        if restart is Restart.PERMANENT:
            return True
        return restart is Restart.TRANSIENT and error is not None

    async def _on_exit(self, record: Child, error: BaseException | None) -> None:
        if error is not None and record.supervisor is not None:
            record.supervisor._last_failure = Failure(error)
        if self._stopping:
            return
        if not self._should_restart(record, error):
            logger.info(
                "child %s/%s ended (%s) and is not restarted (%s)",
                self._path,
                record.id,
                "crash" if error is not None else "normal exit",
                record.spec.restart.value,
            )
            self._finish(record, error)
            return
        now = _now()
        if not self._intensity.allow(now):
            raise RestartIntensityExceeded(
                self._path,
                record.id,
                self._intensity.max_restarts,
                self._intensity.max_seconds,
                error,
            )
        group = self._restart_group(record)
        # As in OTP, a temporary sibling is never restarted, not even with its group: it is
        # stopped (in the same reverse order as the others) and removed.
        temporary = [
            other
            for other in group
            if other is not record and other.spec.restart is Restart.TEMPORARY
        ]
        for other in reversed(group):
            if other is not record and other.running:
                await self._stop_child(other, final=other in temporary)
        if temporary:
            for other in temporary:
                other.attempt = 0
                other.next_start_at = None
                self._retire(other)
            group = [member for member in group if member not in temporary]
        backoff = record.backoff or self.backoff
        if record.started_at and now - record.started_at >= backoff.reset_after:
            record.attempt = 0
        record.attempt += 1
        delay = backoff.delay(record.attempt, self._rng)
        at = now + delay
        system = self._system
        for member in group:
            member.generation += 1
            if member is not record:
                member.attempt = max(member.attempt, 1)
            member.delay = delay
            member.next_start_at = at
            # A restart counts once it is decided, not once it is carried out: a child
            # backing off towards its first restart shows restarts 1 beside backoff attempt 1
            # (and its supervisor's restarts agree with restarts_in_window).
            member.restarts += 1
            self._restarts += 1
            if member.cell is not None:
                member.cell.mark(ActorState.BACKING_OFF)
                member.cell.note_restart(member.backoff_snapshot())
            if system is not None and system.observers:
                system.emit(
                    BackingOff(
                        path=self._child_path(member),
                        at=now,
                        attempt=member.attempt,
                        delay=delay,
                    )
                )
        logger.warning(
            "supervisor %s restarts %s in %.3fs (attempt %d)",
            self._path,
            ", ".join(member.id for member in group),
            delay,
            record.attempt,
        )
        generations = tuple(member.generation for member in group)
        if delay <= 0:
            await self._start_group([m for m in group if not m.running])
            return
        heapq.heappush(self._timers, (at, next(self._timer_order), tuple(group), generations))

    async def _start_group(self, group: list[Child]) -> None:
        for record in group:
            try:
                await self._start_child(record, restart=True)
            except Exception as exc:
                logger.warning(
                    "supervisor %s: restart of %s failed: %s: %s",
                    self._path,
                    record.id,
                    type(exc).__name__,
                    exc,
                )
                await self._on_exit(record, exc)
                return

    def _finish(self, record: Child, error: BaseException | None) -> None:
        """A child that will not be restarted: close it for good."""
        record.attempt = 0
        record.next_start_at = None
        if record.cell is not None:
            record.cell.terminate(ActorState.FAILED if error is not None else ActorState.STOPPED)
        elif record.supervisor is not None:
            record.supervisor._terminate_all()
        self._retire(record)

    # -- starting and stopping one child ---------------------------------------------------------

    def _new_cell(self, record: Child) -> ActorCell:
        assert self._system is not None
        spec = record.spec
        cell = ActorCell(
            f"{self._path}/{record.id}",
            self._system,
            Mailbox(spec.mailbox_capacity, spec.overflow, spec.control_capacity),
            owner=self,
            shutdown=spec.shutdown_timeout,
        )
        cell.key = record.key
        record.cell = cell
        return cell

    async def _start_child(
        self, record: Child, *, restart: bool, snapshot: Any = None, restore: bool = False
    ) -> None:
        """Start one child (a new incarnation). Raises whatever its start raised.

        ``restart`` says it is a restart, which ``_on_exit`` counted when it decided it;
        here it only tells observers (``Restarted``).
        """
        nursery = self._nursery
        assert nursery is not None and self._system is not None
        record.started_at = _now()
        if record.supervisor is not None:
            supervisor = record.supervisor
            await nursery.start(
                supervisor._serve,
                f"{self._path}/{record.id}",
                self._system,
                self,
                record.id,
            )
        else:
            cell = record.cell or self._new_cell(record)
            cell.path = f"{self._path}/{record.id}"
            cell.attach(nursery)
            try:
                actor = self._make_actor(record)
            except Exception as exc:
                cell.mark(ActorState.BACKING_OFF)
                cell.note_failure(exc)
                raise
            await cell.incarnate(actor, snapshot, restore)
        record.running = True
        record.next_start_at = None
        system = self._system
        if restart and system.observers:
            restarts = record.cell.restarts if record.cell is not None else record.restarts
            system.emit(Restarted(path=self._child_path(record), at=_now(), restarts=restarts))

    def _child_path(self, record: Child) -> str:
        return record.cell.path if record.cell is not None else f"{self._path}/{record.id}"

    async def _stop_child(self, record: Child, *, final: bool) -> None:
        """Stop one child within its shutdown timeout (then cancel it)."""
        record.generation += 1
        record.running = False
        timeout = record.spec.shutdown_timeout
        if record.cell is not None:
            await record.cell.stop_gracefully(timeout, final=final)
        elif record.supervisor is not None:
            supervisor = record.supervisor
            with trio.move_on_after(timeout if math.isfinite(timeout) else math.inf):
                await supervisor.stop()
            if supervisor._scope is not None:
                logger.warning(
                    "supervisor %s did not stop within %ss; cancelling it",
                    supervisor.path,
                    timeout,
                )
                supervisor._scope.cancel()
                done = supervisor._done
                if done is not None:
                    with trio.CancelScope(shield=True):
                        await done.wait()
            if final:
                supervisor._terminate_all()

    async def _stop_all(self, *, final: bool) -> None:
        for record in reversed(list(self._records())):
            if record.running or final:
                await self._stop_child(record, final=final)

    def _terminate_all(self) -> None:
        """End every child now, without on_stop (cancellation, or no restart is coming)."""
        for record in list(self._records()):
            record.running = False
            record.attempt = 0
            record.next_start_at = None
            if record.cell is not None and record.cell.state not in (
                ActorState.STOPPED,
                ActorState.FAILED,
            ):
                record.cell.terminate(ActorState.STOPPED)
            elif record.supervisor is not None:
                record.supervisor._terminate_all()

    # -- lookups ------------------------------------------------------------------------------

    def _record(self, key: Any) -> Child:
        record = self._find(key)
        if record is None:
            raise UnknownChild(self._path or type(self).__name__, f"no child {key!r}")
        return record

    def _ref_of(self, record: Child) -> ActorRef:
        if record.cell is None:
            if record.supervisor is not None:
                raise TypeError(f"child {record.id!r} is a supervisor, not an actor")
            raise RuntimeError(f"child {record.id!r} has not been started yet")
        return record.cell.ref

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._path or '(not started)'} {self._state.value}>"


def _current_task_is_runner(cell: ActorCell) -> bool:
    # A runner's task carries the cell's path as its name; cheap and good enough for a guard.
    try:
        return trio.lowlevel.current_task().name == cell.path
    except RuntimeError:
        return False
