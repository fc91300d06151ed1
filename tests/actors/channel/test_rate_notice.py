"""Over the per-person rate, messages are skipped and the notice says so (issue 12, item 6)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.config import load_settings
from clara.store import Database
from clara.testing import incoming
from tests.actors.channel.test_with_fakes import channel

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
HELLO = "Hello from Clara."


async def test_messages_over_the_rate_are_skipped_and_the_notice_says_for_how_long(
    autojump_clock: Clock, database: Database
) -> None:
    discord = load_settings({"CLARA_DISCORD_USER_RATE": "2"}).discord
    async with channel(database, discord=discord) as c:
        for n in range(4):
            await c.ref.tell(incoming(f"question {n}", author="ada", is_dm=True))
        await trio.sleep(29)
        texts = c.transport.texts()
        assert texts.count(HELLO) == 2  # the first two; the other two were skipped
        assert (
            texts.count(
                "Ada, you're writing faster than I can answer (more than 2 messages a minute), so "
                "I'm skipping what you send for about 30 seconds; send it again after that."
            )
            == 1
        )  # once, however many are skipped
        await trio.sleep(1)  # t = 30: a token again
        await c.ref.tell(incoming("question again", author="ada", is_dm=True))
        await trio.sleep(5)
        assert c.transport.texts().count(HELLO) == 3
        assert c.ref.statistics().details["rate_limited"] == 2
