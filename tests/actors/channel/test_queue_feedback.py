"""Feedback without spam: ⏳ on each queued message, one line of text per burst (issue 12,
item 7)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.store import Database
from clara.testing import Reply, incoming
from tests.actors.channel.test_with_fakes import channel

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
NOTICE = "I'm in the middle of a reply; I'll answer what's marked \u23f3 in turn."


async def test_a_burst_gets_one_line_and_a_reaction_on_each_queued_message(
    autojump_clock: Clock, database: Database
) -> None:
    steps = [Reply(f"answer {n}", delay=2) for n in range(5)]
    async with channel(database, *steps) as c:
        burst = [incoming(f"question {n}", author=f"p{n}", mention=True) for n in range(5)]
        for message in burst:
            await c.ref.tell(message)
        await trio.sleep(1)
        assert c.transport.texts() == [NOTICE]
        assert [(m, emoji) for _, m, emoji, _ in c.transport.reactions] == [
            (message.message_id, "\u23f3") for message in burst[1:]
        ]
        await trio.sleep(60)
        assert c.transport.texts() == [NOTICE, *(f"answer {n}" for n in range(5))]
        # The burst is over; the next one gets its own single line.
        await c.ref.tell(incoming("again", author="p0", mention=True))
        await c.ref.tell(incoming("and again", author="p1", mention=True))
        await trio.sleep(1)
        assert c.transport.texts().count(NOTICE) == 2


async def test_a_queued_message_in_a_dm_gets_its_reaction_and_no_text(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Reply("one", delay=2), Reply("two", delay=2)) as c:
        await c.ref.tell(incoming("first", is_dm=True))
        second = incoming("second", is_dm=True)
        await c.ref.tell(second)
        await trio.sleep(10)
        assert c.transport.texts() == ["one", "two"]
        assert [m for _, m, _, _ in c.transport.reactions] == [second.message_id]
