"""The single writer: group commit, savepoints, durability, cancellation, on both engines.

A ``Gate`` write holds the writer thread until the test lets it go, so the writes queued
behind it are known to make one batch: no sleeps, no timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio
import trio.testing
from sqlalchemy import String, UniqueConstraint, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from clara.store import Database, PendingWrite, WriterStatistics, runs_together
from tests.store.gates import Gate, writer_held


class _Base(DeclarativeBase):
    pass


class Note(_Base):
    """A table of these tests' own: the writer runs any unit of work, whatever the schema."""

    __tablename__ = "writer_test_note"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="plain")


@pytest.fixture(autouse=True)
def notes_table(database: Database) -> Iterator[None]:
    _Base.metadata.create_all(database.engine)
    yield
    database.dispose()  # the writer first: it may hold a connection
    _Base.metadata.drop_all(database.engine)


@contextmanager
def counting_commits(database: Database) -> Iterator[list[int]]:
    commits: list[int] = []

    def count(connection: Any) -> None:
        commits.append(1)

    event.listen(database.engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(database.engine, "commit", count)


def add_note(session: Session, key: str) -> str:
    session.add(Note(key=key))
    session.flush()
    return key


def add_then_fail(session: Session, message_id: str) -> str:
    add_note(session, message_id)
    raise ValueError(message_id)


def stored_ids(database: Database) -> set[str]:
    """What another connection sees as committed."""
    with database.engine.connect() as connection:
        return set(connection.scalars(select(Note.key)))


@pytest.mark.trio
async def test_writes_queued_while_the_writer_is_busy_commit_as_one_transaction(
    database: Database,
) -> None:
    with counting_commits(database) as commits:
        async with trio.open_nursery() as nursery:
            with writer_held(database) as gate:
                await gate.wait_entered()
                for index in range(20):
                    nursery.start_soon(database.write, add_note, f"m{index}")
                await trio.testing.wait_all_tasks_blocked()
                assert database.write_statistics().queued == 20
        assert len(commits) == 2  # the gate's own transaction, then all twenty at once
    assert stored_ids(database) == {f"m{index}" for index in range(20)}
    statistics = database.write_statistics()
    assert statistics == WriterStatistics(transactions=2, writes=21, largest_batch=20, queued=0)


@pytest.mark.trio
async def test_a_batch_takes_at_most_write_batch_limit_writes(database: Database) -> None:
    limited = Database(database.engine, write_batch_limit=8)
    try:
        with counting_commits(limited) as commits:
            with writer_held(limited) as gate:
                await gate.wait_entered()
                pending = [limited.write_soon(add_note, f"m{index}") for index in range(20)]
            for each in pending:
                await each.result()
            assert len(commits) == 1 + 3  # 8 + 8 + 4
        assert limited.write_statistics().largest_batch == 8
    finally:
        limited.dispose()


@pytest.mark.trio
async def test_a_failing_write_rolls_back_alone_and_its_batch_mates_commit(
    database: Database,
) -> None:
    with counting_commits(database) as commits:
        with writer_held(database) as gate:
            await gate.wait_entered()
            first = database.write_soon(add_note, "first")
            failing = database.write_soon(add_then_fail, "failing")
            duplicate = database.write_soon(add_note, "first")  # fails at its flush
            last = database.write_soon(add_note, "last")
        assert await first.result() == "first"
        with pytest.raises(ValueError, match="failing"):
            await failing.result()
        with pytest.raises(IntegrityError):
            await duplicate.result()
        assert await last.result() == "last"
        assert len(commits) == 2
    assert stored_ids(database) == {"first", "last"}


@pytest.mark.trio
async def test_a_write_that_commits_or_rolls_back_its_session_fails_alone(
    database: Database,
) -> None:
    def add_and_commit(session: Session) -> None:
        add_note(session, "committed early")
        session.commit()

    def add_and_roll_back(session: Session) -> None:
        add_note(session, "rolled back early")
        session.rollback()

    with writer_held(database) as gate:
        await gate.wait_entered()
        before = database.write_soon(add_note, "before")
        committing = database.write_soon(add_and_commit)
        rolling_back = database.write_soon(add_and_roll_back)
        after = database.write_soon(add_note, "after")
    with pytest.raises(RuntimeError, match="must not commit its session"):
        await committing.result()
    with pytest.raises(RuntimeError, match="must not roll back its session"):
        await rolling_back.result()
    assert (await before.result(), await after.result()) == ("before", "after")
    assert stored_ids(database) == {"before", "after"}


@pytest.mark.trio
async def test_when_the_commit_fails_every_write_of_the_batch_gets_the_error_and_none_is_kept(
    database: Database,
) -> None:
    class CommitRefused(Exception):
        pass

    armed = threading.Event()

    def refuse_commit(connection: Any) -> None:
        if armed.is_set():
            armed.clear()
            raise CommitRefused

    def arm(session: Session) -> str:  # inside the batch: its commit, not the gate's, fails
        armed.set()
        return "armed"

    event.listen(database.engine, "commit", refuse_commit)
    try:
        with writer_held(database) as gate:
            await gate.wait_entered()
            pending = [database.write_soon(add_note, f"m{index}") for index in range(3)]
            pending.append(database.write_soon(add_then_fail, "failing"))
            pending.append(database.write_soon(arm))
        errors: list[type[BaseException]] = []
        for each in pending:
            with pytest.raises((CommitRefused, ValueError)) as caught:
                await each.result()
            errors.append(caught.type)
    finally:
        event.remove(database.engine, "commit", refuse_commit)
    assert errors == [CommitRefused] * 3 + [ValueError, CommitRefused]  # its own error kept
    assert stored_ids(database) == set()
    assert await database.write(add_note, "after") == "after"  # the writer goes on
    assert stored_ids(database) == {"after"}


@pytest.mark.trio
async def test_a_write_returns_only_once_another_connection_sees_it(database: Database) -> None:
    seen_before_commit: list[set[str]] = []

    def add_and_look_from_elsewhere(session: Session) -> str:
        add_note(session, "durable")
        seen_before_commit.append(stored_ids(database))
        return "durable"

    assert await database.write(add_and_look_from_elsewhere) == "durable"
    assert seen_before_commit == [set()]  # inside the transaction: not visible yet
    assert stored_ids(database) == {"durable"}  # returned: committed


@pytest.mark.trio
async def test_write_soon_queues_at_once_and_its_handle_is_awaited_later(
    database: Database,
) -> None:
    with writer_held(database) as gate:
        await gate.wait_entered()
        pending = database.write_soon(add_note, "soon")  # no await: sync trio code
        failing = database.write_soon(add_then_fail, "no")
        assert not pending.done
        assert database.write_statistics().queued == 2
    assert await pending.result() == "soon"
    assert pending.done
    assert await pending.result() == "soon"  # again: same answer, no waiting
    with pytest.raises(ValueError, match="no"):
        await failing.result()
    assert failing.done


@pytest.mark.trio
async def test_a_returned_orm_object_is_usable_after_the_session_closed(
    database: Database,
) -> None:
    def add(session: Session) -> Note:
        row = Note(key="orm", kind="first")
        session.add(row)
        return row

    def touch_the_same_row_and_fail(session: Session) -> None:
        row = session.scalars(select(Note)).one()
        row.kind = "changed"
        session.flush()
        raise ValueError("rolled back")

    with writer_held(database) as gate:
        await gate.wait_entered()
        added = database.write_soon(add)
        failing = database.write_soon(touch_the_same_row_and_fail)
    row = await added.result()
    with pytest.raises(ValueError, match="rolled back"):
        await failing.result()
    assert (row.key, row.kind) == ("orm", "first")  # not expired by the later rollback
    assert row.id is not None


@pytest.mark.trio
async def test_a_cancelled_waiter_loses_the_outcome_but_the_write_still_commits(
    database: Database,
) -> None:
    cancelled = False

    async def write_then_give_up(scope: trio.CancelScope) -> None:
        nonlocal cancelled
        with scope:
            await database.write(add_note, "abandoned")
        cancelled = scope.cancelled_caught

    with writer_held(database) as gate:
        await gate.wait_entered()
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()
            nursery.start_soon(write_then_give_up, scope)
            await trio.testing.wait_all_tasks_blocked()
            assert database.write_statistics().queued == 1
            scope.cancel()
    assert cancelled
    assert await database.write(add_note, "next") == "next"  # runs after, in order
    assert stored_ids(database) == {"abandoned", "next"}


@pytest.mark.trio
async def test_a_caller_cancelled_before_the_write_is_queued_writes_nothing(
    database: Database,
) -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        await database.write(add_note, "never")
    assert scope.cancelled_caught
    assert database.write_statistics().writes == 0
    await database.write(add_note, "later")
    assert stored_ids(database) == {"later"}


def test_one_writer_thread_serves_trio_runs_one_after_another(database: Database) -> None:
    threads: list[threading.Thread] = []

    def note_thread(session: Session, message_id: str) -> str:
        threads.append(threading.current_thread())
        return add_note(session, message_id)

    gate = Gate()

    async def first_run() -> PendingWrite[str]:
        database.write_soon(gate)
        await gate.wait_entered()
        # Queued in this run, committed after it has ended; a waiter cancelled with it.
        pending = database.write_soon(note_thread, "from the first run")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pending.result)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        return pending

    pending = trio.run(first_run)
    gate.release()

    async def second_run() -> None:
        assert await database.write(note_thread, "from the second run") == "from the second run"
        assert pending.done
        assert await pending.result() == "from the first run"  # awaited from another run

    trio.run(second_run)
    trio.run(database.write, note_thread, "from a third run")
    assert gate.thread is not None
    assert threads == [gate.thread] * 3
    assert stored_ids(database) == {"from the first run", "from the second run", "from a third run"}


