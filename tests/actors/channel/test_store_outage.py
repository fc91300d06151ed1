"""A channel through a store outage (issue 13, item 5): it neither crashes nor drops what
it was asked. Started while the store is down, it holds messages (in order) and answers
them once the store is back; running when the store goes down, it answers without a
record. The real thing, a PostgreSQL cluster stopped mid-conversation, is
``tests/test_store_outage.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import pytest
import trio
import trio.testing
from sqlalchemy.orm import Session

from clara.errors import StoreUnavailable
from clara.store import Database, PendingWrite, known_messages
from clara.testing import Reply, incoming
from tests.actors.channel.test_with_fakes import channel

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
P = ParamSpec("P")
T = TypeVar("T")


def flaky(database: Database) -> Any:
    """``database`` with a switch: while ``down`` every unit of work and write fails as an
    unreachable database does."""
    base = type(database)

    class Flaky(base):  # type: ignore[misc, valid-type]
        down = False

        async def run(
            self, function: Callable[Concatenate[Session, P], T], *args: Any, **kwargs: Any
        ) -> T:
            if self.down:
                await trio.lowlevel.checkpoint()
                raise StoreUnavailable("the database is unavailable: connection refused")
            return await super().run(function, *args, **kwargs)

        def write_soon(
            self, function: Callable[Concatenate[Session, P], T], *args: Any, **kwargs: Any
        ) -> PendingWrite[T]:
            if self.down:
                return PendingWrite.failed(
                    StoreUnavailable("the database is unavailable: connection refused")
                )
            return super().write_soon(function, *args, **kwargs)

    database.__class__ = Flaky
    return database


async def test_a_channel_started_during_an_outage_holds_its_messages_until_the_store_is_back(
    autojump_clock: Clock, database: Database
) -> None:
    store = flaky(database)
    store.down = True
    async with channel(store, Reply("first answer"), Reply("second answer")) as c:
        first, second = incoming("one", mention=True), incoming("two", mention=True)
        await c.ref.tell(first)
        await c.ref.tell(second)
        await trio.sleep(20)
        assert c.transport.texts() == []  # nothing answered blind
        details = c.ref.statistics().details
        assert details["waiting_for_store"] is True
        assert details["held"] == 2
        assert c.ref.statistics().restarts == 0  # waiting, not crashing
        store.down = False
        await trio.sleep(60)  # the next retry (at most 30 s apart) finds it
        answers = [(s.text, s.reply_to) for s in c.transport.sent if s.text.endswith("answer")]
        assert answers == [("first answer", first.message_id), ("second answer", second.message_id)]
        assert c.ref.statistics().details["waiting_for_store"] is False
        with store.unit_of_work() as session:  # and recorded, now that it can be
            assert known_messages(session, "discord", [first.message_id, second.message_id]) == {
                first.message_id,
                second.message_id,
            }


async def test_a_running_channel_answers_through_an_outage_without_a_record(
    autojump_clock: Clock, database: Database
) -> None:
    store = flaky(database)
    async with channel(store, Reply("before"), Reply("during"), Reply("after")) as c:
        await c.ref.tell(incoming("hello", mention=True))
        await trio.sleep(5)
        store.down = True
        during = incoming("are you there?", mention=True)
        await c.ref.tell(during)
        await trio.sleep(5)
        store.down = False
        await c.ref.tell(incoming("and now?", mention=True))
        await trio.sleep(5)
        assert c.transport.texts() == ["before", "during", "after"]
        assert c.ref.statistics().restarts == 0
        with store.unit_of_work() as session:
            assert known_messages(session, "discord", [during.message_id]) == set()
