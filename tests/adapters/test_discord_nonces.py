"""Nonces on the offline Discord (issue 14, item 1): discord.py sends each piece's nonce with
``enforce_nonce``, the fake keeps them as Discord does, and every progress line of a reply
that calls six tools arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from clara.testing import Reply
from tests.adapters.test_discord import online

pytestmark = pytest.mark.trio

ZONES = ("UTC", "Europe/Paris", "Asia/Tokyo", "America/Lima", "Africa/Lagos", "Australia/Perth")


async def test_the_bridge_sends_nonces_with_enforce_nonce_and_a_repeat_is_not_posted(
    tmp_path: Path,
) -> None:
    async with online(tmp_path) as o:
        actor = o.root.ref("discord")._cell.actor  # the gateway actor holds the bridge
        bridge = actor.bridge  # type: ignore[union-attr]
        first = await bridge.send("300", "once", reply_to=None, nonce="n-1")
        again = await bridge.send("300", "once, retried", reply_to=None, nonce="n-1")
        other = await bridge.send("300", "another", reply_to=None, nonce="n-2")
        assert again == first != other  # Discord answers a repeat with the message it made
        assert [(p.content, p.nonce, p.enforce_nonce) for p in o.discord.posted] == [
            ("once", "n-1", True),
            ("another", "n-2", True),
        ]
        assert [p.content for p in o.discord.repeats] == ["once, retried"]


async def test_every_progress_line_of_a_six_tool_reply_arrives(tmp_path: Path) -> None:
    async with online(tmp_path) as o:
        calls = tuple(("clara__current_time", {"time_zone": zone}) for zone in ZONES)
        o.model.script(
            Reply(tool_calls=calls[:4]),  # four tools in one round, two in the next
            Reply(tool_calls=calls[4:]),
            Reply("Six clocks read."),
        )
        asked = await o.discord.post_message("what time is it everywhere?", channel_id="300")
        with trio.fail_after(30):
            await o.discord.wait_posted(7)
        contents = [p.content for p in o.discord.posted]
        assert contents == ["-# using clara__current_time…"] * 6 + ["Six clocks read."]
        assert o.discord.repeats == []  # no line was taken for a repeat of another
        assert all(p.enforce_nonce for p in o.discord.posted)
        assert len({p.nonce for p in o.discord.posted}) == 7
        assert [p.reference for p in o.discord.posted][-1] == asked["id"]
