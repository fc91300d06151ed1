"""The console adapter: a line typed is a DM, and the console's one channel is all it shows."""

from __future__ import annotations

import time

import pytest

from clara.adapters.console import (
    CONSOLE_CHANNEL,
    ConsoleTransport,
    PlainTransport,
    console_message,
)


def test_a_typed_line_carries_when_it_was_typed() -> None:
    before = time.time()
    message = console_message("hello")
    assert message.sent_at is not None and before <= message.sent_at <= time.time()
    assert (message.channel_id, message.is_dm) == (CONSOLE_CHANNEL, True)


@pytest.mark.trio
async def test_the_console_person_reads_the_console_channel_only() -> None:
    for transport in (ConsoleTransport(), PlainTransport()):
        assert await transport.can_read("you", CONSOLE_CHANNEL)
        assert not await transport.can_read("you", "100")
