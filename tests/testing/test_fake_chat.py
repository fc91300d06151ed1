"""FakeTransport: the ChatTransport a channel actor answers through, recording every send."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.testing import FakeTransport, incoming

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


async def test_a_retried_nonce_is_posted_once(autojump_clock: Clock) -> None:
    transport = FakeTransport()
    assert await transport.send("c1", "hi", reply_to="7", nonce="n1") == "sent-1"
    assert await transport.send("c1", "hi", reply_to="7", nonce="n1") == "dup-n1"
    assert await transport.send("c2", "yo", reply_to=None, nonce="n2", files=[("a", b"1")])
    assert transport.texts() == ["hi", "yo"] and transport.texts("c2") == ["yo"]
    assert transport.sent[1].files == (("a", b"1"),)


async def test_wait_for_returns_when_the_count_is_reached(autojump_clock: Clock) -> None:
    transport = FakeTransport()

    async def later() -> None:
        await trio.sleep(3)
        await transport.send("c1", "one", reply_to=None, nonce="n1")
        await trio.sleep(2)
        await transport.send("c1", "two", reply_to=None, nonce="n2")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        await transport.wait_for(2)
        assert trio.current_time() == 5.0
    assert [sent.at for sent in transport.sent] == [3.0, 5.0]


async def test_incoming_builds_a_mention_or_a_dm() -> None:
    mention = incoming("hello", mention=True, message_id="9")
    dm = incoming("hello", is_dm=True)
    assert (mention.content, mention.mentions_clara, mention.message_id) == (
        "<@999> hello",
        True,
        "9",
    )
    assert (dm.is_dm, dm.guild_id) == (True, None)


async def test_can_read_answers_what_the_test_allowed() -> None:
    transport = FakeTransport()
    assert not await transport.can_read("ada", "c1")
    transport.allow_reading("ada", "c1")
    assert await transport.can_read("ada", "c1")
    assert not await transport.can_read("bob", "c1")
    assert transport.readable == {("ada", "c1")}
