"""A stop phrase stops what is the speaker's; an administrator's stops everything (issue 12,
item 5). On the in-memory fakes, in virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.store import Database
from clara.testing import Reply, incoming
from tests.actors.channel.test_with_fakes import channel

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


def said(c: object) -> list[tuple[str, float]]:
    return [(sent.text, sent.at) for sent in c.transport.sent]  # type: ignore[attr-defined]


async def test_another_persons_stop_leaves_your_reply_and_your_queue_alone(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Reply("first", delay=10), Reply("second", delay=10)) as c:
        await c.ref.tell(incoming("tell me a story", author="ada", mention=True))
        await c.ref.tell(incoming("and another", author="ada", mention=True))
        await trio.sleep(5)
        await c.ref.tell(incoming("clara stop", author="bob", mention=True))
        await trio.sleep(60)
        assert said(c) == [
            ("queued (position 1)", 0.0),
            ("There was nothing of yours to stop.", 5.0),
            ("first", 10.0),
            ("second", 20.0),
        ]


async def test_your_stop_ends_your_reply_and_your_queue_and_the_others_go_on(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Reply("for ada", delay=10), Reply("for bob", delay=1)) as c:
        await c.ref.tell(incoming("tell me a story", author="ada", mention=True))
        await c.ref.tell(incoming("what's 2+2?", author="bob", mention=True))
        await c.ref.tell(incoming("and another story", author="ada", mention=True))
        await trio.sleep(5)
        await c.ref.tell(incoming("nevermind", author="ada", mention=True))
        await trio.sleep(60)
        assert said(c) == [
            ("queued (position 1)", 0.0),
            ("queued (position 2)", 0.0),
            ("Stopped.", 5.0),
            ("for bob", 6.0),  # bob's question is answered next; nobody tells bob anything
        ]


async def test_an_administrators_stop_ends_everything_and_tells_each_person_once(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Reply("never", delay=10)) as c:
        await c.ref.tell(incoming("tell me a story", author="ada", mention=True))
        await c.ref.tell(incoming("and another", author="ada", mention=True))
        await c.ref.tell(incoming("one more", author="ada", mention=True))
        await c.ref.tell(incoming("what's 2+2?", author="bob", mention=True))
        await trio.sleep(5)
        await c.ref.tell(incoming("clara stop", author="cy", mention=True, admin=True))
        await trio.sleep(60)
        texts = [text for text, _ in said(c)]
        assert texts[:3] == ["queued (position 1)", "queued (position 2)", "queued (position 3)"]
        assert texts[3:] == [
            "Stopped everything here.",
            "Ada, Cy stopped my replies here, so I won't answer this; ask again if you still "
            "want it.",
            "Bob, Cy stopped my replies here, so I won't answer this; ask again if you still "
            "want it.",
        ]
        assert [sent.reply_to for sent in c.transport.sent[4:]] == [
            c.transport.sent[1].reply_to,  # ada's latest message stopped
            c.transport.sent[2].reply_to,  # bob's
        ]
