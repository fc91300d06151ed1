"""Every piece a channel posts has a nonce of its own, the same when it is retried (issue 14,
item 1): reply pieces, each progress line, each kind of notice.

The fake transport keeps nonces as Discord's ``enforce_nonce`` does (a repeat is not posted),
so a nonce shared by two pieces shows here as a piece missing.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.actors.channel import Converse
from clara.actors.channel.inbox import ChannelInbox, Draft
from clara.actors.channel.outbox import ChannelOutbox
from clara.adapters.chat import MessageReceived
from clara.store import Database
from clara.testing import FakeTransport, Reply, incoming
from clara.tools import BuiltinTools, ToolRegistry
from tests.actors.channel.test_with_fakes import channel

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
#: Every kind of notice a channel posts about a message (``ChannelActor``), and progress lines.
NOTICE_KINDS = ("busy", "rate", "queued", "stop", "stopped", "failed", "expired")
PROGRESS = tuple(f"progress-{line}" for line in range(1, 7))
LONG = ("lorem ipsum " * 375).strip()  # 4,499 characters: three pieces


def outbox_on(transport: FakeTransport) -> ChannelOutbox:
    """An outbox with no store behind it (nothing to record pieces in)."""
    inbox = ChannelInbox(None, "discord", "c1", lambda *args, **kwargs: None)
    return ChannelOutbox(transport, "c1", lambda: inbox, lambda *args, **kwargs: None)


def draft_of(message: MessageReceived, text: str = LONG) -> Draft:
    return Draft(text=text, files=[], covers=[message.message_id])


async def post_everything(outbox: ChannelOutbox, message: MessageReceived) -> None:
    """A three-piece reply and every notice about ``message``."""
    await outbox.reply(message, draft_of(message), 0, None)
    for kind in NOTICE_KINDS + PROGRESS:
        await outbox.notice(message, f"a {kind} notice", kind, reply=kind in NOTICE_KINDS)


async def test_every_piece_and_every_notice_about_one_message_is_posted(
    autojump_clock: Clock,
) -> None:
    transport = FakeTransport()
    message = incoming("hello", mention=True, message_id="1234567890123456789")
    await post_everything(outbox_on(transport), message)
    expected = 3 + len(NOTICE_KINDS) + len(PROGRESS)
    assert len(transport.sent) == expected  # not one kept back as a repeat of another
    nonces = [sent.nonce for sent in transport.sent]
    assert len(set(nonces)) == expected
    assert all(0 < len(nonce) <= 25 for nonce in nonces)  # what Discord takes


async def test_a_retried_piece_or_notice_has_the_same_nonce_and_is_posted_once(
    autojump_clock: Clock,
) -> None:
    message = incoming("hello", mention=True, message_id="1234567890123456789")
    first, again = FakeTransport(), FakeTransport()
    await post_everything(outbox_on(first), message)
    await post_everything(outbox_on(again), message)  # another incarnation, the same pieces
    assert [s.nonce for s in again.sent] == [s.nonce for s in first.sent]
    # A reply resumed after its first piece: the rest go out with the nonces they had, so
    # where the first attempt got through, the platform keeps the first.
    resumed = FakeTransport()
    await outbox_on(resumed).reply(message, draft_of(message), 1, "piece-1")
    assert [s.nonce for s in resumed.sent] == [s.nonce for s in first.sent[1:3]]
    await post_everything(outbox_on(first), message)
    assert len(first.sent) == 3 + len(NOTICE_KINDS) + len(PROGRESS)  # nothing twice


async def test_pieces_about_different_messages_never_share_a_nonce(autojump_clock: Clock) -> None:
    transport = FakeTransport()
    outbox = outbox_on(transport)
    for message_id in ("1", "11", "111", "1234567890123456789", "1234567890123456780"):
        await post_everything(outbox, incoming("hi", message_id=message_id))
    assert len(transport.sent) == 5 * (3 + len(NOTICE_KINDS) + len(PROGRESS))


def six_tools() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(BuiltinTools())
    return registry


async def test_each_progress_line_of_a_six_tool_reply_is_posted(
    autojump_clock: Clock, database: Database
) -> None:
    calls = tuple(("clara__current_time", {"time_zone": zone}) for zone in ("UTC", "Asia/Tokyo"))
    steps = (
        Reply(tool_calls=calls * 2),  # four calls in one round
        Reply(tool_calls=calls),  # two more in the next
        Reply("Done."),
        # A second reply in the same channel: its progress lines are numbered from 1 again.
        Reply(tool_calls=calls[:1]),
        Reply("Done again."),
    )
    async with channel(database, *steps, tools_for=lambda message: six_tools()) as c:
        first = incoming("what time is it?", mention=True)
        assert await c.ref.ask(Converse(message=first)) == "Done."
        second = incoming("and now?", mention=True)
        assert await c.ref.ask(Converse(message=second)) == "Done again."
        line = "-# using clara__current_time…"
        assert c.transport.texts() == [line] * 6 + ["Done."] + [line, "Done again."]
        assert len({sent.nonce for sent in c.transport.sent}) == 9