def test_dispose_runs_what_is_queued_then_stops_the_writer_thread(database: Database) -> None:
    gate = Gate()
    database.write_soon(gate)
    gate.entered.wait()
    pending = database.write_soon(add_note, "queued before dispose")
    assert gate.thread is not None
    assert gate.thread.daemon  # never keeps the process alive
    gate.release()
    database.dispose()
    assert not gate.thread.is_alive()
    assert pending.done
    assert stored_ids(database) == {"queued before dispose"}

    second = Gate()
    second.release()
    trio.run(database.write, second)  # a write after dispose starts a new writer
    assert second.thread is not None
    assert second.thread is not gate.thread
    database.dispose()
    assert not second.thread.is_alive()


@pytest.mark.trio
async def test_units_of_work_and_writes_interleave_without_busy_errors(database: Database) -> None:
    """A unit of work from ``run`` that reads, then writes after the writer committed.

    The writer begins its transactions by hand; ``run``'s connections keep the driver's
    own transaction handling, so a read before the first write takes no snapshot that the
    writer's commit could make stale (which SQLite refuses at once, without waiting).
    """

    def read_then_write(session: Session) -> int:
        before = session.scalar(select(func.count()).select_from(Note)) or 0
        trio.from_thread.run(database.write, add_note, "from the writer")
        add_note(session, "from run")
        return before

    assert await database.run(read_then_write) == 0
    assert stored_ids(database) == {"from the writer", "from run"}
    with database.unit_of_work() as session:  # and a unit of work still rolls back
        session.add(Note(key="rolled back"))
        session.flush()
        session.rollback()
    assert "rolled back" not in stored_ids(database)


