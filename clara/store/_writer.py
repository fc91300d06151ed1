"""The single writer: one thread commits every queued write, many to a transaction.

Writers that each take a pooled connection queue on SQLite's one write lock (and on the
GIL, and on PostgreSQL's commit flush) one by one, paying a transaction per write. Here one
thread per ``Database`` takes whatever writes are queued, up to ``batch_limit`` of them, in
the order they came, and runs them in one transaction, each inside a SAVEPOINT of its own:
one write that raises rolls back only itself, and the COMMIT is paid once per batch (group
commit). A waiting caller hears back only after the COMMIT that holds its write, so an
answer is durable.

On SQLite the batch's transaction starts with ``BEGIN IMMEDIATE`` (see ``_sqlite_begin``),
begun by hand instead of by the driver, so that SAVEPOINTs nest inside it.

A write function marked with ``runs_together`` has a second form that does many of its
calls at once (one multi-row statement instead of a statement per call): the writer runs
all its calls in a batch through it, in the place of the first of them. A burst of a hundred
messages then costs a handful of statements, not a few hundred round trips.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Generic, TypeAlias, TypeVar, cast

import msgspec
import trio
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction

from ._health import StoreHealth, as_unavailable, describe

__all__ = ["DEFAULT_BATCH_LIMIT", "PendingWrite", "WriterStatistics", "runs_together"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Writes one transaction takes at most: a bound on how long the last of them waits for
#: the ones ahead of it.
DEFAULT_BATCH_LIMIT = 64

#: What one write came to: (value, None) or (None, error).
_Outcome: TypeAlias = tuple[Any, BaseException | None]

#: The execution option that makes ``_sqlite_begin`` start a transaction, and how.
_BEGIN_OPTION = "clara_sqlite_begin"

#: The attribute ``runs_together`` puts the many-calls form of a write function under.
_MANY = "__clara_runs_together__"
#: The arguments of one call of a write function: (positional, keyword), session left out.
Call: TypeAlias = tuple[tuple[Any, ...], dict[str, Any]]
#: The many-calls form: ``many(session, calls)`` returns one value per call, in order.
ManyCalls: TypeAlias = Callable[[Session, list[Call]], list[Any]]

F = TypeVar("F", bound=Callable[..., Any])


def runs_together(many: ManyCalls) -> Callable[[F], F]:
    """Mark a write function as one whose calls in a batch the writer runs as ``many``.

    ``many(session, calls)`` gets every call of the function in the batch, in queue order,
    as ``(args, kwargs)`` without the session, and returns one value per call (what the
    function would have returned). It runs in the place of the first of those calls, so
    the later ones pass the writes queued between them: the function must commute with
    every write it may pass (insert rows nobody wrote before it, or update rows only in
    states those writes cannot reach). If ``many`` raises, the batch is run again with each
    call made alone, so a failing call fails only its own caller.

    The function itself stays a plain write; it is what runs outside the writer, alone in
    a batch, and in that retry.
    """

    def mark(function: F) -> F:
        setattr(function, _MANY, many)
        return function

    return mark


class WriterStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """What the writer has done since it started (all zero before the first write).

    Attributes:
        transactions: batches run, committed or not; ``writes / transactions`` is the
            mean batch size.
        writes: writes run (each in its own savepoint), whatever their outcome.
        largest_batch: the most writes one transaction held.
        queued: writes waiting for the writer now.
    """

    transactions: int = 0
    writes: int = 0
    largest_batch: int = 0
    queued: int = 0


class PendingWrite(Generic[T]):
    """A write handed to the writer; ``await result()`` for what its function returned.

    ``Database.write_soon`` makes these. The write runs whether or not anyone awaits the
    handle: awaiting only collects its outcome, and may happen later, more than once, or
    from another trio run than the one that queued it.
    """

    __slots__ = (
        "_args",
        "_error",
        "_finished",
        "_function",
        "_kwargs",
        "_lock",
        "_traceback",
        "_value",
        "_waiters",
    )

    def __init__(
        self,
        function: Callable[..., T],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._function = function
        self._args = args
        self._kwargs = kwargs or {}
        # Guards the outcome against a waiter arriving while the writer settles it.
        self._lock = threading.Lock()
        self._finished = False
        self._value: T | None = None
        self._error: BaseException | None = None
        self._traceback: TracebackType | None = None
        self._waiters: list[tuple[trio.lowlevel.TrioToken, trio.Event]] = []

    @classmethod
    def completed(cls, value: T) -> PendingWrite[T]:
        """A handle whose write is already committed with ``value`` (for inline fakes)."""
        pending = cls(_never_called)
        pending._settle(value, None)
        return pending

    @classmethod
    def failed(cls, error: BaseException) -> PendingWrite[T]:
        """A handle whose write already failed with ``error`` (for inline fakes)."""
        pending: PendingWrite[T] = cls(_never_called)
        pending._settle(None, error)
        return pending

    @property
    def done(self) -> bool:
        """True once the write is committed or has failed: ``result()`` will not wait."""
        return self._finished

    def result_now(self) -> T:
        """The outcome of a write that is ``done``, without waiting.

        Raises:
            RuntimeError: the write is not done yet.
            Exception: what the write raised, as ``result()`` would.
        """
        with self._lock:
            if not self._finished:
                raise RuntimeError("the write is not done yet; await result() instead")
        if self._error is not None:
            raise self._error.with_traceback(self._traceback)
        return cast(T, self._value)

    async def result(self) -> T:
        """What the write's function returned, once the transaction holding it committed.

        Returns:
            The function's return value; ORM objects in it are detached, with the
            attributes they had loaded.

        Raises:
            Exception: what the function raised (its savepoint was rolled back and the other
                writes of its batch went on), or what failed the whole batch: the BEGIN,
                the connection, or the COMMIT.
            trio.Cancelled: the wait was cancelled. The write itself is not: it still runs
                and commits (or fails) as if awaited; this wait's outcome is dropped.
        """
        waiter: tuple[trio.lowlevel.TrioToken, trio.Event] | None = None
        with self._lock:
            if not self._finished:
                waiter = (trio.lowlevel.current_trio_token(), trio.Event())
                self._waiters.append(waiter)
        if waiter is None:
            await trio.lowlevel.checkpoint()
        else:
            try:
                await waiter[1].wait()
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        if self._error is not None:
            # Each waiter raises with the writer's traceback and its own frames on top,
            # not those of every earlier waiter of a shared (batch) error.
            raise self._error.with_traceback(self._traceback)
        return cast(T, self._value)

    def _run(self, session: Session) -> T:
        return self._function(session, *self._args, **self._kwargs)

    def _settle(
        self, value: T | None, error: BaseException | None
    ) -> list[tuple[trio.lowlevel.TrioToken, trio.Event]]:
        """Record the outcome; return the waiters to wake (in their own trio threads)."""
        with self._lock:
            self._value = value
            self._error = error
            self._traceback = None if error is None else error.__traceback__
            self._finished = True
            waiters, self._waiters = self._waiters, []
        # A handle may be kept long after its write (to await later): not its arguments.
        self._args, self._kwargs = (), {}
        return waiters

    def __repr__(self) -> str:
        name = getattr(self._function, "__qualname__", repr(self._function))
        state = "pending" if not self._finished else "done" if self._error is None else "failed"
        return f"<PendingWrite {name} {state}>"


def _never_called(session: Session) -> Any:
    raise AssertionError("a completed PendingWrite has no function to run")


class Writer:
    """The writer thread of one ``Database``: a queue, and batches run from it in order.

    Starts its (daemon) thread at once; ``stop()`` runs what is queued, then joins it.

    Args:
        engine: the ``Database``'s engine; a batch takes one of its pooled connections for
            the length of its transaction.
        batch_limit: writes one transaction takes at most (at least 1).
    """

    def __init__(
        self,
        engine: Engine,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        health: StoreHealth | None = None,
    ) -> None:
        if batch_limit < 1:
            raise ValueError(f"batch_limit: expected an integer >= 1, got {batch_limit!r}")
        self._engine = engine
        self._batch_limit = batch_limit
        self._health = health or StoreHealth()
        self._sqlite = engine.dialect.name == "sqlite"
        prepare_engine(engine)
        self._condition = threading.Condition()
        self._queue: deque[PendingWrite[Any]] = deque()
        self._stopping = False
        self._transactions = 0
        self._writes = 0
        self._largest_batch = 0
        self._thread = threading.Thread(target=self._loop, name="clara-store-writer", daemon=True)
        self._thread.start()

    def submit(self, pending: PendingWrite[Any]) -> None:
        """Queue a write behind those already queued; never blocks on the database."""
        with self._condition:
            if self._stopping:
                raise RuntimeError("the store's writer is stopping; no new writes")
            self._queue.append(pending)
            self._condition.notify()

    def stop(self) -> None:
        """Run every write already queued, then end the thread and wait for it."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def statistics(self) -> WriterStatistics:
        return WriterStatistics(
            transactions=self._transactions,
            writes=self._writes,
            largest_batch=self._largest_batch,
            queued=len(self._queue),
        )

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    self._condition.wait()
                if not self._queue:  # stopping, and nothing left to run
                    return
                count = min(len(self._queue), self._batch_limit)
                batch = [self._queue.popleft() for _ in range(count)]
            self._run_batch(batch)

    def _run_batch(self, batch: list[PendingWrite[Any]]) -> None:
        """One transaction: each write in a savepoint, one COMMIT, then the waiters woken."""
        outcomes: list[_Outcome] = []
        try:
            self._commit(batch, outcomes)
        except BaseException as failure:
            # The driver's first line, not its repr: that holds the statement's parameters,
            # which are what people said.
            logger.warning(
                "store writer: a transaction of %d writes failed: %s: %s",
                len(batch),
                type(failure).__name__,
                describe(failure),
            )
            # A write that failed on its own keeps its own error; the others get the batch's.
            # An unreachable database is Clara's StoreUnavailable to every one of them.
            failure = as_unavailable(failure)
            outcomes = [
                (None, failure if error is None else as_unavailable(error)) for _, error in outcomes
            ]
            outcomes += [(None, failure)] * (len(batch) - len(outcomes))
            self._health.failed(failure)
        else:
            self._health.ok()
        self._transactions += 1
        self._writes += len(batch)
        self._largest_batch = max(self._largest_batch, len(batch))
        _wake(
            waiter
            for pending, (value, error) in zip(batch, outcomes, strict=True)
            for waiter in pending._settle(value, error)
        )

    def _commit(self, batch: list[PendingWrite[Any]], outcomes: list[_Outcome]) -> None:
        """Run ``batch`` in one transaction and commit it, appending each write's outcome.

        Raises:
            BaseException: what failed the transaction as a whole (the connection, BEGIN,
                COMMIT, or a write that ended the transaction): nothing of it committed.
        """
        with self._engine.connect() as connection:
            if self._sqlite:
                # pysqlite's AUTOCOMMIT is its isolation_level=None: the driver stops
                # beginning transactions itself (it would begin one only before the first
                # INSERT, after a SAVEPOINT that then commits on its own), and
                # _sqlite_begin begins ours. The pool restores the driver's default when the
                # connection goes back, so units of work from ``Database.run`` keep it.
                connection.execution_options(
                    isolation_level="AUTOCOMMIT", **{_BEGIN_OPTION: "BEGIN IMMEDIATE"}
                )
            try:
                with _WriterSession(bind=connection, expire_on_commit=False) as session:
                    transaction = session.begin()
                    session.connection()  # BEGIN now: if it fails, the batch fails
                    if _run_plainly(session, batch, outcomes):
                        transaction.commit()
                        return
                    # A write failed: undo the batch and run it again, each write in a
                    # savepoint of its own, so only the failing one fails.
                    transaction.rollback()
                    outcomes.clear()
                    transaction = session.begin()
                    session.connection()
                    _run_each(session, transaction, batch, outcomes)
                    transaction.commit()
            except BaseException:
                # A failed COMMIT can leave the driver's transaction open (SQLite keeps it
                # after SQLITE_BUSY, to be retried), and SQLAlchemy, taking it for ended,
                # would not roll it back on return to the pool: the next user would write
                # into it. Closing the connection ends it, whatever its state.
                connection.invalidate()
                raise


