"""The durable inbox's store functions, on SQLite and PostgreSQL (issue 12, item 1)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from clara.store import (
    Database,
    channels_with_open_messages,
    claim_message,
    finish_messages,
    known_messages,
    make_engine,
    note_piece,
    open_messages,
    prune_inbox,
    recent_channels,
    save_reply,
    start_replying,
    upgrade,
)
from clara.store.models import InboxMessage
from tests.store.gates import writer_held


def test_a_claim_is_the_dedup_key_and_tells_what_the_earlier_record_says(
    database: Database,
) -> None:
    with database.unit_of_work() as session:
        assert claim_message(session, "discord", "m1", "c1", b"payload") is None
        assert claim_message(session, "discord", "m1", "c1", b"again") == "received"
        assert claim_message(session, "slack", "m1", "c1", b"other platform") is None
        start_replying(session, "discord", ["m1"])
        assert claim_message(session, "discord", "m1", "c1", b"again") == "replying"
        finish_messages(session, "discord", ["m1"], "answered")
        assert claim_message(session, "discord", "m1", "c1", b"again") == "answered"


def test_a_reply_goes_received_replying_sending_answered_and_keeps_only_its_key(
    database: Database,
) -> None:
    with database.unit_of_work() as session:
        claim_message(session, "discord", "m1", "c1", b"payload")
        start_replying(session, "discord", ["m1"])
        start_replying(session, "discord", ["m1"])  # a second attempt after a crash
        save_reply(session, "discord", "m1", b"the reply")
        note_piece(session, "discord", "m1", 1, "p1")
        note_piece(session, "discord", "m1", 2, None)
        [entry] = open_messages(session, "discord", "c1")
        assert (entry.state, entry.attempts, entry.pieces_sent, entry.first_piece_id) == (
            "sending",
            2,
            2,
            "p1",
        )
        assert (entry.payload, entry.reply) == (b"payload", b"the reply")
        finish_messages(session, "discord", ["m1"], "answered")
        assert open_messages(session, "discord", "c1") == []
        row = session.scalars(select(InboxMessage)).one()
        assert (row.state, row.payload, row.reply) == ("answered", None, None)
        assert row.finished_at is not None


def test_a_finished_message_cannot_be_reopened_or_finished_again(database: Database) -> None:
    with database.unit_of_work() as session:
        claim_message(session, "discord", "m1", "c1", b"payload")
        finish_messages(session, "discord", ["m1"], "stopped")
        start_replying(session, "discord", ["m1"])
        save_reply(session, "discord", "m1", b"late")
        finish_messages(session, "discord", ["m1"], "answered")
        row = session.scalars(select(InboxMessage)).one()
        assert (row.state, row.reply, row.attempts) == ("stopped", None, 0)


def test_unknown_states_are_refused_with_the_allowed_ones_named(database: Database) -> None:
    with database.unit_of_work() as session, pytest.raises(ValueError, match="answered"):
        finish_messages(session, "discord", ["m1"], "done")
    with database.unit_of_work() as session, pytest.raises(ValueError, match="received"):
        claim_message(session, "discord", "m1", "c1", None, state="whatever")


def test_a_message_claimed_finished_keeps_no_text(database: Database) -> None:
    with database.unit_of_work() as session:
        assert claim_message(session, "discord", "m1", "c1", b"text", state="skipped") is None
        row = session.scalars(select(InboxMessage)).one()
        assert (row.state, row.payload) == ("skipped", None)


def test_open_messages_come_in_arrival_order_per_channel(database: Database) -> None:
    with database.unit_of_work() as session:
        for message_id, channel in [("9", "c2"), ("3", "c1"), ("7", "c2"), ("1", "c1")]:
            claim_message(session, "discord", message_id, channel, b"x")
        finish_messages(session, "discord", ["7"], "answered")
    with database.unit_of_work() as session:
        assert [e.message_id for e in open_messages(session, "discord", "c1")] == ["3", "1"]
        assert [e.message_id for e in open_messages(session, "discord", "c2")] == ["9"]
        assert channels_with_open_messages(session, "discord") == ["c2", "c1"]
        assert channels_with_open_messages(session, "console") == []


def test_known_messages_and_recent_channels_serve_the_catch_up(database: Database) -> None:
    with database.unit_of_work() as session:
        for message_id, channel in [("1", "c1"), ("2", "c2"), ("3", "c1"), ("4", "c3")]:
            claim_message(session, "discord", message_id, channel, b"x")
        session.execute(
            InboxMessage.__table__.update()
            .where(InboxMessage.message_id == "4")
            .values(received_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
        )
    with database.unit_of_work() as session:
        assert known_messages(session, "discord", ["1", "3", "5"]) == {"1", "3"}
        assert known_messages(session, "discord", []) == set()
        since = time.time() - 3600
        assert recent_channels(session, "discord", since, 10) == [("c1", "3"), ("c2", "2")]
        assert recent_channels(session, "discord", since, 1) == [("c1", "3")]


def test_pruning_forgets_only_old_finished_keys(database: Database) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with database.unit_of_work() as session:
        for message_id in ("old-done", "old-open", "new-done"):
            claim_message(session, "discord", message_id, "c1", b"x")
        finish_messages(session, "discord", ["old-done", "new-done"], "answered")
        session.execute(
            InboxMessage.__table__.update()
            .where(InboxMessage.message_id.in_(["old-done", "old-open"]))
            .values(finished_at=old, received_at=old)
        )
    with database.unit_of_work() as session:
        assert prune_inbox(session, dt.datetime.now(dt.UTC) - dt.timedelta(days=30)) == 1
        kept = set(session.scalars(select(InboxMessage.message_id)))
    assert kept == {"old-open", "new-done"}


def test_the_upgrade_keeps_every_key_handled_before_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO processed_messages (platform, message_id, processed_at) "
                "VALUES ('discord', '111', CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    database = Database(engine)
    try:
        with database.unit_of_work() as session:
            assert claim_message(session, "discord", "111", "c1", b"x") == "answered"
    finally:
        database.dispose()


@pytest.mark.trio
async def test_claims_queued_together_are_one_insert_and_answer_as_claims_one_by_one(
    database: Database,
) -> None:
    """A burst's claims run as one multi-row insert on the writer (``runs_together``), and
    each caller hears what a claim of its own would have said: new, or the earlier state,
    also for a key claimed twice in the same batch."""
    with database.unit_of_work() as session:
        claim_message(session, "discord", "old", "c1", b"x")
        finish_messages(session, "discord", ["old"], "answered")
    inserts: list[str] = []

    def note(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INBOX_MESSAGES"):
            inserts.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        with writer_held(database) as gate:
            await gate.wait_entered()
            claims = [
                database.write_soon(claim_message, "discord", "new", "c1", b"p", state="replying"),
                database.write_soon(claim_message, "discord", "old", "c1", b"p"),
                database.write_soon(claim_message, "discord", "new", "c1", b"again"),
                database.write_soon(claim_message, "slack", "new", "c9", b"p"),
                database.write_soon(claim_message, "discord", "late", "c2", b"p"),
            ]
        results = [await claim.result() for claim in claims]
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    assert results == [None, "answered", "replying", None, None]
    assert len(inserts) == 1
    with database.unit_of_work() as session:
        states = {
            (row.platform, row.message_id): (row.state, row.payload, row.attempts)
            for row in session.scalars(select(InboxMessage))
        }
    assert states == {
        ("discord", "old"): ("answered", None, 0),
        ("discord", "new"): ("replying", b"p", 1),  # the first claim's row, not the second's
        ("slack", "new"): ("received", b"p", 0),
        ("discord", "late"): ("received", b"p", 0),
    }


@pytest.mark.trio
async def test_a_bad_claim_in_a_burst_fails_alone(database: Database) -> None:
    with writer_held(database) as gate:
        await gate.wait_entered()
        good = database.write_soon(claim_message, "discord", "m1", "c1", b"p")
        bad = database.write_soon(claim_message, "discord", "m2", "c1", b"p", state="whatever")
        also_good = database.write_soon(claim_message, "discord", "m3", "c1", b"p")
    assert await good.result() is None
    with pytest.raises(ValueError, match="inbox state must be one of"):
        await bad.result()
    assert await also_good.result() is None
    with database.unit_of_work() as session:
        assert known_messages(session, "discord", ["m1", "m2", "m3"]) == {"m1", "m3"}