def test_a_batch_runs_plainly_and_again_in_savepoints_only_when_a_write_fails(
    database: Database,
) -> None:
    statements: list[str] = []

    def note(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()[:2]).upper())

    def fails(session: Session) -> None:
        raise ValueError("no")

    async def batch_with_a_failure() -> None:
        first = database.write_soon(add_note, "two")
        failing = database.write_soon(fails)
        await first.result()
        with pytest.raises(ValueError, match="no"):
            await failing.result()

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        trio.run(database.write, add_note, "one")
        plain = list(statements)
        statements.clear()
        trio.run(batch_with_a_failure)
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    # psycopg sends PostgreSQL's BEGIN itself, unseen by this event.
    begin = ["BEGIN IMMEDIATE"] if database.engine.dialect.name == "sqlite" else []
    assert plain == [*begin, "INSERT INTO"]
    # Tried plainly, rolled back, run again with the good write in a savepoint of its own.
    again = [*begin, "SAVEPOINT SA_SAVEPOINT_1", "INSERT INTO", "RELEASE SAVEPOINT"]
    assert statements == [*begin, "INSERT INTO", *again]


#: (keys) of each call of ``add_notes_together`` that ran as one.
together_runs: list[list[str]] = []


def _add_notes_many(
    session: Session, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
) -> list[str]:
    keys = [args[0] if args else kwargs["key"] for args, kwargs in calls]
    together_runs.append(keys)
    session.add_all(Note(key=key, kind="together") for key in keys)
    session.flush()
    return [f"{key} (together)" for key in keys]


