"""The Discord bridge's reading side: a channel's history and who may read it.

The real ``DiscordBridge`` (discord.py in a trio-asyncio loop) against ``FakeDiscord`` on
loopback: no tree, no model; the bridge alone.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import discord
import pytest
import trio
import trio_asyncio

from clara.adapters.chat import MessageReceived
from clara.adapters.discord import DiscordBridge
from clara.errors import PlatformError
from clara.testing import FakeDiscord, PermissionOverwrite

TOKEN = "MTAxMDEwMTAxMDEw.GabcDE.fake-token-for-tests-0123456789"
VIEW = discord.Permissions(view_channel=True).value
HISTORY = discord.Permissions(read_message_history=True).value


@dataclass
class Connected:
    discord: FakeDiscord
    bridge: DiscordBridge
    received: list[MessageReceived]
    _arrived: trio.Event

    async def barrier(self, channel_id: str = "900", guild_id: str | None = None) -> None:
        """Post one message and wait until the bridge delivers it: every gateway event sent
        before it has been handled by then (discord.py handles them in order)."""
        before = len(self.received)
        await self.discord.post_message(
            "barrier", channel_id=channel_id, guild_id=guild_id, author_id="77"
        )
        while len(self.received) <= before:
            self._arrived = trio.Event()
            await self._arrived.wait()


@asynccontextmanager
async def connected() -> AsyncIterator[Connected]:
    fake = FakeDiscord()
    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        url = await nursery.start(fake.serve)
        bridge = DiscordBridge(
            TOKEN,
            api_url=f"{url}/api/v10",
            gateway_url=url.replace("http", "ws") + "/gateway",
            guild_ready_timeout=0.05,
        )
        state = Connected(fake, bridge, [], trio.Event())

        async def route(message: MessageReceived) -> None:
            state.received.append(message)
            state._arrived.set()

        with trio.fail_after(20):
            await nursery.start(bridge.run, route)
        yield state
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_history_returns_what_was_written_while_clara_was_away_in_order() -> None:
    async with connected() as c:
        away = time.time() - 600
        seen = await c.discord.post_message(
            "hello", channel_id="300", author_id="2", sent_at=away - 60
        )
        await c.bridge.send("300", "Hi!", reply_to=seen["id"], nonce="n-1")
        for n in range(3):
            await c.discord.post_message(
                f"while away {n}",
                channel_id="300",
                author_id="2",
                deliver=False,
                sent_at=away + n,
            )
        late = await c.discord.post_message(
            "and now", channel_id="300", author_id="2", deliver=False
        )
        with trio.fail_after(20):
            caught_up = await c.bridge.history("300", after=seen["id"], limit=10)
        assert [m.content for m in caught_up] == [
            "while away 0",
            "while away 1",
            "while away 2",
            "and now",
        ]
        assert caught_up[-1].message_id == late["id"]
        assert all(m.is_dm and m.channel_id == "300" and m.author.id == "2" for m in caught_up)
        assert [round(m.sent_at or 0) for m in caught_up[:3]] == [
            round(away),
            round(away + 1),
            round(away + 2),
        ]
        assert abs((caught_up[-1].sent_at or 0) - time.time()) < 60
        # At most ``limit``: the first ones after ``after``.
        first_two = await c.bridge.history("300", after=seen["id"], limit=2)
        assert [m.content for m in first_two] == ["while away 0", "while away 1"]
        # No ``after``: the latest ones, still oldest first, Clara's reply left out.
        latest = await c.bridge.history("300", after=None, limit=3)
        assert [m.content for m in latest] == ["while away 1", "while away 2", "and now"]


@pytest.mark.trio
async def test_history_in_a_server_channel_has_the_authors_roles() -> None:
    async with connected() as c:
        await c.discord.add_guild("5", ("100",), roles=("7",))
        await c.barrier("100", "5")
        c.discord.add_member("5", "2", "bea", roles=("7",))
        await c.discord.post_message(
            "missed", channel_id="100", guild_id="5", author_id="2", deliver=False, roles=("7",)
        )
        with trio.fail_after(20):
            [missed] = await c.bridge.history("100", after=None, limit=1)
        assert (missed.content, missed.guild_id, missed.is_dm) == ("missed", "5", False)
        assert missed.author.roles == ("7",)  # looked up: REST messages carry no member


@pytest.mark.trio
async def test_history_of_a_channel_discord_refuses_is_a_platform_error() -> None:
    async with connected() as c:
        await c.discord.post_message("secret", channel_id="400", author_id="2", deliver=False)
        c.discord.unreadable.add("400")
        with trio.fail_after(20), pytest.raises(PlatformError, match=r"channel 400.*403"):
            await c.bridge.history("400", after=None, limit=5)
        with trio.fail_after(20), pytest.raises(PlatformError, match=r"channel 401.*404"):
            await c.bridge.history("401", after=None, limit=5)
        with pytest.raises(ValueError, match="limit must be at least 1; got 0"):
            await c.bridge.history("400", after=None, limit=0)


@pytest.mark.trio
async def test_history_and_can_read_need_a_connection() -> None:
    bridge = DiscordBridge(TOKEN)
    with pytest.raises(PlatformError, match="not connected"):
        await bridge.history("1", after=None, limit=1)
    with pytest.raises(PlatformError, match="not connected"):
        await bridge.can_read("1", "1")


@pytest.mark.trio
async def test_a_dm_is_readable_by_its_own_person_only() -> None:
    async with connected() as c:
        await c.discord.post_message("hi", channel_id="300", author_id="2", deliver=False)
        with trio.fail_after(20):
            assert await c.bridge.can_read("2", "300")
            assert not await c.bridge.can_read("3", "300")
            assert not await c.bridge.can_read("2", "301")  # no such channel
            assert not await c.bridge.can_read("2", "not-a-channel")
            # A DM discord.py has seen a message in (cached without its person).
            await c.barrier("900")
            assert await c.bridge.can_read("77", "900")
            assert not await c.bridge.can_read("2", "900")
        live = c.received[-1]
        assert live.sent_at is not None and abs(live.sent_at - time.time()) < 60


@pytest.mark.trio
async def test_a_server_channel_is_readable_by_who_may_view_it_and_read_its_history() -> None:
    async with connected() as c:
        await c.discord.add_guild(
            "5",
            ("100", "200", "210", "220"),
            roles=("7",),
            overwrites={
                # Staff only: hidden from everyone, shown to role 7.
                "200": [
                    PermissionOverwrite("5", deny=VIEW),
                    PermissionOverwrite("7", allow=VIEW),
                ],
                # Everyone sees it, nobody reads what came before.
                "210": [PermissionOverwrite("5", deny=HISTORY)],
                # Hidden from everyone but member 4.
                "220": [
                    PermissionOverwrite("5", deny=VIEW),
                    PermissionOverwrite("4", kind="member", allow=VIEW),
                ],
            },
        )
        await c.barrier("100", "5")
        c.discord.add_member("5", "2", "bea")
        c.discord.add_member("5", "3", "cy", roles=("7",))
        c.discord.add_member("5", "4", "di")
        with trio.fail_after(20):
            readable = {
                (user, channel)
                for user in ("2", "3", "4", "8")  # 8 is not a member
                for channel in ("100", "200", "210", "220")
                if await c.bridge.can_read(user, channel)
            }
        assert readable == {
            ("2", "100"),
            ("3", "100"),
            ("3", "200"),
            ("4", "100"),
            ("4", "220"),
        }