class _WriterSession(Session):
    """The writer's session: a write may not commit or roll back the batch's transaction.

    In SQLAlchemy 2 ``Session.commit()`` inside a savepoint commits the outermost
    transaction, so a write committing "its" session would commit the writes before it
    early and leave the rest without a transaction; ``rollback()`` would undo them all.
    Either raises here instead, as the write's own error.
    """

    in_write = False

    def commit(self) -> None:
        if self.in_write:
            raise RuntimeError("a write must not commit its session: the writer commits it")
        super().commit()

    def rollback(self) -> None:
        if self.in_write:
            raise RuntimeError("a write must not roll back its session: raise instead")
        super().rollback()


def _run_plainly(
    session: _WriterSession, batch: list[PendingWrite[Any]], outcomes: list[_Outcome]
) -> bool:
    """Run the batch's writes in order without savepoints (each costs a round trip and a
    third of a millisecond), appending their outcomes; False at the first that raises (the
    caller rolls back and runs the batch again, each write in a savepoint). So a write may
    run twice when a batch-mate fails: what it does must live in the session alone.

    The calls of a ``runs_together`` function run as one, in the place of the first.
    """
    groups = _groups(batch)
    values: list[Any] = [_NOT_RUN] * len(batch)
    for index, pending in enumerate(batch):
        if values[index] is not _NOT_RUN:  # ran with the first of its group
            continue
        group = groups.get(pending._function) if groups else None
        session.in_write = True
        try:
            if group is None:
                values[index] = pending._run(session)
            else:
                many: ManyCalls = getattr(pending._function, _MANY)
                results = many(session, [(batch[i]._args, batch[i]._kwargs) for i in group])
                # A wrong count raises here (strict), and the batch is run call by call.
                for member, value in zip(group, results, strict=True):
                    values[member] = value
            session.flush()  # its inserts now: an error is this write's, not the commit's
        except Exception:
            return False
        finally:
            session.in_write = False
            session.expunge_all()
    outcomes.extend((value, None) for value in values)
    return True


