"""Exchanges in the store: one reply and what it answered, and a burst of them stored as one
set of multi-row statements (``save_exchange`` on the writer), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from clara.store import (
    Database,
    Exchange,
    claim_message,
    known_messages,
    load_conversation,
    open_messages,
    recent_history,
    record_exchange,
    save_exchange,
)
from clara.store.models import InboxMessage, User
from tests.store.gates import writer_held


def exchange(channel: str, *turns: tuple[str, str, str], reply: str, **extra: Any) -> Exchange:
    return Exchange(
        platform=extra.pop("platform", "discord"),
        channel_id=channel,
        guild_id=extra.pop("guild_id", "g1"),
        is_dm=False,
        turns=[(user, name, text, f"{channel}-{text}") for user, name, text in turns],
        reply=reply,
        **extra,
    )


def history(database: Database, channel: str) -> list[tuple[str, str, str]]:
    with database.unit_of_work() as session:
        return [
            (entry.role, entry.name, entry.content)
            for entry in recent_history(session, "discord", channel, 50)
        ]


def test_an_exchange_keeps_what_people_said_and_the_reply_in_order(database: Database) -> None:
    with database.unit_of_work() as session:
        record_exchange(
            session,
            platform="discord",
            channel_id="c1",
            guild_id="g1",
            is_dm=False,
            turns=[("u1", "Ann", "hello", "m1"), ("u2", "Bo", "hi", "m2")],
            reply="hello both",
            reply_message_id="r1",
        )
        record_exchange(
            session,
            platform="discord",
            channel_id="c1",
            guild_id="g1",
            is_dm=False,
            turns=[("u1", "Annie", "again", "m3")],
            reply="yes?",
        )
    assert history(database, "c1") == [
        ("user", "Annie", "hello"),  # names are the person's current one
        ("user", "Bo", "hi"),
        ("assistant", "Clara", "hello both"),
        ("user", "Annie", "again"),
        ("assistant", "Clara", "yes?"),
    ]
    with database.unit_of_work() as session:
        conversation = load_conversation(session, "discord", "c1")
        assert conversation is not None
        assert (conversation.guild_id, conversation.is_dm) == ("g1", False)
        assert sorted(p.user.platform_user_id for p in conversation.participants) == ["u1", "u2"]
        assert [m.platform_message_id for m in conversation.messages] == [
            "m1", "m2", "r1", "m3", None,
        ]  # fmt: skip


@pytest.mark.trio
async def test_exchanges_queued_together_are_stored_as_one_by_one_with_a_few_statements(
    database: Database,
) -> None:
    with database.unit_of_work() as session:
        record_exchange(
            session, platform="discord", channel_id="old", guild_id="g1", is_dm=False,
            turns=[("u1", "Ann", "first", "m0")], reply="welcome",
        )  # fmt: skip
        for message_id, channel in (("a1", "old"), ("b1", "new"), ("b2", "new"), ("c1", "x")):
            claim_message(session, "discord", message_id, channel, b"p", state="replying")
    burst = [
        exchange("old", ("u1", "Ann", "a1"), reply="ra", answered=("a1",)),
        exchange("new", ("u2", "Bo", "b1"), ("u3", "Cy", "b2"), reply="rb", answered=("b1", "b2")),
        exchange("old", ("u1", "Annabel", "a2"), ("u4", "Di", "a3"), reply="ra2"),
        exchange("new", ("u2", "Bo", "b3"), reply="rb2"),
    ]
    statements: list[str] = []

    def note(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's, sent by hand
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        with writer_held(database) as gate:
            await gate.wait_entered()
            pending = [database.write_soon(save_exchange, each) for each in burst]
        for each in pending:
            assert await each.result() is None
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    # Per batch, not per exchange: find the conversations, touch them, make the new ones;
    # find the people, rename one, make the new ones; find and add participants; add the
    # messages; mark the answered.
    assert len(statements) <= 10, "\n".join(" ".join(s.split()[:4]) for s in statements)
    assert history(database, "old") == [
        ("user", "Annabel", "first"),
        ("assistant", "Clara", "welcome"),
        ("user", "Annabel", "a1"),
        ("assistant", "Clara", "ra"),
        ("user", "Annabel", "a2"),
        ("user", "Di", "a3"),
        ("assistant", "Clara", "ra2"),
    ]
    assert history(database, "new") == [
        ("user", "Bo", "b1"),
        ("user", "Cy", "b2"),
        ("assistant", "Clara", "rb"),
        ("user", "Bo", "b3"),
        ("assistant", "Clara", "rb2"),
    ]
    with database.unit_of_work() as session:
        states = {row.message_id: row.state for row in session.scalars(select(InboxMessage))}
        assert states == {"a1": "answered", "b1": "answered", "b2": "answered", "c1": "replying"}
        assert [entry.message_id for entry in open_messages(session, "discord", "x")] == ["c1"]
        people = {
            user.platform_user_id: user.display_name for user in session.scalars(select(User))
        }
        assert people == {"u1": "Annabel", "u2": "Bo", "u3": "Cy", "u4": "Di"}
        for channel, expected in (("old", ["u1", "u4"]), ("new", ["u2", "u3"])):
            conversation = load_conversation(session, "discord", channel)
            assert conversation is not None
            assert sorted(p.user.platform_user_id for p in conversation.participants) == expected


@pytest.mark.trio
async def test_an_exchange_that_cannot_be_stored_fails_alone_and_its_answers_stay_open(
    database: Database,
) -> None:
    with database.unit_of_work() as session:
        for message_id in ("m1", "m2", "m3"):
            claim_message(session, "discord", message_id, "c1", b"p", state="replying")
    with writer_held(database) as gate:
        await gate.wait_entered()
        good = database.write_soon(
            save_exchange, exchange("c1", ("u1", "Ann", "one"), reply="r1", answered=("m1",))
        )
        bad = database.write_soon(
            save_exchange,
            exchange("c1", ("u1", "Ann", "two"), reply=None, answered=("m2",)),  # type: ignore[arg-type]
        )
        later = database.write_soon(
            save_exchange, exchange("c1", ("u2", "Bo", "three"), reply="r3", answered=("m3",))
        )
    await good.result()
    with pytest.raises(IntegrityError):
        await bad.result()
    await later.result()
    assert history(database, "c1") == [
        ("user", "Ann", "one"),
        ("assistant", "Clara", "r1"),
        ("user", "Bo", "three"),
        ("assistant", "Clara", "r3"),
    ]
    with database.unit_of_work() as session:
        # Its message stays a promise: answered again after a restart, not lost.
        assert [entry.message_id for entry in open_messages(session, "discord", "c1")] == ["m2"]
        assert known_messages(session, "discord", ["m1", "m2", "m3"]) == {"m1", "m2", "m3"}
