"""ChannelActor on in-memory fakes: no socket, virtual time with exact instants.

The set-up is ``channel()`` below: a ``FakeProvider`` behind the real ``Gateway`` and
``LlmGatewayActor``, a ``FakeTransport``, the ``database`` fixture (a throwaway SQLite store
whose units of work run in the trio thread), and ``autojump_clock`` (threshold 0).
``test_actor.py`` runs the same actor end to end, over loopback HTTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorRef
from clara.actors.channel import ChannelActor, Converse
from clara.actors.llm import LlmGatewayActor
from clara.adapters.llm import Gateway
from clara.store import Database
from clara.testing import (
    ActorTestKit,
    Fail,
    FakeProvider,
    FakeTransport,
    Hang,
    Reply,
    Step,
    channel_dependencies,
    incoming,
)
from clara.tools import BuiltinTools, ToolRegistry

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
UNAVAILABLE = (
    "I can't reach a language model right now (fake did not answer). "
    "Please try again in a moment; the operator can see why on the status page."
)


@dataclass
class Channel:
    ref: ActorRef
    provider: FakeProvider
    transport: FakeTransport
    kit: ActorTestKit


@asynccontextmanager
async def channel(database: Database, *steps: Step, **fields: Any) -> AsyncIterator[Channel]:
    provider = FakeProvider(*steps, default=Reply("Hello from Clara."))
    transport = FakeTransport()
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
        deps = channel_dependencies(transport, llm, database=database, **fields)
        ref = await kit.spawn(lambda: ChannelActor("discord", "c1", deps))
        yield Channel(ref, provider, transport, kit)


async def test_a_mention_gets_exactly_one_reply(autojump_clock: Clock, database: Database) -> None:
    async with channel(database, Reply("Hi Ada.", delay=2)) as c:
        assert await c.ref.ask(Converse(message=incoming("just chatting"))) is None
        message = incoming("hello", mention=True)
        assert await c.ref.ask(Converse(message=message)) == "Hi Ada."
        assert trio.current_time() == 2.0  # the model's delay, and nothing else
        await trio.sleep(60)
        [sent] = c.transport.sent
        assert (sent.text, sent.reply_to, sent.at) == ("Hi Ada.", message.message_id, 2.0)
        assert c.provider.texts() == ["Ada: hello"]
        assert [request.at for request in c.provider.requests] == [0.0]
        assert c.transport.typing_calls == 1  # once at the start; the reply came within 8 s
        assert c.ref.statistics().details["ignored"] == 1


async def test_a_duplicate_message_id_is_not_answered_twice(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database) as c:
        message = incoming("hello", mention=True, message_id="777")
        assert await c.ref.ask(Converse(message=message)) == "Hello from Clara."
        assert await c.ref.ask(Converse(message=message)) is None  # redelivered
        await c.ref.tell(message)  # and again, as the gateway would route it
        await trio.sleep(10)
        assert c.transport.texts() == ["Hello from Clara."]
        assert len(c.provider.requests) == 1
        assert c.ref.statistics().details["duplicates"] == 2


async def test_a_stop_phrase_cancels_a_hanging_reply(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Hang()) as c:
        answers: list[tuple[str | None, float]] = []

        async def converse() -> None:
            message = incoming("write me a novel", mention=True)
            answer = await c.ref.ask(Converse(message=message), timeout=None)
            answers.append((answer, trio.current_time()))

        c.kit.start_soon(converse)
        await trio.sleep(5)
        stop = incoming("clara stop", mention=True)
        assert await c.ref.ask(Converse(message=stop)) == "Stopped."
        assert trio.current_time() == 5.0
        await trio.sleep(300)  # long past the model's timeout: nothing else is posted
        assert answers == [("Stopped.", 5.0)]  # the hanging ask was answered at once, too
        assert [(sent.text, sent.at) for sent in c.transport.sent] == [("Stopped.", 5.0)]
        assert c.transport.typing_calls == 1  # typing stopped with the reply


async def test_a_tool_call_goes_round_trip_through_the_fake_model(
    autojump_clock: Clock, database: Database
) -> None:
    registry = ToolRegistry()
    registry.register(BuiltinTools(now=lambda: dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)))
    steps = (
        Reply(tool_calls=(("clara__current_time", {"time_zone": "Europe/Paris"}),)),
        Reply("It is two in the afternoon in Paris.", delay=3),
    )
    async with channel(database, *steps, tools_for=lambda message: registry) as c:
        question = incoming("what time is it in Paris?", mention=True)
        assert await c.ref.ask(Converse(message=question)) == (
            "It is two in the afternoon in Paris."
        )
        assert trio.current_time() == 3.0
        assert c.transport.texts() == [
            "-# using clara__current_time…",
            "It is two in the afternoon in Paris.",
        ]
        first, second = c.provider.requests
        assert "clara__current_time" in {tool.name for tool in first.request.tools}
        answer = second.request.messages[-1]
        assert (answer.role, answer.tool_call_id) == ("tool", "call_1")
        assert answer.text() == "Sunday 2025-06-01 14:00 (Europe/Paris)"


async def test_a_rate_limited_provider_gives_the_user_a_clear_message_after_its_retries(
    autojump_clock: Clock, database: Database
) -> None:
    steps = [Fail(429, retry_after=2, message="slow down")] * 3
    async with channel(database, *steps) as c:
        reply = await c.ref.ask(Converse(message=incoming("hello", mention=True)))
        assert reply == UNAVAILABLE
        assert [request.at for request in c.provider.requests] == [0.0, 2.0, 4.0]
        assert [(sent.text, sent.at) for sent in c.transport.sent] == [(UNAVAILABLE, 4.0)]


async def test_a_model_that_never_answers_is_cut_off_at_the_call_timeout(
    autojump_clock: Clock, database: Database
) -> None:
    async with channel(database, Hang()) as c:
        message = incoming("hello", mention=True)
        assert await c.ref.ask(Converse(message=message), timeout=None) == UNAVAILABLE
        assert trio.current_time() == 60.0  # the gateway's call_timeout
        assert c.transport.typing_calls == 8  # every 8 s while waiting: 0, 8, ..., 56