@runs_together(_add_notes_many)
def add_notes_together(session: Session, key: str) -> str:
    session.add(Note(key=key, kind="alone"))
    session.flush()
    return f"{key} (alone)"


def kinds(database: Database) -> dict[str, str]:
    with database.engine.connect() as connection:
        return {key: kind for key, kind in connection.execute(select(Note.key, Note.kind))}


@pytest.mark.trio
async def test_the_calls_of_a_runs_together_write_in_a_batch_run_as_one_in_the_first_ones_place(
    database: Database,
) -> None:
    together_runs.clear()
    seen_between: list[int] = []

    def count_notes(session: Session) -> int:
        seen_between.append(session.scalar(select(func.count()).select_from(Note)) or 0)
        return seen_between[-1]

    with writer_held(database) as gate:
        await gate.wait_entered()
        first = database.write_soon(add_notes_together, "a")
        plain = database.write_soon(add_note, "plain")
        between = database.write_soon(count_notes)
        second = database.write_soon(add_notes_together, key="b")
    assert [await first.result(), await second.result()] == ["a (together)", "b (together)"]
    assert await plain.result() == "plain"
    # One call of the many-form for both, run where "a" was queued: the write queued
    # between them already sees "b".
    assert together_runs == [["a", "b"]]
    assert await between.result() == 3
    assert kinds(database) == {"a": "together", "b": "together", "plain": "plain"}


@pytest.mark.trio
async def test_a_runs_together_write_alone_in_its_batch_runs_as_itself(database: Database) -> None:
    together_runs.clear()
    assert await database.write(add_notes_together, "solo") == "solo (alone)"
    assert together_runs == []
    assert kinds(database) == {"solo": "alone"}


@pytest.mark.trio
async def test_when_the_many_form_fails_each_call_runs_alone_and_only_the_bad_one_fails(
    database: Database,
) -> None:
    together_runs.clear()
    await database.write(add_note, "taken")
    with writer_held(database) as gate:
        await gate.wait_entered()
        good = database.write_soon(add_notes_together, "good")
        taken = database.write_soon(add_notes_together, "taken")  # a duplicate key
        other = database.write_soon(add_note, "other")
    assert await good.result() == "good (alone)"
    with pytest.raises(IntegrityError):
        await taken.result()
    assert await other.result() == "other"
    assert together_runs == [["good", "taken"]]  # tried together once, then call by call
    assert kinds(database) == {"good": "alone", "taken": "plain", "other": "plain"}


def test_a_write_batch_limit_below_one_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="write_batch_limit: expected an integer >= 1, got 0"):
        Database(database.engine, write_batch_limit=0)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # pysqlite's handling only
def test_sqlite_connections_go_back_to_the_pool_with_the_drivers_own_transactions(
    database: Database,
) -> None:
    trio.run(database.write, add_note, "one")
    with database.engine.connect() as connection:
        assert connection.connection.driver_connection.isolation_level == ""
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