#: A batch slot whose write has not run yet.
_NOT_RUN: Any = object()


def _groups(batch: list[PendingWrite[Any]]) -> dict[Callable[..., Any], list[int]]:
    """The batch positions of each ``runs_together`` function called more than once."""
    positions: dict[Callable[..., Any], list[int]] = {}
    for index, pending in enumerate(batch):
        if hasattr(pending._function, _MANY):
            positions.setdefault(pending._function, []).append(index)
    return {function: group for function, group in positions.items() if len(group) > 1}


def _run_each(
    session: _WriterSession,
    transaction: SessionTransaction,
    batch: list[PendingWrite[Any]],
    outcomes: list[_Outcome],
) -> None:
    """Run the batch's writes in order, each in its savepoint, appending their outcomes.

    Raises:
        BaseException: the transaction ended under a write (its connection broke): the rest
            cannot go on.
    """
    for pending in batch:
        value, error = _run_in_savepoint(session, pending)
        outcomes.append((value, error))
        if not transaction.is_active:
            raise error or RuntimeError("the writer's transaction ended under a write")


def _run_in_savepoint(session: _WriterSession, pending: PendingWrite[Any]) -> _Outcome:
    """Run one write in a savepoint of the batch's transaction: (value, None) or (None, error)."""
    try:
        with session.begin_nested():
            session.in_write = True
            try:
                value = pending._run(session)
            finally:
                session.in_write = False
    except BaseException as error:  # the write's caller gets it, whatever it is
        return None, error
    finally:
        # The next write starts from an empty identity map, as in a session of its own,
        # and a later savepoint's rollback cannot expire objects this write returned.
        session.expunge_all()
    return value, None


