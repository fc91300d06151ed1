"""The real ``DiscordBridge`` posting embeds, opening DMs and pinging only whom it is told,
against ``FakeDiscord`` on loopback (the bridge alone: no tree, no model)."""

from __future__ import annotations

import pytest
import trio

from clara.adapters.chat import Embed, EmbedField, Pings
from clara.errors import PlatformError
from tests.adapters.test_discord_history import connected

pytestmark = pytest.mark.trio


async def test_an_embed_arrives_with_its_colour_fields_nonce_and_no_pings() -> None:
    async with connected() as c:
        embed = Embed(
            title="Invoice due",
            description="Please pay by Friday",
            colour=0xE67E22,
            fields=(EmbedField(name="From", value="bank@x.org", inline=True),),
            footer="high importance",
        )
        with trio.fail_after(10):
            first = await c.bridge.send_embed("300", embed, nonce="alert-1")
            again = await c.bridge.send_embed("300", embed, nonce="alert-1")
        assert first == again  # Discord answers a repeated nonce with the message it made
        [posted] = c.discord.posted
        assert [p.nonce for p in c.discord.repeats] == ["alert-1"]
        assert (posted.channel_id, posted.nonce, posted.enforce_nonce) == ("300", "alert-1", True)
        assert posted.content == ""
        assert posted.allowed_mentions == {"parse": []}
        [card] = posted.embeds
        assert (card["title"], card["description"], card["color"]) == (
            "Invoice due", "Please pay by Friday", 0xE67E22,
        )  # fmt: skip
        assert card["fields"] == [{"name": "From", "value": "bank@x.org", "inline": True}]
        assert card["footer"] == {"text": "high importance"}


async def test_a_ping_names_only_the_person_asked_for() -> None:
    async with connected() as c:
        with trio.fail_after(10):
            await c.bridge.send_embed(
                "300",
                Embed(title="t"),
                nonce="n",
                content="<@42> @everyone",
                pings=Pings(users=("42",)),
            )
        [posted] = c.discord.posted
        assert posted.content == "<@42> @everyone"
        assert posted.allowed_mentions == {"parse": [], "users": [42]}  # nobody else


async def test_an_embed_past_discords_limits_is_cut_before_it_is_sent() -> None:
    async with connected() as c:
        embed = Embed(
            title="S" * 400,
            description="D" * 5000,
            fields=tuple(EmbedField(name=f"f{i}", value="V" * 1500) for i in range(30)),
        )
        with trio.fail_after(10):
            await c.bridge.send_embed("300", embed, nonce="long")
        [card] = c.discord.posted[0].embeds
        assert len(card["title"]) == 256 and card["title"].endswith("…")
        assert len(card["fields"]) <= 25
        assert all(len(field["value"]) <= 1024 for field in card["fields"])
        total = len(card["title"]) + len(card.get("description", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in card["fields"])
        assert total <= 6000


async def test_a_dm_channel_is_opened_once_per_person_and_an_unknown_one_is_refused() -> None:
    async with connected() as c:
        c.discord.unknown_users.add("404")
        with trio.fail_after(10):
            dm = await c.bridge.dm_channel("42")
            assert await c.bridge.dm_channel("42") == dm
            await c.bridge.send_embed(dm, Embed(title="for you"), nonce="dm-1")
            with pytest.raises(PlatformError, match="opening a DM with user 404 failed"):
                await c.bridge.dm_channel("404")
        assert c.discord.dm_channels == {"42": dm}
        assert [(p.channel_id, p.embeds[0]["title"]) for p in c.discord.posted] == [(dm, "for you")]
