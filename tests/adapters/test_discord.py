"""Clara on an offline Discord: discord.py against a fake gateway and REST API on loopback.

The tree is run.py's own (channels, gateway, LLM, store), inside the one trio-asyncio loop;
the model is the fake model server.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio_asyncio
from sqlalchemy import select
from sqlalchemy.orm import Session

import run
from clara.actors import ActorSystem
from clara.config import load_settings
from clara.health import Readiness
from clara.store import Database, make_engine, upgrade
from clara.store.models import InboxMessage
from clara.supervisors import DynamicSupervisor, Supervisor
from clara.testing import FakeDiscord, FakeLlmServer, Reply

TOKEN = "MTAxMDEwMTAxMDEw.GabcDE.fake-token-for-tests-0123456789"


@dataclass
class Online:
    discord: FakeDiscord
    model: FakeLlmServer
    root: Supervisor
    readiness: Readiness
    database: Database


@asynccontextmanager
async def online(
    tmp_path: Path, database: Database | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[Online]:
    discord, model = FakeDiscord(), FakeLlmServer(default=Reply("Hi from Clara."))
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    upgrade(engine)
    database = database or Database(engine)
    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        discord_url = await nursery.start(discord.serve)
        model_url = await nursery.start(model.serve)
        settings = load_settings(
            {
                "CLARA_DATA_DIR": str(tmp_path),
                "DISCORD_BOT_TOKEN": TOKEN,
                "CLARA_DISCORD_API_URL": f"{discord_url}/api/v10",
                "CLARA_DISCORD_GATEWAY_URL": discord_url.replace("http", "ws") + "/gateway",
                "CLARA_LOCAL_LLM_URL": f"{model_url}/v1",
                "CLARA_MEMORY_ENABLED": "false",
                "CLARA_STATUS_ENABLED": "false",
                **(env or {}),
            }
        )
        readiness = Readiness()
        system = ActorSystem("clara")
        root = run.build_tree(
            settings,
            system,
            readiness,
            time.time(),
            chat="discord",
            database=database,
            guild_ready_timeout=0.05,
        ).root
        with trio.fail_after(30):
            await nursery.start(root.run, system)
            await discord.connected.wait()
            await discord.add_guild("5", ("100", "200"))
        yield Online(discord, model, root, readiness, database)
        await root.stop()
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_dm_gets_a_reply(tmp_path: Path) -> None:
    async with online(tmp_path) as o:
        assert o.discord.identified_token == TOKEN
        assert o.readiness.evaluate()["discord"] is None
        sent = await o.discord.post_message("hello Clara", channel_id="300")
        with trio.fail_after(15):
            await o.discord.wait_posted(1)
        [reply] = o.discord.posted
        assert (reply.channel_id, reply.content) == ("300", "Hi from Clara.")
        assert reply.reference == sent["id"]
        assert reply.nonce and reply.enforce_nonce
        assert o.discord.typing  # the typing indicator was shown


@pytest.mark.trio
async def test_mention_mode_ignores_a_plain_message_and_answers_a_mention(tmp_path: Path) -> None:
    async with online(tmp_path) as o:
        await o.discord.post_message("just chatting", channel_id="100", guild_id="5")
        asked = await o.discord.post_message(
            "what time is it?", channel_id="100", guild_id="5", mention=True
        )
        with trio.fail_after(15):
            await o.discord.wait_posted(1)
        assert len(o.discord.posted) == 1
        assert o.discord.posted[0].reference == asked["id"]
        assert len(o.model.chat_requests()) == 1


def state_of(session: Session, message_id: str) -> str | None:
    return session.scalars(
        select(InboxMessage.state).where(InboxMessage.message_id == message_id)
    ).one_or_none()


@pytest.mark.trio
async def test_a_duplicated_message_create_and_the_same_after_a_restart_get_one_reply(
    tmp_path: Path,
) -> None:
    async with online(tmp_path) as o:
        await o.discord.post_message("hi", channel_id="300", message_id="4242")
        await o.discord.post_message("hi", channel_id="300", message_id="4242")
        barrier = await o.discord.post_message("barrier", channel_id="300")
        with trio.fail_after(15):
            await o.discord.wait_posted(2)
            # Its answer is recorded a moment after it is posted; a restart before that
            # would answer it again (posted once, by its nonce, but a second model call).
            while await o.database.write(state_of, barrier["id"]) != "answered":
                await trio.sleep(0.01)
        channels = o.root.child("channels")
        assert isinstance(channels, DynamicSupervisor)
        await channels.terminate_child("300")  # the channel's actor restarts from scratch
        await o.discord.post_message("hi", channel_id="300", message_id="4242")
        await o.discord.post_message("barrier two", channel_id="300")
        with trio.fail_after(15):
            await o.discord.wait_posted(3)
        assert [p.content for p in o.discord.posted] == ["Hi from Clara."] * 3
        # hi, barrier, barrier two: the restarted channel read the ids it had answered lately
        # when it started, so the replayed hi costs no model call.
        assert len(o.model.chat_requests()) == 3


@pytest.mark.trio
async def test_a_4500_character_answer_arrives_as_3_messages(tmp_path: Path) -> None:
    async with online(tmp_path) as o:
        o.model.script(Reply(("lorem ipsum " * 375).strip()))
        asked = await o.discord.post_message("write a lot", channel_id="300")
        with trio.fail_after(15):
            await o.discord.wait_posted(3)
        assert [len(p.content) <= 2000 for p in o.discord.posted] == [True] * 3
        assert [p.reference for p in o.discord.posted] == [asked["id"], None, None]
        assert len({p.nonce for p in o.discord.posted}) == 3


@pytest.mark.trio
async def test_slash_commands_are_registered_and_admin_ones_refused_to_others(
    tmp_path: Path,
) -> None:
    from sqlalchemy import select  # noqa: PLC0415

    from clara.store.models import AuditLogEntry  # noqa: PLC0415

    async with online(tmp_path) as o:
        assert {c["name"] for c in o.discord.commands} == {
            "clara",
            "channel",
            "model",
            "memory",
            "mcp",
            "email",
            "mailroom",
            "sandbox",
            "ors",
        }
        with trio.fail_after(15):
            refused = await o.discord.slash("channel", "mode", {"mode": "active"}, permissions="0")
            done = await o.discord.slash("channel", "mode", {"mode": "active"}, permissions="8")
            helped = await o.discord.slash("clara", "help", permissions="0")
        assert refused == "Only server administrators can change that."
        assert done == "Reply mode here is now active."
        assert "/memory clear" in helped
        assert all(flags & 64 for _, _, flags in o.discord.interaction_answers)  # ephemeral
        # Active mode now: a plain message in that channel gets a reply.
        await o.discord.post_message("no mention needed", channel_id="100", guild_id="5")
        with trio.fail_after(15):
            await o.discord.wait_posted(1)
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    with Database(engine).unit_of_work() as session:
        outcomes = [(e.action, e.outcome) for e in session.scalars(select(AuditLogEntry))]
    assert outcomes == [("channel.mode", "refused"), ("channel.mode", "done")]


@pytest.mark.trio
async def test_files_are_posted_as_attachments(tmp_path: Path) -> None:
    async with online(tmp_path) as o:
        await o.discord.add_guild("6", ("600",))
        bridge_send = o.root.ref("discord")  # the gateway actor holds the bridge
        actor = bridge_send._cell.actor
        await actor.bridge.send(  # type: ignore[union-attr]
            "600", "a chart", reply_to=None, nonce="n-1", files=[("chart.png", b"\x89PNG-data")]
        )
        [posted] = o.discord.posted
        assert posted.content == "a chart"
        assert posted.files == [("chart.png", b"\x89PNG-data")]


@pytest.mark.trio
async def test_mcp_servers_are_managed_with_slash_commands_and_used_in_a_conversation(
    tmp_path: Path,
) -> None:
    """/mcp install (admins only, audited) → the model calls the server's tool → the reply."""
    from sqlalchemy import select  # noqa: PLC0415

    from clara.store.models import AuditLogEntry, McpServer  # noqa: PLC0415
    from tests.actors.mcp.conftest import TOOLS_SERVER  # noqa: PLC0415

    env = {
        "CLARA_MCP_ALLOWED_SOURCES": "npm,path",
        "CLARA_MCP_PATH_ROOTS": str(TOOLS_SERVER.parent),
    }
    async with online(tmp_path, env=env) as o:
        source = {"source": f"path:{TOOLS_SERVER}", "name": "calc"}
        with trio.fail_after(60):
            refused = await o.discord.slash("mcp", "install", source, permissions="0")
            installed = await o.discord.slash("mcp", "install", source, permissions="8")
            listed = await o.discord.slash("mcp", "list", permissions="0")
        assert refused == "Only server administrators can install MCP servers."
        assert installed.startswith("Installed calc with 7 tools: echo, add,")
        assert "- calc (path:" in listed and ": on, 7 tools" in listed
        o.model.script(Reply(tool_calls=(("calc__add", {"a": 20, "b": 22}),)), Reply("It's 42."))
        await o.discord.post_message("what is 20+22?", channel_id="300")
        with trio.fail_after(30):
            await o.discord.wait_posted(2)  # the progress line, then the answer
        assert o.discord.posted[-1].content == "It's 42."
        tool_turn = o.model.chat_requests()[-1].body["messages"]
        assert any(m["role"] == "tool" and m["content"] == "42" for m in tool_turn)
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    with Database(engine).unit_of_work() as session:
        outcomes = [(e.action, e.outcome, e.actor) for e in session.scalars(select(AuditLogEntry))]
        names = list(session.scalars(select(McpServer.name)))
    assert outcomes == [
        ("mcp.install", "refused", "discord:1"),
        ("mcp.install", "done", "discord:1"),
        ("mcp.list", "done", "discord:1"),
    ]
    assert names == ["calc"]