def _wake(waiters: Iterable[tuple[trio.lowlevel.TrioToken, trio.Event]]) -> None:
    """Set each waiter's event in its own trio run, one hop per run for the whole batch."""
    by_run: dict[trio.lowlevel.TrioToken, list[trio.Event]] = {}
    for token, event_to_set in waiters:
        by_run.setdefault(token, []).append(event_to_set)
    for token, events in by_run.items():
        # A run that has ended (its waiters were cancelled with it, just as the batch
        # finished) has nobody left to wake; the outcome stays on the handle.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(_set_all, events)


def _set_all(events: list[trio.Event]) -> None:
    for event_to_set in events:
        event_to_set.set()


def prepare_engine(engine: Engine) -> None:
    """Let the writer begin its SQLite transactions itself (``_sqlite_begin``); idempotent.

    ``Database`` calls this when it is made, before threads use the engine: SQLAlchemy's
    event registry is not meant to change under concurrent use.
    """
    if engine.dialect.name == "sqlite" and not event.contains(engine, "begin", _sqlite_begin):
        event.listen(engine, "begin", _sqlite_begin)


def _sqlite_begin(connection: Connection) -> None:
    """Begin the writer's SQLite transactions by hand, with ``BEGIN IMMEDIATE``.

    IMMEDIATE takes the write lock at BEGIN, waiting for it under the busy timeout. A plain
    (deferred) BEGIN would start with a read snapshot and ask for the lock at the first
    INSERT; if any other connection (a ``Database.run`` unit) committed in between, SQLite
    refuses at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: waiting cannot help a
    stale snapshot, so the busy timeout is not used) and the whole batch would fail. WAL
    readers are not blocked by the lock; other writers wait for it, as they would anyway.
    """
    statement = connection.get_execution_options().get(_BEGIN_OPTION)
    if statement is not None:
        connection.exec_driver_sql(statement)
