"""The actor cell: one actor's mailbox, incarnation, runner and counters.

An idle actor holds no task. When a message arrives for a running actor with no runner, the
cell starts one (``_drain``) in its host nursery; the runner handles messages in order until
the mailbox is empty, then ends. That keeps an idle actor at the size of a few small objects
(see ``docs/architecture.md``), while a busy one costs one task start per burst.

The cell outlives incarnations: after a crash, the supervisor gives it a new ``Actor``
instance (``incarnate``), and refs, mailbox and counters carry on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import trio

from ...errors import ActorDeadError, MailboxFull
from .actor import Actor
from .ask import Ask
from .dead_letters import DeadLetterReason
from .events import Crashed, Started, Stopped
from .mailbox import Mailbox, Overflow
from .services import TASK_OWNER, ContextServices
from .statistics import (
    ActorState,
    ActorStatistics,
    BackoffSnapshot,
    Failure,
    now,
)

if TYPE_CHECKING:
    from .ref import ActorRef
    from .system import ActorSystem

__all__ = ["ActorCell", "CellOwner"]

logger = logging.getLogger(__name__)


#: A runner yields to the scheduler after this many messages in a row, so a busy actor
#: cannot starve the others; a sender yields after this many tells without waiting.
FAIRNESS_BATCH = 256

_RUNNING = ActorState.RUNNING

# The runner's attention flags (ActorCell._attention).
_STOP = 1  # context.stop() was called: end the incarnation after the current message
_CONTROL = 2  # the control lane has messages: take them before the ordinary lane
_ACCEPTING = frozenset(
    {ActorState.STARTING, ActorState.RUNNING, ActorState.BACKING_OFF, ActorState.PASSIVATED}
)


class CellOwner(Protocol):
    """The supervisor side of a cell: told when an incarnation ends or a ref asks to stop."""

    def child_exited(self, cell: ActorCell, error: BaseException | None) -> None:
        """The incarnation ended: ``error`` is its crash, or None for a normal exit."""

    async def stop_child(self, cell: ActorCell) -> None:
        """Someone called ``ref.stop()``: stop the child for good."""

    def reactivate(self, cell: ActorCell) -> None:
        """A message arrived for a passivated child: start it again."""


class ActorCell(ContextServices):
    """The runtime side of one actor. Actors see it as their ``ActorContext``.

    Args:
        path: the actor's path in the tree.
        system: the actor system it belongs to.
        mailbox: its bounded mailbox.
        owner: its supervisor, or None for a cell that nobody restarts.
        shutdown: seconds a graceful stop may take before the handler is cancelled.
    """

    __slots__ = (
        "__weakref__",
        "_actor",
        "_attention",
        "_backoff",
        "_current_ask",
        "_dead_lettered",
        "_failed",
        "_fast_tells",
        "_host",
        "_incarnation",
        "_last_failure",
        "_last_stats",
        "_processed",
        "_ref",
        "_restarts",
        "_runner_done",
        "_runner_scope",
        "_scheduled",
        "_state",
        "_stop_done",
        "dropped",
        "idle_hook",
        "key",
        "mailbox",
        "owner",
        "path",
        "shutdown",
        "started_at",
        "system",
    )

    def __init__(
        self,
        path: str,
        system: ActorSystem,
        mailbox: Mailbox,
        owner: CellOwner | None = None,
        shutdown: float = 5.0,
    ) -> None:
        self.path = path
        self.system = system
        self.mailbox = mailbox
        self.owner = owner
        self.shutdown = shutdown
        self.key: Any = None
        self.idle_hook: Callable[[ActorCell], None] | None = None
        self.started_at = 0.0
        self.dropped = 0
        self._actor: Actor | None = None
        self._state = ActorState.STARTING
        self._host: trio.Nursery | None = None
        self._scheduled = False
        # Why the runner must look up from the ordinary lane (_STOP, _CONTROL): one flag
        # checked per message, so the control lane costs the hot path nothing.
        self._attention = 0
        self._processed = 0
        self._failed = 0
        self._dead_lettered = 0
        self._current_ask: Ask | None = None
        # The last snapshot given out: statistics() returns it again while nothing changed.
        self._last_stats: ActorStatistics | None = None
        self._restarts = 0
        self._fast_tells = 0
        self._incarnation = 0
        self._last_failure: Failure | None = None
        self._backoff: BackoffSnapshot | None = None
        self._runner_scope: trio.CancelScope | None = None
        self._runner_done: trio.Event | None = None
        self._stop_done: trio.Event | None = None
        self._ref: ActorRef | None = None
        self._init_services()

    # -- what the actor sees (ActorContext) ------------------------------------------------

    @property
    def ref(self) -> ActorRef:
        ref = self._ref
        if ref is None:
            from .ref import ActorRef  # noqa: PLC0415 - the ref module imports this one

            ref = self._ref = ActorRef(self)
        return ref

    @property
    def incarnation(self) -> int:
        """Counts the incarnations started in this cell (timers belong to one)."""
        return self._incarnation

    @property
    def restarts(self) -> int:
        return self._restarts

    @property
    def state(self) -> ActorState:
        return self._state

    @property
    def actor(self) -> Actor | None:
        """The current incarnation (None before the first start)."""
        return self._actor

    def stop(self) -> None:
        self._attention |= _STOP
        if not self._scheduled and self._state is _RUNNING and self._host is not None:
            self._scheduled = True
            self._host.start_soon(self._drain, name=self.path)

    async def _fail_from_task(self, error: Exception) -> None:
        """A background task raised: the incarnation crashes, as if a handler had."""
        if self._state is not _RUNNING and self._state is not ActorState.STARTING:
            return
        logger.warning(
            "actor %s crashed in a background task: %s: %s",
            self.path,
            type(error).__name__,
            error,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        self._failed += 1
        self._tally(self.system.totals.failed, 1)
        self.note_failure(error)
        self._state = ActorState.BACKING_OFF  # the runner takes no further message
        if self._scheduled and self._runner_scope is not None:
            waiter = self._runner_done = self._runner_done or trio.Event()
            self._runner_scope.cancel()
            await waiter.wait()
        await self._end_incarnation(error)

    # -- sending ------------------------------------------------------------------------------

    def enqueue_nowait(self, message: Any) -> None:
        """Put a message in the mailbox now, or apply the overflow policy.

        Raises:
            ActorDeadError: the actor is stopped.
            MailboxFull: full under REJECT or BACKPRESSURE (``tell_nowait``), or an ask was
                dropped under DROP_NEWEST.
        """
        state = self._state
        if state not in _ACCEPTING:
            self._dead_letter(message, DeadLetterReason.ACTOR_STOPPED)
            raise ActorDeadError(self.path, f"actor is {state.value}; message not delivered")
        if state is ActorState.PASSIVATED and self.owner is not None:
            self.owner.reactivate(self)
        mailbox = self.mailbox
        queue = mailbox.queue
        if len(queue) >= mailbox.capacity:
            overflow = mailbox.overflow
            if overflow is Overflow.DROP_OLDEST:
                evicted = queue.popleft()
                self._drop(evicted, DeadLetterReason.DROPPED_OLDEST)
            elif overflow is Overflow.DROP_NEWEST:
                self._drop(message, DeadLetterReason.DROPPED_NEWEST)
                if type(message) is Ask:
                    raise MailboxFull(self.path, "mailbox full; the ask was dropped (drop_newest)")
                return
            else:
                if overflow is Overflow.REJECT:
                    self._drop(message, DeadLetterReason.REJECTED)
                raise MailboxFull(
                    self.path, f"mailbox full ({mailbox.capacity} messages, {overflow.value})"
                )
        queue.append(message)
        depth = len(queue)
        mailbox.peak = max(mailbox.peak, depth)
        if not self._scheduled and state is _RUNNING:
            self._schedule()

    async def enqueue(self, message: Any) -> None:
        """Like ``enqueue_nowait``, but under BACKPRESSURE wait for room instead of raising."""
        mailbox = self.mailbox
        while (
            mailbox.overflow is Overflow.BACKPRESSURE
            and mailbox.is_full()
            and self._state in _ACCEPTING
        ):
            await mailbox.space_available.park()
        self.enqueue_nowait(message)

    def tell_self(self, message: Any) -> None:
        """Put a message the actor sends itself in its control lane (see ``ActorContext``).

        Never raises and never waits: a full lane or an ended incarnation dead-letters it,
        and so does a report from a task of an earlier incarnation (one still finishing after
        a restart): the new incarnation never hears it.
        """
        state = self._state
        owner = TASK_OWNER.get()
        if (state is not _RUNNING and state is not ActorState.STARTING) or (
            owner is not None and owner[0] is self and owner[1] != self._incarnation
        ):
            self._dead_letter(message, DeadLetterReason.ACTOR_STOPPED)
            return
        control = self.mailbox.control
        if len(control) >= (control.maxlen or 0):
            self._drop(message, DeadLetterReason.CONTROL_LANE_FULL)
            return
        control.append(message)
        self._attention |= _CONTROL
        if not self._scheduled and state is _RUNNING:
            self._schedule()

    def alive(self) -> bool:
        """An incarnation is starting or running (timers and self-sent messages need one)."""
        state = self._state
        return state is _RUNNING or state is ActorState.STARTING

    def _schedule(self) -> None:
        host = self._host
        if host is None:
            return
        self._scheduled = True
        host.start_soon(self._drain, name=self.path)

    def _tally(self, table: dict[str, int], count: int) -> None:
        actor = self._actor
        kind = type(actor).__name__ if actor is not None else "Actor"
        table[kind] = table.get(kind, 0) + count

    def _drop(self, message: Any, reason: DeadLetterReason) -> None:
        self.dropped += 1
        self._dead_letter(message, reason)
        if type(message) is Ask:
            message.fail(MailboxFull(self.path, f"the ask was dropped ({reason.value})"))

    def _dead_letter(
        self, message: Any, reason: DeadLetterReason, error: BaseException | None = None
    ) -> None:
        payload = message.message if type(message) is Ask else message
        self._dead_lettered += 1
        self.system.dead_letters.record(self.path, payload, reason, error)

    # -- the runner ---------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Handle queued messages in order until the mailbox is empty, then end.

        On finding the mailbox empty the runner yields once before ending: a caller it has
        just answered often sends its next message right then, which this runner then
        handles instead of a new one being started (about a third of an ask's cost).
        """
        actor = self._actor
        assert actor is not None
        receive = actor.on_receive
        mailbox = self.mailbox
        queue = mailbox.queue
        handled = 0
        current: Any = None
        error: BaseException | None = None
        scope = self._runner_scope = trio.CancelScope()
        # A runner is started by whoever sent the first message of a burst, and inherits that
        # task's context: handlers are not background tasks of any incarnation.
        TASK_OWNER.set(None)
        try:
            with scope:
                lingered = False
                while self._state is _RUNNING:
                    attention = self._attention
                    if attention:  # rare: a stop was asked for, or the control lane has mail
                        if attention & _STOP:
                            break
                        control = mailbox._control
                        if not control:
                            self._attention = 0
                            continue
                        current = control.popleft()  # what the actor sent itself comes first
                        if not control:
                            self._attention = 0
                    elif queue:
                        current = queue.popleft()
                        if mailbox._space_available:
                            mailbox.wake_one_sender()
                    else:
                        if mailbox._control:  # the flag is a hint; the lane is the truth
                            self._attention |= _CONTROL
                            continue
                        if lingered:
                            break
                        lingered = True
                        await trio.lowlevel.checkpoint()
                        continue
                    lingered = False
                    try:
                        if type(current) is Ask:
                            self._current_ask = current
                            result = await receive(current.message)
                            self._current_ask = None
                            if not current.deferred:
                                current.reply(result)
                        else:
                            await receive(current)
                    except Exception as exc:
                        error = exc
                        break
                    current = None
                    handled += 1
                    self._processed += 1
                    if handled % FAIRNESS_BATCH == 0:
                        self._tally(self.system.totals.processed, FAIRNESS_BATCH)
                        handled = 0
                        await trio.lowlevel.checkpoint()
        finally:
            self._current_ask = None
            if handled:
                self._tally(self.system.totals.processed, handled)
            if current is not None and error is None and type(current) is Ask:
                # Cancelled mid-handler (stop timeout or the subtree was cancelled).
                current.fail(ActorDeadError(self.path, "actor stopped while handling the ask"))
            self._runner_scope = None
            self._scheduled = False
            done = self._runner_done
            if done is not None:
                self._runner_done = None
                done.set()
        if error is not None:
            await self._crash(current, error)
        elif self._attention & _STOP and self._state is _RUNNING:
            await self._end_incarnation(None)
        elif self._state is _RUNNING:
            if queue or mailbox._control:  # a message arrived as we yielded at the very end
                self._schedule()
            elif self.idle_hook is not None and not self._deferred:
                self.idle_hook(self)

    async def _crash(self, message: Any, error: BaseException) -> None:
        self._processed += 1
        self._failed += 1
        totals = self.system.totals
        self._tally(totals.processed, 1)
        self._tally(totals.failed, 1)
        self.note_failure(error)
        self._dead_letter(message, DeadLetterReason.CRASHED, error)
        if type(message) is Ask:
            message.fail(error)
        logger.warning(
            "actor %s crashed handling %s: %s: %s",
            self.path,
            type(message.message if type(message) is Ask else message).__name__,
            type(error).__name__,
            error,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        await self._end_incarnation(error)

    async def _end_incarnation(self, error: BaseException | None) -> None:
        """Run on_stop for the incarnation that just ended, then tell the owner."""
        if self._state is ActorState.STOPPING:
            return  # a stop is in progress: it runs on_stop and decides what comes next
        self._state = ActorState.BACKING_OFF if self.owner is not None else ActorState.FAILED
        self._attention &= ~_STOP
        await self._run_on_stop(self.shutdown)
        if self.owner is not None:
            self.owner.child_exited(self, error)
        else:
            self.terminate(ActorState.FAILED if error is not None else ActorState.STOPPED)

    async def end_incarnation(self, timeout: float) -> None:
        """End the incarnation without ending the cell (passivation): its background tasks
        are cancelled, its deferred replies failed, and its on_stop run (``timeout`` s)."""
        await self._run_on_stop(timeout)

    async def _run_on_drain(self, deadline: float) -> None:
        """Let the incarnation finish its work in flight (``Actor.on_drain``) until ``deadline``."""
        actor = self._actor
        if actor is None or type(actor).on_drain is Actor.on_drain:
            return
        with trio.move_on_at(deadline) as scope:
            try:
                await actor.on_drain()
            except Exception as exc:
                logger.warning(
                    "actor %s: on_drain raised %s: %s", self.path, type(exc).__name__, exc
                )
        if scope.cancelled_caught:
            logger.warning("actor %s: work in flight was cut off by the stop timeout", self.path)

    async def _run_on_stop(self, timeout: float) -> None:
        """End the incarnation's background tasks and deferred replies, then run its on_stop."""
        self._cancel_tasks()
        self._fail_deferred()
        actor = self._actor
        if actor is None or type(actor).on_stop is Actor.on_stop:
            return  # nothing to run: skip the cancel scope, which costs more than a restart
        with trio.move_on_after(timeout if math.isfinite(timeout) else math.inf) as scope:
            try:
                await actor.on_stop()
            except Exception as exc:
                logger.warning(
                    "actor %s: on_stop raised %s: %s", self.path, type(exc).__name__, exc
                )
        if scope.cancelled_caught:
            logger.warning("actor %s: on_stop did not finish within %ss", self.path, timeout)

    # -- life cycle, driven by the owner -----------------------------------------------------

    def attach(self, host: trio.Nursery) -> None:
        """Set the nursery runner tasks start in (the owner's)."""
        self._host = host

    async def incarnate(self, actor: Actor, snapshot: Any = None, restore: bool = False) -> None:
        """Start ``actor`` as this cell's incarnation: on_restore, on_start, then run.

        Raises:
            Exception: whatever on_restore/on_start raised (recorded as the last failure);
                the cell is then BACKING_OFF (with an owner) or FAILED.
        """
        if not isinstance(actor, Actor):
            raise TypeError(
                f"{self.path}: the child spec's start must return an Actor; "
                f"got {type(actor).__name__}"
            )
        if actor._actor_context_ is not None and actor._actor_context_ is not self:
            raise ValueError(f"{self.path}: this Actor instance already belongs to another cell")
        self._actor = actor
        actor._actor_context_ = self
        self._incarnation += 1
        self._state = ActorState.STARTING
        self._attention &= ~_STOP
        try:
            if restore:
                await actor.on_restore(snapshot)
            await actor.on_start()
        except Exception as exc:
            self._failed += 1
            self._tally(self.system.totals.failed, 1)
            self.note_failure(exc)
            self._state = ActorState.BACKING_OFF if self.owner is not None else ActorState.FAILED
            await self._run_on_stop(self.shutdown)
            raise
        self._state = _RUNNING
        self.started_at = now()
        self._backoff = None
        if self._attention or self.mailbox._queue:  # a stop, or messages are waiting
            self._schedule()
        system = self.system
        if system.observers:
            system.emit(Started(path=self.path, at=self.started_at, incarnation=self._incarnation))

    def note_failure(self, error: BaseException) -> None:
        """Remember ``error`` as the last failure and report the crash to observers."""
        self._last_failure = Failure(error)
        system = self.system
        if system.observers:
            system.emit(
                Crashed(
                    path=self.path,
                    at=self._last_failure.at,
                    error_type=type(error).__name__,
                    message=str(error),
                )
            )

    def note_restart(self, backoff: BackoffSnapshot | None) -> None:
        self._restarts += 1
        self._tally(self.system.totals.restarts, 1)
        self._backoff = backoff

    def set_backoff(self, backoff: BackoffSnapshot | None) -> None:
        self._backoff = backoff

    def mark(self, state: ActorState) -> None:
        self._state = state

    async def stop_gracefully(self, timeout: float | None = None, *, final: bool = True) -> None:
        """Stop the actor: let the running handler finish, then on_stop, all within ``timeout``.

        A handler still running at the deadline is cancelled (an ask it was handling gets
        ``ActorDeadError``). With ``final`` (the default) the actor is STOPPED for good: queued
        messages are dead-lettered and asks among them get ``ActorDeadError``. Without it (a
        sibling restarted by ONE_FOR_ALL / REST_FOR_ONE) only the incarnation ends: the
        mailbox keeps its messages for the next one.

        Idempotent: a second call waits for the first; a call on a stopped actor returns.
        """
        if self._stop_done is not None:
            await self._stop_done.wait()
            return
        if self._state in (ActorState.STOPPED, ActorState.FAILED):
            return
        if not final and self._state is not _RUNNING and self._state is not ActorState.STARTING:
            return  # no incarnation to end
        done = self._stop_done = trio.Event()
        budget = self.shutdown if timeout is None else timeout
        was_live = self._state in (_RUNNING, ActorState.STARTING)
        self._state = ActorState.STOPPING
        try:
            deadline = trio.current_time() + budget if math.isfinite(budget) else math.inf
            if self._scheduled:
                waiter = self._runner_done = self._runner_done or trio.Event()
                with trio.move_on_at(deadline):
                    await waiter.wait()
                if self._scheduled and self._runner_scope is not None:
                    logger.warning(
                        "actor %s: handler still running after %ss; cancelling it",
                        self.path,
                        budget,
                    )
                    self._runner_scope.cancel()
                    with trio.CancelScope(shield=True):
                        await waiter.wait()
            if final and was_live:
                await self._run_on_drain(deadline)
            if final:
                self._fail_queued("actor stopped")
            if was_live:
                remaining = deadline - trio.current_time()
                await self._run_on_stop(max(0.0, remaining))
        finally:
            if final:
                self.terminate(ActorState.STOPPED)
            else:
                self._state = ActorState.BACKING_OFF
            self._stop_done = None
            done.set()

    def terminate(self, state: ActorState = ActorState.STOPPED) -> None:
        """End the cell now, without on_stop: dead-letter the queue, release waiting senders.

        Used when a subtree is cancelled or a supervisor decides not to restart a child.
        """
        ended_before = self._state is ActorState.STOPPED or self._state is ActorState.FAILED
        self._state = state
        runner = self._runner_scope
        if runner is not None:
            runner.cancel()
        self._cancel_tasks()
        self._fail_deferred()
        self._fail_queued(f"actor {state.value}")
        self.mailbox.wake_all_senders()
        self._backoff = None
        system = self.system
        if system.observers and not ended_before:
            system.emit(Stopped(path=self.path, at=now()))

    def _fail_queued(self, why: str) -> None:
        for message in self.mailbox.drain():
            self.dropped += 1
            self._dead_letter(message, DeadLetterReason.ACTOR_STOPPED)
            if type(message) is Ask:
                message.fail(ActorDeadError(self.path, f"{why} before handling the ask"))
        self.mailbox.wake_all_senders()

    # -- passivation --------------------------------------------------------------------------

    def is_idle(self) -> bool:
        """Running with nothing queued or being handled, and no deferred reply still owed
        (so a DynamicSupervisor never passivates an actor in the middle of serving one)."""
        mailbox = self.mailbox
        return (
            self._state is _RUNNING
            and not self._scheduled
            and not mailbox._queue
            and not mailbox._control
            and not self._deferred
        )

    # -- introspection ------------------------------------------------------------------------

    def statistics(self) -> ActorStatistics:
        """A frozen snapshot; the same object again while nothing it shows has changed.

        Reusing the last snapshot keeps polling a large tree cheap (the status endpoint also
        reuses its encoding), at the cost of one reference per actor once it was looked at.
        """
        last = self._last_stats
        mailbox = self.mailbox
        actor = self._actor
        details = None
        if actor is not None and type(actor).describe is not Actor.describe:
            details = actor.describe()
            last = None  # what it describes may change without any counter moving
        if (
            last is not None
            and self._backoff is None  # its countdown changes with time
            and not self._scheduled  # a busy actor changes between any two looks
            and last.state is self._state
            and last.processed == self._processed
            and last.dead_letters == self._dead_lettered
            and last.failed == self._failed
            and last.restarts == self._restarts
            and last.mailbox.depth == mailbox.depth()
            and last.mailbox.control_depth == mailbox.control_depth()
            and last.mailbox.peak == mailbox.peak
            and last.mailbox.waiting_senders == mailbox.waiting_senders()
            and last.dropped == self.dropped
        ):
            return last
        stats = self._last_stats = ActorStatistics(
            path=self.path,
            kind=type(actor).__name__ if actor is not None else "Actor",
            state=self._state,
            mailbox=self.mailbox.statistics(),
            processed=self._processed,
            failed=self._failed,
            dropped=self.dropped,
            dead_letters=self._dead_lettered,
            restarts=self._restarts,
            last_failure=None if self._last_failure is None else self._last_failure.info(),
            backoff=None if self._backoff is None else self._backoff.at(now()),
            details=details,
        )
        return stats

    def __repr__(self) -> str:
        return f"<ActorCell {self.path} {self._state.value}>"
