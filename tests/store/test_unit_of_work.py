"""Units of work, pooling, dedup keys and query counts, on both engines."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from clara.store import (
    Database,
    claim_message,
    load_conversation,
    record_email_alert,
    record_proactive_message,
)
from clara.store.models import (
    Conversation,
    ConversationParticipant,
    EmailAccount,
    InboxMessage,
    Message,
    User,
)


def _user(session: object, name: str = "ada") -> User:
    user = User(platform="discord", platform_user_id=name, display_name=name)
    session.add(user)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return user


def test_a_unit_of_work_commits_on_success(database: Database) -> None:
    with database.unit_of_work() as session:
        _user(session)
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_a_unit_of_work_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), database.unit_of_work() as session:
        _user(session)
        raise RuntimeError("boom")
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_thousand_units_of_work_a_third_raising_leave_no_connection_out(
    database: Database,
) -> None:
    failures = 0
    for index in range(1000):
        try:
            with database.unit_of_work() as session:
                session.add(
                    InboxMessage(
                        platform="discord", message_id=str(index), channel_id="c1", state="answered"
                    )
                )
                if index % 3 == 0:
                    raise ValueError(index)
        except ValueError:
            failures += 1
    assert failures == 334
    assert database.checked_out() == 0
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 666
    assert database.checked_out() == 0


def test_booleans_and_timestamps_are_real(database: Database) -> None:
    with database.unit_of_work() as session:
        conversation = Conversation(platform="discord", channel_id="1", is_dm=True)
        session.add(conversation)
    with database.unit_of_work() as session:
        stored = session.scalars(select(Conversation)).one()
        assert stored.is_dm is True
        assert stored.created_at.tzinfo is not None
        assert abs(stored.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_inbound_messages_are_claimed_once(database: Database) -> None:
    with database.unit_of_work() as session:
        assert claim_message(session, "discord", "111", "c1", b"m") is None
        assert claim_message(session, "discord", "111", "c1", b"m") == "received"
        assert claim_message(session, "discord", "222", "c1", b"m") is None
        # another platform, another id space
        assert claim_message(session, "slack", "111", "c1", b"m") is None
    with database.unit_of_work() as session:
        # and after a "restart"
        assert claim_message(session, "discord", "111", "c1", b"m") == "received"
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.add(
            InboxMessage(platform="discord", message_id="111", channel_id="c1", state="answered")
        )


def test_one_alert_per_message_and_one_proactive_message_per_key(database: Database) -> None:
    with database.unit_of_work() as session:
        user = _user(session)
        account = EmailAccount(
            user_id=user.id,
            address="ada@example.test",
            imap_host="127.0.0.1",
            imap_port=143,
            username="ada",
            password_encrypted=b"x",
        )
        session.add(account)
        session.flush()
        alert = {"account_id": account.id, "subject": "hi", "sender": "bob@example.test"}
        assert record_email_alert(session, uidvalidity=7, uid=1, **alert)
        assert not record_email_alert(session, uidvalidity=7, uid=1, **alert)
        assert record_email_alert(session, uidvalidity=8, uid=1, **alert)  # mailbox recreated
        assert record_proactive_message(session, user.id, "ada:2026-11-25:checkin", "c1", "hi")
        assert not record_proactive_message(session, user.id, "ada:2026-11-25:checkin", "c1", "hi")


@pytest.mark.parametrize("messages", [3, 300])
def test_loading_a_conversation_takes_three_statements_whatever_its_length(
    database: Database, messages: int
) -> None:
    with database.unit_of_work() as session:
        users = [_user(session, f"u{index}") for index in range(4)]
        conversation = Conversation(platform="discord", channel_id="general")
        session.add(conversation)
        session.flush()
        for user in users:
            session.add(ConversationParticipant(conversation_id=conversation.id, user_id=user.id))
        for index in range(messages):
            session.add(
                Message(
                    conversation_id=conversation.id,
                    user_id=users[index % 4].id,
                    role="user",
                    content=f"message {index}",
                )
            )
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        with database.unit_of_work() as session:
            loaded = load_conversation(session, "discord", "general")
            assert loaded is not None
            assert len(loaded.messages) == messages
            assert {p.user.platform_user_id for p in loaded.participants} == {
                "u0",
                "u1",
                "u2",
                "u3",
            }
            assert loaded.messages[-1].content == f"message {messages - 1}"
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, selects


@pytest.mark.trio
async def test_trio_code_reaches_the_store_in_worker_threads_bounded_by_the_pool(
    database: Database,
) -> None:
    running = 0
    most = 0

    def slow_insert(session: object, index: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            import time  # noqa: PLC0415

            time.sleep(0.02)
            session.add(
                InboxMessage(
                    platform="discord", message_id=f"t{index}", channel_id="c1", state="answered"
                )
            )  # type: ignore[attr-defined]
            return index
        finally:
            running -= 1

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.001)
            ticks += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        async with trio.open_nursery() as workers:
            for index in range(20):
                workers.start_soon(database.run, slow_insert, index)
        nursery.cancel_scope.cancel()
    assert 1 < most <= 5  # parallel, and never more than the pool size
    assert ticks > 10  # the event loop kept running while threads waited on the database
    assert database.checked_out() == 0
    count = await database.run(
        lambda session: session.scalar(select(func.count()).select_from(InboxMessage))
    )
    assert count == 20


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    from sqlalchemy import text  # noqa: PLC0415

    from clara.store import make_engine  # noqa: PLC0415

    engine = make_engine(f"sqlite:///{Path(str(tmp_path)) / 'x.db'}", busy_timeout=2.5)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 2500
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_administrative_actions_are_audited(database: Database) -> None:
    from clara.store import audit  # noqa: PLC0415
    from clara.store.models import AuditLogEntry  # noqa: PLC0415

    with database.unit_of_work() as session:
        audit(
            session,
            actor="discord:42",
            action="mcp.install",
            target="npm:@modelcontextprotocol/server-everything",
            outcome="refused",
            details={"reason": "not an administrator"},
        )
    with database.unit_of_work() as session:
        [entry] = session.scalars(select(AuditLogEntry)).all()
        assert (entry.actor, entry.action, entry.outcome) == (
            "discord:42",
            "mcp.install",
            "refused",
        )
        assert entry.details == {"reason": "not an administrator"}
        assert entry.at.tzinfo is not None


def test_postgresql_cancels_a_runaway_statement(postgres_url: str) -> None:
    """A trio caller that gives up cannot cancel its worker thread's query: the server does."""
    import sqlalchemy  # noqa: PLC0415

    from clara.errors import StoreError  # noqa: PLC0415
    from clara.store import make_engine  # noqa: PLC0415

    engine = make_engine(postgres_url, pool_size=1, statement_timeout=0.2)
    try:
        with engine.connect() as connection:
            shown = connection.execute(sqlalchemy.text("SHOW statement_timeout")).scalar_one()
        assert shown == "200ms"
        database = Database(engine)
        with (
            pytest.raises((StoreError, sqlalchemy.exc.OperationalError), match="statement timeout"),
            database.unit_of_work() as session,
        ):
            session.execute(sqlalchemy.text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()