@pytest.mark.trio
async def test_named_servers_get_the_slash_commands_at_once(tmp_path: Path) -> None:
    async with online(tmp_path, env={"CLARA_DISCORD_COMMAND_GUILDS": "5,6"}) as o:
        names = {
            "clara",
            "channel",
            "model",
            "memory",
            "mcp",
            "email",
            "mailroom",
            "sandbox",
            "ors",
        }
        assert {c["name"] for c in o.discord.commands} == names  # global, for DMs and the rest
        assert {
            guild: {c["name"] for c in cs} for guild, cs in o.discord.guild_commands.items()
        } == {
            "5": names,
            "6": names,
        }


@pytest.mark.trio
async def test_a_burst_into_one_channel_is_answered_in_the_order_it_was_sent(
    tmp_path: Path,
) -> None:
    async with online(tmp_path) as o:
        o.model.script(Reply("Hi from Clara.", delay=1.0))  # the rest queue behind the first
        sent = [
            await o.discord.post_message(
                f"question {n}",
                channel_id="100",
                guild_id="5",
                author_id=str(1000 + n),
                mention=True,
            )
            for n in range(20)
        ]
        with trio.fail_after(30):
            while len([p for p in o.discord.posted if p.content == "Hi from Clara."]) < 20:
                await o.discord.wait_posted(len(o.discord.posted) + 1)
        answers = [p.reference for p in o.discord.posted if p.content == "Hi from Clara."]
        assert answers == [message["id"] for message in sent]
        marked = [message_id for _, message_id, _ in o.discord.reactions]
        assert sorted(marked) == sorted(message["id"] for message in sent[1:])  # ⏳ on each queued
        notices = [p for p in o.discord.posted if p.content.startswith("I'm in the middle")]
        assert len(notices) == 1  # one line of text for the whole burst


@pytest.mark.trio
async def test_ors_runs_through_discord_and_the_person_s_choice_is_kept(tmp_path: Path) -> None:
    from clara.store._proactive import load_person  # noqa: PLC0415

    async with online(tmp_path) as o:
        with trio.fail_after(15):
            first = await o.discord.slash("ors", "status", {}, permissions="0")
            off = await o.discord.slash("ors", "disable", {"scope": "me"}, permissions="0")
            server = await o.discord.slash("ors", "disable", {"scope": "server"}, permissions="0")
            quiet = await o.discord.slash("ors", "quiet", {"hours": "21-07"}, permissions="0")
        assert "has not started looking out for you yet" in first
        assert "will not reach out to you" in off
        assert "Only server administrators" in server
        assert "Your quiet hours: 21-07" in quiet
        with o.database.unit_of_work() as session:
            person = load_person(session, "discord", "1")
        assert person is not None and not person.enabled and person.quiet_hours == "21-07"
