"""The mailroom's tables (migration 0009) on SQLite and PostgreSQL: a message recorded once,
every step a compare-and-set, nothing sendable without an approval on record."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from clara.store import (
    Database,
    MailroomDraft,
    current_revision,
    decide_mailroom_message,
    ensure_mailroom_mailbox,
    finish_mailroom_send,
    known_mailroom_keys,
    load_mailroom_message,
    mailroom_counts,
    mark_mailroom_posted,
    note_mailroom_send_failure,
    note_mailroom_summary_failure,
    open_mailroom_messages,
    pending_mailroom_messages,
    record_mailroom_messages,
    save_mailroom_summary,
    start_mailroom_send,
    upgrade,
)
from clara.store._migrate import _config
from tests.email.test_store import engine, postgres_url  # noqa: F401 - fixtures

SEEN = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def draft(uid: int, *, skip: str | None = None, key: str | None = None) -> MailroomDraft:
    return MailroomDraft(
        uid=uid,
        message_key=key or f"<m{uid}@example.com>",
        sender="Bob <bob@example.com>",
        reply_to="bob@example.com",
        subject=f"subject {uid}",
        received_at=SEEN,
        message_id=f"<m{uid}@example.com>",
        references="",
        body=f"body {uid}",
        skip_reason=skip,
    )


@pytest.fixture
def database(engine: Engine) -> Database:  # noqa: F811 - the fixture
    upgrade(engine)
    return Database(engine)


def test_0009_adds_the_tables_and_goes_back_down(engine: Engine) -> None:  # noqa: F811
    upgrade(engine, "0008")
    upgrade(engine, "0009")
    assert current_revision(engine) == "0009"
    tables = set(inspect(engine).get_table_names())
    assert {"mailroom_mailboxes", "mailroom_messages"} <= tables
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    tables = set(inspect(engine).get_table_names())
    assert not {"mailroom_mailboxes", "mailroom_messages"} & tables
    assert "email_alerts" in tables


def test_a_message_is_recorded_once_and_the_watermark_moves_with_it(database: Database) -> None:
    with database.unit_of_work() as session:
        mailbox = ensure_mailroom_mailbox(session, "Clara@Test.local")
        assert ensure_mailroom_mailbox(session, "clara@test.local").id == mailbox.id
        recorded = record_mailroom_messages(
            session,
            mailbox.id,
            7,
            [draft(1), draft(2, skip="bulk mail (Precedence: bulk)")],
            last_uid=2,
            newest_seen=SEEN,
        )
        assert [(row.uid, row.state, row.body) for row in recorded] == [
            (1, "new", "body 1"),
            (2, "skipped", None),
        ]
        again = record_mailroom_messages(
            session, mailbox.id, 7, [draft(1)], last_uid=1, newest_seen=None
        )
        assert again == []
        now = ensure_mailroom_mailbox(session, "clara@test.local")
        assert (now.uidvalidity, now.last_uid, now.newest_seen_at) == (7, 2, SEEN)
        assert known_mailroom_keys(session, mailbox.id, ["<m1@example.com>", "<x@y>"]) == {
            "<m1@example.com>"
        }
        record_mailroom_messages(
            session,
            mailbox.id,
            8,
            [draft(1, key="<m9@example.com>")],
            last_uid=1,
            newest_seen=None,
            rebase=True,
        )
        assert ensure_mailroom_mailbox(session, "clara@test.local").last_uid == 1


def test_the_life_of_a_reply_is_a_chain_of_compare_and_set_steps(database: Database) -> None:
    with database.unit_of_work() as session:
        mailbox = ensure_mailroom_mailbox(session, "clara@test.local")
        [row] = record_mailroom_messages(
            session, mailbox.id, 7, [draft(1)], last_uid=1, newest_seen=None
        )
        # Nothing is sendable before an approval.
        assert start_mailroom_send(session, row.id) is None
        assert note_mailroom_summary_failure(session, row.id, "model down") == 1
        assert save_mailroom_summary(session, row.id, "Bob asks.", "Hi Bob")
        assert not save_mailroom_summary(session, row.id, "again", "again")
        summarised = load_mailroom_message(session, row.id)
        assert summarised is not None and summarised.body is None and summarised.attempts == 0
        assert mark_mailroom_posted(session, row.id, "post-1")
        assert [m.id for m in open_mailroom_messages(session, mailbox.id)] == []
        done, edited = decide_mailroom_message(
            session, row.id, "edit", "discord:42", draft="Hello Bob"
        )
        assert done and edited is not None and edited.draft == "Hello Bob"
        done, approved = decide_mailroom_message(
            session, row.id, "approve", "discord:42", message_id_domain="test.local"
        )
        assert done and approved is not None and approved.state == "approved"
        assert approved.decided_by == "discord:42" and approved.approvals == 1
        minted = approved.reply_message_id
        assert minted is not None and minted.startswith(f"<mailroom.{row.id}.")
        assert minted.endswith("@test.local>")
        # Too late to edit; a second approval changes nothing.
        assert not decide_mailroom_message(session, row.id, "edit", "x", draft="late")[0]
        assert not decide_mailroom_message(session, row.id, "approve", "x")[0]
        sending = start_mailroom_send(session, row.id)
        assert sending is not None and sending.state == "sending"
        assert sending.reply_message_id == minted
        # Resumed after a crash: still sendable, same Message-ID; not rejectable any more.
        resumed = start_mailroom_send(session, row.id)
        assert resumed is not None and resumed.reply_message_id == minted
        assert not decide_mailroom_message(session, row.id, "reject", "x")[0]
        assert finish_mailroom_send(session, row.id)
        assert start_mailroom_send(session, row.id) is None  # sent: never again
        assert mailroom_counts(session, mailbox.id) == {"sent": 1}


def test_failed_sends_retry_then_fail_and_a_new_approval_starts_over(database: Database) -> None:
    later = SEEN + dt.timedelta(seconds=30)
    with database.unit_of_work() as session:
        mailbox = ensure_mailroom_mailbox(session, "clara@test.local")
        [row] = record_mailroom_messages(
            session, mailbox.id, 7, [draft(1)], last_uid=1, newest_seen=None
        )
        save_mailroom_summary(session, row.id, "S", "Hi")
        decide_mailroom_message(session, row.id, "approve", "discord:42")
        first = load_mailroom_message(session, row.id)
        assert first is not None
        start_mailroom_send(session, row.id)
        state = note_mailroom_send_failure(session, row.id, "down", retry_at=later, max_attempts=2)
        assert state == ("approved", 1)
        retry = load_mailroom_message(session, row.id)
        assert retry is not None and retry.next_attempt_at == later
        start_mailroom_send(session, row.id)
        assert note_mailroom_send_failure(
            session, row.id, "down", retry_at=later, max_attempts=2
        ) == ("failed", 2)
        assert [m.state for m in pending_mailroom_messages(session)] == ["failed"]
        done, again = decide_mailroom_message(session, row.id, "approve", "discord:7")
        assert done and again is not None
        assert (again.state, again.attempts, again.approvals) == ("approved", 0, 2)
        assert again.reply_message_id == first.reply_message_id  # the same draft, same id
        start_mailroom_send(session, row.id)
        assert note_mailroom_send_failure(
            session, row.id, "550 no", retry_at=None, max_attempts=8
        ) == ("failed", 1)
        decide_mailroom_message(session, row.id, "edit", "discord:7", draft="Better")
        done, third = decide_mailroom_message(session, row.id, "approve", "discord:7")
        assert done and third is not None
        assert third.reply_message_id != first.reply_message_id  # a new draft, a new id


def test_rejected_or_skipped_mail_is_never_sendable(database: Database) -> None:
    with database.unit_of_work() as session:
        mailbox = ensure_mailroom_mailbox(session, "clara@test.local")
        rows = record_mailroom_messages(
            session, mailbox.id, 7, [draft(1), draft(2, skip="bulk")], last_uid=2, newest_seen=None
        )
        save_mailroom_summary(session, rows[0].id, "S", "Hi")
        decide_mailroom_message(session, rows[0].id, "approve", "discord:42")
        done, rejected = decide_mailroom_message(session, rows[0].id, "reject", "discord:42")
        assert done and rejected is not None and rejected.state == "rejected"
        assert start_mailroom_send(session, rows[0].id) is None
        assert not decide_mailroom_message(session, rows[0].id, "approve", "x")[0]
        assert not decide_mailroom_message(session, rows[1].id, "approve", "x")[0]
        assert start_mailroom_send(session, rows[1].id) is None
        with pytest.raises(ValueError, match="approve, reject or edit"):
            decide_mailroom_message(session, rows[1].id, "send", "x")
        assert decide_mailroom_message(session, 999, "approve", "x") == (False, None)
