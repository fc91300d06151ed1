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
NOTICE = "I'm in the middle of a reply; I'll answer what's marked \u23f3 in turn."


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
            (NOTICE, 0.0),
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
            (NOTICE, 0.0),  # one line for the burst; each queued message got ⏳
            ("Stopped.", 5.0),
            ("for bob", 6.0),  # bob's question is answered next; nobody tells bob anything
        ]


async def test_an_administrators_stop_ends_everything_and_tells_each_person_once(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Reply("never", delay=10)) as c:
        await c.ref.tell(incoming("tell me a story", author="ada", mention=True))
        await c.ref.tell(incoming("and another", author="ada", mention=True))
        ada_latest = incoming("one more", author="ada", mention=True)
        bob = incoming("what's 2+2?", author="bob", mention=True)
        await c.ref.tell(ada_latest)
        await c.ref.tell(bob)
        await trio.sleep(5)
        await c.ref.tell(incoming("clara stop", author="cy", mention=True, admin=True))
        await trio.sleep(60)
        texts = [text for text, _ in said(c)]
        assert texts[0] == NOTICE
        assert len(c.transport.reactions) == 3  # ⏳ on each queued message
        assert texts[1:] == [
            "Stopped everything here.",
            "Ada, Cy stopped my replies here, so I won't answer this; ask again if you still "
            "want it.",
            "Bob, Cy stopped my replies here, so I won't answer this; ask again if you still "
            "want it.",
        ]
        assert [sent.reply_to for sent in c.transport.sent[2:]] == [
            ada_latest.message_id,
            bob.message_id,
        ]
