"""FakeDiscord's REST history, read as Discord documents it (newest first, page by page)."""

from __future__ import annotations

import httpx
import pytest
import trio

from clara.testing import FakeDiscord


@pytest.mark.trio
async def test_channel_messages_come_newest_first_whether_after_or_before() -> None:
    fake = FakeDiscord()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(fake.serve)
        ids = [
            (await fake.post_message(f"m{n}", channel_id="300", deliver=False))["id"]
            for n in range(5)
        ]
        assert ids == sorted(ids, key=int)  # snowflakes grow
        async with httpx.AsyncClient(base_url=f"{url}/api/v10/channels") as rest:

            async def contents(channel: str = "300", **query: str) -> list[str]:
                answer = await rest.get(f"/{channel}/messages", params=query)
                assert answer.status_code == 200, answer.text
                return [message["content"] for message in answer.json()]

            assert await contents() == ["m4", "m3", "m2", "m1", "m0"]
            assert await contents(limit="2") == ["m4", "m3"]
            assert await contents(before=ids[3], limit="2") == ["m2", "m1"]
            assert await contents(after=ids[0], limit="2") == ["m2", "m1"]  # just after m0
            assert await contents(after=ids[1], before=ids[4]) == ["m3", "m2"]
            [served] = (await rest.get("/300/messages", params={"limit": "1"})).json()
            assert "guild_id" not in served and "member" not in served
            assert (await rest.get("/300/messages", params={"limit": "101"})).status_code == 400
            assert (await rest.get("/301/messages")).json()["code"] == 10003  # Unknown Channel
            fake.unreadable.add("300")
            assert (await rest.get("/300/messages")).json()["code"] == 50001  # Missing Access
            assert (await rest.get("/300")).json()["recipients"][0]["id"] == "1"  # a DM
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_message_sent_in_the_past_has_that_time_in_its_id() -> None:
    fake = FakeDiscord()
    message = await fake.post_message("old", deliver=False, sent_at=1_700_000_000.0)
    milliseconds = (int(message["id"]) >> 22) + 1_420_070_400_000
    assert milliseconds == 1_700_000_000_000
