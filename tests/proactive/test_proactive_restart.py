"""A proactive message is sent exactly once through a kill -9 (issue 17, "Exactly once"), with
real processes: ``python run.py`` against the fake Discord and the fake model server, on
loopback in this test's process, with its SQLite store read and nudged through ``sqlite3``.

A person talks to Clara; the test makes their check due; the model decides SPEAK; Clara
records the claim and posts it to their DM, and is killed while that post is in flight:

- before Discord made it (the post is held on its way in, never made), or
- after Discord made it but before Clara heard back (``stall_posts``: made, unanswered).

After a restart the claim is resumed with the same nonce: the person sees exactly one
message, and the claim is ``delivered`` with that message's id.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from starlette.requests import Request
from starlette.responses import Response

from clara.adapters.chat import nonce_for
from clara.testing import FakeDiscord, FakeLlmServer, Reply
from clara.testing._fake_llm import Step
from tests.test_deploys import World, eventually

pytestmark = pytest.mark.trio

PERSON = "1"
SAID = "How did the interview go yesterday? I've been thinking of you."
DECISION = json.dumps(
    {
        "assessment": "They mentioned an interview; a short follow-up is welcome.",
        "decision": "SPEAK",
        "message": SAID,
        "message_kind": "follow_up",
        "confidence": 0.9,
        "next_check_minutes": 120,
    }
)
ENV = {
    "CLARA_PROACTIVE_TICK_SECONDS": "0.5",
    "CLARA_PROACTIVE_QUIET_HOURS": "00-00",  # whatever the hour the test runs at
}
_STORED_MOMENT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$")


@dataclass
class HoldingDiscord(FakeDiscord):
    """The fake Discord, able to hold posts to DM channels on their way in (``hold_dms``):
    held, a post is never made (its sender waits until it dies)."""

    hold_dms: bool = False
    held: int = 0

    async def _post(self, request: Request) -> Response:
        if self.hold_dms and request.path_params["channel_id"] in self.dm_channels.values():
            self.held += 1
            await trio.sleep_forever()
        return await super()._post(request)


@dataclass
class CheckingModel(FakeLlmServer):
    """The fake model; a proactive check (its system message) is answered ``decision``."""

    decision: Step = field(default_factory=lambda: Reply(DECISION))
    checks: int = 0

    async def _take(self, request: Request) -> tuple[Step, dict[str, Any]]:
        step, body = await super()._take(request)
        first = json.dumps([body.get("system"), body.get("messages", [])[:1]])
        if "You decide whether Clara, an AI companion, should reach out" in first:
            self.checks += 1
            return self.decision, body
        return step, body


@asynccontextmanager
async def proactive_world(tmp_path: Path) -> AsyncIterator[tuple[World, HoldingDiscord]]:
    discord, model = HoldingDiscord(), CheckingModel(default=Reply("Good luck today!"))
    async with trio.open_nursery() as nursery:
        discord_url = await nursery.start(discord.serve)
        model_url = await nursery.start(model.serve)
        yield World(discord, model, discord_url, model_url, tmp_path, ENV, nursery), discord
        nursery.cancel_scope.cancel()


def _query(data: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "clara.db", timeout=5) as connection:
        return connection.execute(sql, args).fetchall()


def claims(data: Path) -> list[tuple[str, str, str, str | None, str]]:
    """(state, idempotency key, channel, posted message id, text) of every proactive message."""
    rows = _query(
        data,
        "SELECT state, idempotency_key, channel_id, platform_message_id, content"
        " FROM proactive_messages ORDER BY id",
    )
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def person_row(data: Path) -> str | None:
    """The person's stored ``next_check_at`` (as the column stores it), None: no row yet."""
    if not (data / "clara.db").exists():
        return None
    rows = _query(
        data,
        "SELECT p.next_check_at FROM proactive_people p JOIN users u ON u.id = p.user_id"
        " WHERE u.platform = 'discord' AND u.platform_user_id = ?",
        PERSON,
    )
    return str(rows[0][0]) if rows else None


