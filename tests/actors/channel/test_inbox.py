"""The durable inbox (issue 12, item 1): what a channel promised survives its actor and its
process. One store, two lives of the channel: the first is cut off (its nursery cancelled,
as ``kill -9`` would, or stopped gracefully, as a deploy does), the second answers what the
first left, exactly once. On the in-memory fakes, in virtual time; ``tests/test_deploys.py``
does the same with real processes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from sqlalchemy import select

from clara.actors import ActorRef
from clara.actors.channel import ChannelActor
from clara.actors.llm import LlmGatewayActor
from clara.adapters.llm import Gateway
from clara.config import DiscordSettings
from clara.store import Database
from clara.store.models import InboxMessage, Message
from clara.testing import (
    ActorTestKit,
    FakeProvider,
    FakeTransport,
    Reply,
    Step,
    channel_dependencies,
    incoming,
)

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


@dataclass
class CountingTransport(FakeTransport):
    """A FakeTransport that also counts every send attempt (retries included), and can be
    told to break: raise on the ``fail_at``-th attempt, or hang on the ``hang_at``-th."""

    attempts: list[str] = field(default_factory=list)
    fail_at: int | None = None
    hang_at: int | None = None

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        self.attempts.append(text)
        if self.fail_at == len(self.attempts):
            raise RuntimeError("the platform fell over")  # not a ClaraError: a crash
        if self.hang_at == len(self.attempts):
            await trio.sleep_forever()
        return await super().send(channel_id, text, reply_to=reply_to, nonce=nonce, files=files)


@dataclass
class Life:
    ref: ActorRef
    provider: FakeProvider
    kit: ActorTestKit


@asynccontextmanager
async def life(
    database: Database, transport: FakeTransport, *steps: Step, **fields: Any
) -> AsyncIterator[Life]:
    """One life of channel c1 over ``database``: a new model, a new actor."""
    provider = FakeProvider(*steps, default=Reply("Hello from Clara."))
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
        deps = channel_dependencies(transport, llm, database=database, **fields)
        ref = await kit.spawn(lambda: ChannelActor("discord", "c1", deps))
        yield Life(ref, provider, kit)


async def kill(scope: trio.CancelScope) -> None:
    """Cut off everything inside ``scope`` at once, as ``kill -9`` would: no drain."""
    scope.cancel()
    await trio.lowlevel.checkpoint()


def states(database: Database) -> dict[str, str]:
    with database.unit_of_work() as session:
        rows = session.execute(select(InboxMessage.message_id, InboxMessage.state)).all()
    return dict(rows)  # type: ignore[arg-type]


def replies_in_history(database: Database) -> list[str]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(Message.content).where(Message.role == "assistant")))


async def test_a_reply_cut_off_by_a_kill_is_answered_once_by_the_next_life(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    message = incoming("are you there?", mention=True, message_id="m1")
    with trio.CancelScope() as killer:
        async with life(database, transport, Reply("never posted", delay=5)) as first:
            await first.ref.tell(message)
            await trio.sleep(1)  # one second into a five-second model call
            await kill(killer)
    assert transport.attempts == []
    assert states(database) == {"m1": "replying"}

    async with life(database, transport, Reply("Yes, still here.")):
        await trio.sleep(10)
    assert [sent.text for sent in transport.sent] == ["Yes, still here."]
    assert transport.sent[0].reply_to == "m1"
    assert states(database) == {"m1": "answered"}
    assert replies_in_history(database) == ["Yes, still here."]


async def test_a_message_sent_again_while_unanswered_is_answered_not_dropped(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    message = incoming("hello?", mention=True, message_id="m1")
    with trio.CancelScope() as killer:
        async with life(database, transport, Reply("never", delay=5)) as first:
            await first.ref.tell(message)
            await trio.sleep(1)
            await kill(killer)
    async with life(database, transport, Reply("Hello!", delay=1)) as second:
        await second.ref.tell(message)  # the platform delivers it again
        await trio.sleep(10)
    assert [sent.text for sent in transport.sent] == ["Hello!"]
    assert states(database) == {"m1": "answered"}


async def test_a_message_answered_before_is_not_answered_again_after_a_restart(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    message = incoming("hello?", mention=True, message_id="m1")
    async with life(database, transport, Reply("Hello!")) as first:
        await first.ref.tell(message)
        await trio.sleep(5)
    async with life(database, transport, Reply("Hello again!")) as second:
        await second.ref.tell(message)  # replayed after the restart
        await trio.sleep(5)
        assert second.ref.statistics().details["duplicates"] == 1
    assert [sent.text for sent in transport.sent] == ["Hello!"]


async def test_a_reply_of_several_pieces_resumes_after_the_last_piece_posted(
    autojump_clock: Clock, database: Database
) -> None:
    long = "\n\n".join(f"Paragraph {n}. " + "word " * 300 for n in range(3))  # three pieces
    transport = CountingTransport(hang_at=2)  # the second piece never gets out
    with trio.CancelScope() as killer:
        async with life(database, transport, Reply(long)) as first:
            await first.ref.tell(incoming("tell me a lot", mention=True, message_id="m1"))
            await trio.sleep(5)
            await kill(killer)
    assert len(transport.sent) == 1
    assert states(database) == {"m1": "sending"}

    transport.hang_at = None
    async with life(database, transport, Reply("a different answer")) as second:
        await trio.sleep(5)
        assert second.provider.requests == []  # the stored reply is posted, not remade
    texts = [sent.text for sent in transport.sent]
    assert len(texts) == 3
    assert texts[0].startswith("Paragraph 0") and texts[2].rstrip().endswith("word")
    # The piece cut off in flight is posted again (same nonce); the first one is not.
    assert transport.attempts.count(texts[0]) == 1
    assert states(database) == {"m1": "answered"}


async def test_a_crashed_channel_answers_what_it_had_queued(
    autojump_clock: Clock, database: Database
) -> None:
    class FailsOnce(CountingTransport):
        async def send(self, channel_id: str, text: str, **kwargs: Any) -> str:
            if text == "one" and "one" not in self.attempts:
                self.attempts.append(text)
                raise RuntimeError("the platform fell over")  # crashes the actor
            return await super().send(channel_id, text, **kwargs)

    transport = FailsOnce()
    async with life(
        database, transport, Reply("one", delay=1), Reply("one again"), Reply("two")
    ) as c:
        await c.ref.tell(incoming("first", mention=True, message_id="m1", author="ada"))
        await c.ref.tell(incoming("second", mention=True, message_id="m2", author="bob"))
        await trio.sleep(30)
        assert c.ref.statistics().restarts == 1
    assert [(sent.reply_to, sent.text) for sent in transport.sent if sent.reply_to] == [
        ("m2", "I'm in the middle of a reply; I'll answer what's marked \u23f3 in turn."),
        ("m1", "one again"),
        ("m2", "two"),
    ]
    assert states(database) == {"m1": "answered", "m2": "answered"}


async def test_a_message_that_keeps_crashing_its_reply_is_given_up_with_a_note(
    autojump_clock: Clock, database: Database
) -> None:
    class Crashing(CountingTransport):
        async def send(self, channel_id: str, text: str, **kwargs: Any) -> str:
            if text.startswith("poison"):
                raise RuntimeError("cannot post this")
            return await super().send(channel_id, text, **kwargs)

    transport = Crashing()
    async with life(database, transport, *[Reply("poison")] * 5) as c:
        await c.ref.tell(incoming("break it", mention=True, message_id="m1"))
        await trio.sleep(60)
    [note] = transport.sent
    assert "given up" in note.text and note.reply_to == "m1"
    assert states(database) == {"m1": "failed"}


async def test_a_graceful_stop_finishes_the_running_reply_and_keeps_the_queue(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    async with life(database, transport, Reply("first answer", delay=5)) as first:
        await first.ref.tell(incoming("one", mention=True, message_id="m1", author="ada"))
        await first.ref.tell(incoming("two", mention=True, message_id="m2", author="bob"))
        await first.ref.tell(incoming("three", mention=True, message_id="m3", author="cy"))
        await trio.sleep(1)
        await first.kit.supervisor.stop()  # a deploy's SIGTERM reaches the channel
    assert [s.text for s in transport.sent if s.reply_to == "m1"] == ["first answer"]
    assert states(database) == {"m1": "answered", "m2": "received", "m3": "received"}

    async with life(database, transport, Reply("second answer"), Reply("third answer")):
        await trio.sleep(10)
    answers = [(s.reply_to, s.text) for s in transport.sent if s.text.endswith(" answer")]
    assert answers == [("m1", "first answer"), ("m2", "second answer"), ("m3", "third answer")]


async def test_an_unanswered_message_older_than_the_window_gets_a_note_instead(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    old = incoming("hello?", mention=True, message_id="m1", sent_at=time.time() - 3600)
    with trio.CancelScope() as killer:
        async with life(database, transport, Reply("never", delay=5)) as first:
            await first.ref.tell(old)
            await trio.sleep(1)
            await kill(killer)
    async with life(database, transport):
        await trio.sleep(5)
    [note] = transport.sent
    assert "restarted" in note.text and note.reply_to == "m1"
    assert states(database) == {"m1": "expired"}


async def test_older_messages_can_be_closed_silently(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    old = incoming("hello?", mention=True, message_id="m1", sent_at=time.time() - 3600)
    with trio.CancelScope() as killer:
        async with life(database, transport, Reply("never", delay=5)) as first:
            await first.ref.tell(old)
            await trio.sleep(1)
            await kill(killer)
    async with life(database, transport, resume_note=False):
        await trio.sleep(5)
    assert transport.sent == []
    assert states(database) == {"m1": "expired"}


async def test_stopped_messages_keep_their_key_and_a_flood_over_the_rate_costs_no_writes(
    autojump_clock: Clock, database: Database
) -> None:
    transport = CountingTransport()
    settings = DiscordSettings(user_rate_per_minute=1, channel_mailbox=1)
    async with life(database, transport, Reply("slow", delay=10), discord=settings) as c:
        await c.ref.tell(incoming("one", mention=True, message_id="m1", author="ada"))
        await c.ref.tell(incoming("two", mention=True, message_id="m2", author="ada"))  # rate
        await c.ref.tell(incoming("three", mention=True, message_id="m3", author="bob"))
        await c.ref.tell(incoming("four", mention=True, message_id="m4", author="cy"))  # full
        await c.ref.tell(incoming("nevermind", mention=True, message_id="m5", author="bob"))
        await trio.sleep(30)
    # Skipped (over the rate) and refused (a full queue) messages were told so and are not
    # recorded: a re-delivery of one is not a second answer.
    assert states(database) == {"m1": "answered", "m3": "stopped", "m5": "answered"}
    with database.unit_of_work() as session:
        kept = session.scalars(select(InboxMessage.payload)).all()
    assert kept == [None] * 3


async def test_an_unreadable_inbox_record_is_given_up_and_the_rest_are_answered(
    autojump_clock: Clock, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    from clara.store import claim_message  # noqa: PLC0415

    with database.unit_of_work() as session:
        claim_message(session, "discord", "m1", "c1", b"\xc1 not msgpack")
    transport = CountingTransport()
    with trio.CancelScope() as killer:
        async with life(database, transport, Reply("never", delay=5)) as first:
            await first.ref.tell(incoming("still there?", mention=True, message_id="m2"))
            await trio.sleep(1)
            await kill(killer)
    async with life(database, transport, Reply("Yes.")):
        await trio.sleep(5)
    assert [(s.reply_to, s.text) for s in transport.sent] == [("m2", "Yes.")]
    assert states(database) == {"m1": "failed", "m2": "answered"}
    assert "inbox record of message m1 cannot be read" in caplog.text
    assert "not msgpack" not in caplog.text  # the id, never the content
