"""Emotional continuity and recurring topics in replies: after a long silence the reply knows
how the last conversation went; topics they keep coming back to; DMs stay out of servers."""

from __future__ import annotations

import datetime as dt

import pytest
import trio
import trio.testing
from sqlalchemy import select, update

from clara.actors.channel import Converse
from clara.actors.proactive.continuity import Continuity
from clara.adapters.chat import Author, MessageReceived
from clara.store import Database, record_exchange
from clara.store.models import Message
from clara.testing import incoming
from tests.actors.channel.test_with_fakes import channel
from tests.actors.proactive.harness import START

pytestmark = pytest.mark.trio

ADA = Author(id="42", name="Ada")


def said(store: Database, text: str, *, at: dt.datetime, dm: bool, message_id: str) -> None:
    with store.unit_of_work() as session:
        before = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0
        record_exchange(
            session,
            platform="discord",
            channel_id="dm-42" if dm else "general",
            guild_id=None if dm else "g1",
            is_dm=dm,
            turns=[(ADA.id, ADA.name, text, message_id)],
            reply="I hear you.",
        )
        session.flush()
        session.execute(update(Message).where(Message.id > before).values(created_at=at))


def now_message(*, dm: bool) -> MessageReceived:
    return MessageReceived(
        platform="discord",
        message_id="now",
        channel_id="dm-42" if dm else "general",
        guild_id=None if dm else "g1",
        is_dm=dm,
        author=ADA,
        content="hey, I'm back",
    )


async def test_after_a_silence_the_reply_knows_the_last_arc_and_the_recurring_topics(
    store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    earlier = START - dt.timedelta(days=3)
    said(
        store,
        "My marathon training is going terribly, I feel awful",
        at=earlier,
        dm=True,
        message_id="a",
    )
    said(
        store,
        "Still sad about the marathon training plan",
        at=earlier + dt.timedelta(minutes=5),
        dm=True,
        message_id="b",
    )
    said(
        store,
        "Actually the run today was wonderful, I feel great!",
        at=earlier + dt.timedelta(minutes=10),
        dm=True,
        message_id="c",
    )
    said(store, "Anyone here know a good bakery?", at=earlier, dm=False, message_id="d")
    continuity = Continuity(store, lambda: START)
    in_dm = await continuity(now_message(dm=True))
    assert "away a while" in in_dm and "low" in in_dm and "ended better" in in_dm
    assert "marathon" in in_dm
    # In a server, only what they said in servers: nothing of the DMs.
    in_server = await continuity(now_message(dm=False))
    assert "marathon" not in in_server
    assert "very low" not in in_server and "stayed positive" in in_server  # the bakery question


async def test_a_channel_puts_the_paragraph_in_the_reply_s_system_prompt(
    store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    async def about(message: MessageReceived) -> str:
        return "They have been away a while; the last conversation ended better."

    async with channel(store, continuity=about) as c:
        await c.ref.ask(Converse(message=incoming("hello", mention=True)))
        [request] = c.provider.requests
        system = request.request.messages[0].text()
    assert "About Ada: They have been away a while" in system


async def test_a_failing_paragraph_never_holds_up_the_reply(
    store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    async def broken(message: MessageReceived) -> str:
        raise RuntimeError("no mood today")

    async with channel(store, continuity=broken) as c:
        assert await c.ref.ask(Converse(message=incoming("hi", mention=True))) == (
            "Hello from Clara."
        )