async def talk_and_make_due(w: World) -> None:
    """The person writes and is answered; their check is then made due now."""
    asked = await w.post("I have a job interview tomorrow, wish me luck", author=PERSON)
    await eventually(lambda: w.replies_to(asked) != [], "the answer")
    await eventually(lambda: person_row(w.data) is not None, "the person's proactive row")
    stored = person_row(w.data)
    assert stored is not None and _STORED_MOMENT.match(stored), stored  # naive UTC, SQLite's
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).replace(tzinfo=None)
    _query(
        w.data,
        "UPDATE proactive_people SET next_check_at = ? WHERE user_id ="
        " (SELECT id FROM users WHERE platform = 'discord' AND platform_user_id = ?)",
        due.strftime("%Y-%m-%d %H:%M:%S.%f"),
        PERSON,
    )


async def dm_history(w: World, channel_id: str) -> list[dict[str, Any]]:
    """The DM channel's messages as Discord serves them (what the person sees)."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{w.discord_url}/api/v10/channels/{channel_id}/messages")
        answer.raise_for_status()
        messages: list[dict[str, Any]] = answer.json()
        return messages


async def restart_and_check_sent_once(
    w: World, discord: HoldingDiscord
) -> list[tuple[str, str | None]]:
    """Start Clara again; the claim is delivered; exactly one message in the person's DM.
    Returns the DM posts Discord dropped as repeats of a used nonce (text, nonce), and
    checks that any such nonce is the claim's."""
    async with w.clara() as clara:
        await eventually(lambda: claims(w.data)[0][0] == "delivered", "the resumed delivery")
        assert await clara.terminate() == 0
    [(state, key, channel, posted_id, text)] = claims(w.data)
    assert (state, text) == ("delivered", SAID)
    dm = discord.dm_channels[PERSON]
    assert channel == dm
    made = [p for p in discord.posted if p.channel_id == dm]
    assert len(made) == 1, [(p.content, p.nonce) for p in made]  # the person sees it once
    assert [(p.content, p.nonce, p.enforce_nonce) for p in made] == [
        (SAID, nonce_for(key, 0), True)
    ]
    history = await dm_history(w, dm)
    assert [(m["id"], m["content"]) for m in history] == [(posted_id, SAID)]
    assert isinstance(w.model, CheckingModel) and w.model.checks == 1  # decided once, not again
    repeats = [(p.content, p.nonce) for p in discord.repeats if p.channel_id == dm]
    assert all(repeat == (SAID, nonce_for(key, 0)) for repeat in repeats), repeats
    return repeats


async def test_killed_before_the_post_is_made_it_is_sent_once_after_a_restart(
    tmp_path: Path,
) -> None:
    async with proactive_world(tmp_path) as (w, discord):
        async with w.clara() as clara:
            await talk_and_make_due(w)
            discord.hold_dms = True
            await eventually(
                lambda: [c[0] for c in claims(w.data)] == ["claimed"] and discord.held >= 1,
                "the claim recorded and its post on its way",
            )
            clara.kill()
            await clara.process.wait()
        discord.hold_dms = False
        assert [c[0] for c in claims(w.data)] == ["claimed"]
        assert [p for p in discord.posted if p.channel_id in discord.dm_channels.values()] == []

        repeats = await restart_and_check_sent_once(w, discord)
        assert repeats == []  # the first post never reached Discord: nothing to drop


async def test_killed_after_the_post_was_made_it_is_not_sent_again_after_a_restart(
    tmp_path: Path,
) -> None:
    async with proactive_world(tmp_path) as (w, discord):
        async with w.clara() as clara:
            await talk_and_make_due(w)
            discord.stall_posts(after=len(discord.posted))  # made, never answered
            await eventually(
                lambda: (
                    [c[0] for c in claims(w.data)] == ["claimed"]
                    and any(p.channel_id in discord.dm_channels.values() for p in discord.posted)
                ),
                "the claim recorded and its post made",
            )
            clara.kill()  # before Clara heard that Discord made it
            await clara.process.wait()
        discord.stall_posts(None)
        assert [c[0] for c in claims(w.data)] == ["claimed"]

        repeats = await restart_and_check_sent_once(w, discord)
        assert len(repeats) == 1  # the resumed post, dropped by Discord for its nonce
