"""Channel actors over a fake transport, a real store, the real gateway and a fake model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorRef
from clara.actors.channel import ChannelActor, ChannelDependencies, Converse, SettingsChanged
from clara.actors.llm import LlmGatewayActor
from clara.actors.memory import MemoryActor
from clara.adapters.llm import Gateway
from clara.config import load_settings
from clara.store import (
    ChannelConfig,
    Database,
    GuildConfig,
    make_engine,
    save_channel_config,
    save_guild_config,
    upgrade,
)
from clara.supervisors import DynamicSupervisor
from clara.testing import (
    ActorTestKit,
    FakeLlmServer,
    FakeMemory,
    FakeTransport,
    Reply,
    incoming,
)
from tests.adapters.llm.harness import openai

NOTICE = "I'm in the middle of a reply; I'll answer what's marked \u23f3 in turn."


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    mock_clock.autojump_threshold = 0.2
    return mock_clock


@dataclass
class World:
    kit: ActorTestKit
    server: FakeLlmServer
    transport: FakeTransport
    database: Database
    memory: FakeMemory
    channels: DynamicSupervisor
    deps: ChannelDependencies

    async def channel(self, channel_id: str = "c1") -> ActorRef:
        return await self.channels.get_or_start(channel_id)


@asynccontextmanager
async def world(tmp_path: Path, **env: str) -> AsyncIterator[World]:
    settings = load_settings({"CLARA_DATA_DIR": str(tmp_path), **env})
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    upgrade(engine)
    database = Database(engine)
    server = FakeLlmServer(default=Reply("Hello from Clara."))
    store = FakeMemory()
    transport = FakeTransport()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        async with ActorTestKit() as kit:
            llm = await kit.spawn(
                lambda: LlmGatewayActor(lambda: Gateway([openai(url)]), check_interval=3600)
            )
            memory = await kit.spawn(lambda: MemoryActor(lambda: store))
            deps = ChannelDependencies(
                transport=transport,
                llm=llm,
                discord=settings.discord,
                llm_settings=settings.llm,
                database=database,
                memory=memory,
            )
            channels = DynamicSupervisor(lambda key: ChannelActor("discord", key, deps))
            await kit.supervisor.start_child(_spec("channels", channels))
            yield World(kit, server, transport, database, store, channels, deps)
        nursery.cancel_scope.cancel()
    database.dispose()


def _spec(name: str, supervisor: Any) -> Any:
    from clara.supervisors import ChildSpec  # noqa: PLC0415

    return ChildSpec(name, supervisor)


@pytest.mark.trio
async def test_a_dm_gets_a_reply_that_quotes_the_message(clock: object, tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        channel = await w.channel("dm-ada")
        message = incoming("hi Clara", channel_id="dm-ada", is_dm=True)
        assert await channel.ask(Converse(message=message)) == "Hello from Clara."
        [sent] = w.transport.sent
        assert (sent.text, sent.reply_to, sent.channel_id) == (
            "Hello from Clara.",
            message.message_id,
            "dm-ada",
        )
        body = w.server.chat_requests()[0].body
        system = body["messages"][0]["content"]
        assert "You are Clara" in system and "where Ada is (UTC)" in system
        assert body["messages"][-1]["content"] == "Ada: hi Clara"


@pytest.mark.trio
async def test_mention_mode_ignores_plain_messages_and_answers_mentions(
    clock: object, tmp_path: Path
) -> None:
    async with world(tmp_path) as w:
        channel = await w.channel()
        assert await channel.ask(Converse(message=incoming("just chatting"))) is None
        assert await channel.ask(Converse(message=incoming("you there?", mention=True))) == (
            "Hello from Clara."
        )
        assert len(w.transport.sent) == 1
        assert channel.statistics().details["ignored"] == 1


@pytest.mark.trio
async def test_a_duplicated_event_and_the_same_after_a_restart_get_one_reply(
    clock: object, tmp_path: Path
) -> None:
    async with world(tmp_path) as w:
        channel = await w.channel()
        message = incoming("hello", mention=True, message_id="777")
        await channel.ask(Converse(message=message))
        assert await channel.ask(Converse(message=message)) is None  # redelivered
        await w.channels.terminate_child("c1")
        again = await w.channel()  # a new incarnation, the same store
        assert again != channel
        assert await again.ask(Converse(message=message)) is None
        assert len(w.transport.sent) == 1
        assert len(w.server.chat_requests()) == 1


@pytest.mark.trio
async def test_a_4500_character_answer_arrives_as_3_chunks(clock: object, tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.server.script(Reply(("word " * 900).strip()))
        channel = await w.channel()
        message = incoming("tell me everything", mention=True)
        await channel.ask(Converse(message=message))
        assert [len(s.text) <= 2000 for s in w.transport.sent] == [True] * 3
        assert [s.reply_to for s in w.transport.sent] == [message.message_id, None, None]
        assert len({s.nonce for s in w.transport.sent}) == 3
        assert sum(len(s.text) for s in w.transport.sent) >= 4400


@pytest.mark.trio
async def test_a_stop_phrase_cancels_a_slow_reply_and_the_queue(
    clock: object, tmp_path: Path
) -> None:
    async with world(tmp_path) as w:
        w.server.script(Reply("too late", delay=60))
        channel = await w.channel()
        answers: list[Any] = []

        async def converse(text: str) -> None:
            answers.append(await channel.ask(Converse(message=incoming(text, mention=True))))

        w.kit.start_soon(converse, "write me a novel")
        await trio.sleep(1)
        w.kit.start_soon(converse, "and another")
        await trio.sleep(1)
        assert w.transport.texts() == [NOTICE]  # one line for the burst, ⏳ on the message
        assert [emoji for *_, emoji, _ in w.transport.reactions] == ["\u23f3"]
        start = trio.current_time()
        assert (
            await channel.ask(Converse(message=incoming("clara stop", mention=True))) == "Stopped."
        )
        await trio.sleep(120)
        assert trio.current_time() - start >= 120
        assert "too late" not in w.transport.texts()
        assert "Stopped." in w.transport.texts()
        assert answers == ["Stopped.", "Stopped."]  # the running one and the queued one
        assert len(w.server.chat_requests()) == 1  # the queued one was dropped, not answered


@pytest.mark.trio
async def test_a_flood_stays_bounded_and_another_channel_is_answered_meanwhile(
    clock: object, tmp_path: Path
) -> None:
    async with world(tmp_path, CLARA_CHANNEL_MAILBOX="20", CLARA_DISCORD_USER_RATE="10000") as w:
        w.server.script(Reply("slow answer", delay=30))
        flooded = await w.channel("busy")
        for n in range(1000):
            await flooded.tell(
                incoming(f"spam {n}", channel_id="busy", mention=True, author=f"user{n % 50}")
            )
        await trio.sleep(1)
        details = flooded.statistics().details
        assert details["queued"] == 20  # the rest were refused, not hoarded
        assert details["busy"] == 1000 - 1 - 20
        busy_notices = [t for t in w.transport.texts("busy") if "busy with a backlog" in t]
        assert len(busy_notices) == 1  # one notice, not 979
        quiet = await w.channel("quiet")
        start = trio.current_time()
        reply = await quiet.ask(
            Converse(message=incoming("hello?", channel_id="quiet", mention=True))
        )
        assert reply == "Hello from Clara."
        assert trio.current_time() - start < 1  # not behind the flood


@pytest.mark.trio
async def test_the_rate_limit_gives_one_short_notice(clock: object, tmp_path: Path) -> None:
    async with world(tmp_path, CLARA_DISCORD_USER_RATE="2") as w:
        channel = await w.channel()
        for n in range(5):
            await channel.ask(Converse(message=incoming(f"msg {n}", mention=True)))
        notices = [t for t in w.transport.texts() if "faster than I can answer" in t]
        assert len(notices) == 1
        assert channel.statistics().details["rate_limited"] == 3


@pytest.mark.trio
async def test_per_server_settings_are_stored_and_enforced(clock: object, tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        with w.database.unit_of_work() as session:
            save_guild_config(
                session, "discord", "g1", GuildConfig(default_tier="high", allowed_channels=["c1"])
            )
            save_channel_config(session, "discord", "c1", ChannelConfig(reply_mode="active"))
        channel = await w.channel("c1")
        await channel.tell(SettingsChanged())
        # Active mode: a plain message gets a reply, at the server's default tier.
        assert await channel.ask(Converse(message=incoming("plain words"))) == "Hello from Clara."
        assert w.server.chat_requests()[-1].body["model"] == "big"
        # A channel the server does not allow gets nothing.
        other = await w.channel("c2")
        assert (
            await other.ask(Converse(message=incoming("hi", channel_id="c2", mention=True))) is None
        )
        # A tier prefix wins over the default.
        await channel.ask(Converse(message=incoming("!low quick one")))
        assert w.server.chat_requests()[-1].body["model"] == "small"
        assert w.server.chat_requests()[-1].body["messages"][-1]["content"] == "Ada: quick one"


@pytest.mark.trio
async def test_after_a_reply_the_exchange_is_stored_and_remembered(
    clock: object, tmp_path: Path
) -> None:
    from clara.store import recent_history  # noqa: PLC0415

    async with world(tmp_path) as w:
        channel = await w.channel()
        await channel.ask(Converse(message=incoming("I love green tea", mention=True)))
        await trio.sleep(5)  # the memory batch window (and the store's writer: not waited for)
        with w.database.unit_of_work() as session:
            history = recent_history(session, "discord", "c1", 10)
        assert [(h.role, h.name, h.content) for h in history] == [
            ("user", "Ada", "I love green tea"),
            ("assistant", "Clara", "Hello from Clara."),
        ]
        assert w.memory.memories["discord:ada"] == ["I love green tea"]
        # The next reply sees the history and the memory.
        await channel.ask(Converse(message=incoming("what do I like? tea", mention=True)))
        system = w.server.chat_requests()[-1].body["messages"][0]["content"]
        assert "- I love green tea" in system
        contents = [m["content"] for m in w.server.chat_requests()[-1].body["messages"]]
        assert "Ada: I love green tea" in contents


@pytest.mark.trio
async def test_with_no_model_people_hear_what_to_set(clock: object, tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.server.script(*[__import__("clara.testing", fromlist=["Fail"]).Fail(401)] * 3)
        channel = await w.channel()
        reply = await channel.ask(Converse(message=incoming("hello", mention=True)))
        assert "can't reach a language model" in reply or "OPENROUTER_API_KEY" in reply


@pytest.mark.trio
async def test_attachments_reach_the_model(clock: object, tmp_path: Path) -> None:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    from clara.adapters.chat import Attachment  # noqa: PLC0415

    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000)).save(buffer, format="PNG")
    async with world(tmp_path) as w:
        channel = await w.channel()
        message = msgspec_replace(
            incoming("what is in these?", mention=True),
            attachments=(
                Attachment(
                    filename="todo.txt", content_type="text/plain", size=9, data=b"buy milk\n"
                ),
                Attachment(
                    filename="shot.png",
                    content_type="image/png",
                    size=len(buffer.getvalue()),
                    data=buffer.getvalue(),
                ),
            ),
        )
        await channel.ask(Converse(message=message))
        last = w.server.chat_requests()[-1].body["messages"][-1]["content"]
        assert last[0]["type"] == "text"
        assert "Attached file todo.txt:\n```\nbuy milk" in last[0]["text"]
        assert last[1]["type"] == "image_url"
        assert last[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def msgspec_replace(message: Any, **changes: Any) -> Any:
    import msgspec  # noqa: PLC0415

    return msgspec.structs.replace(message, **changes)


@pytest.mark.trio
async def test_the_time_is_given_in_the_persons_own_time_zone(
    clock: object, tmp_path: Path
) -> None:
    from clara.store import ensure_user  # noqa: PLC0415

    async with world(tmp_path) as w:
        with w.database.unit_of_work() as session:
            ensure_user(session, "discord", "ada", "Ada").time_zone = "Asia/Tokyo"
        channel = await w.channel()
        await channel.ask(Converse(message=incoming("what day is it?", mention=True)))
        system = w.server.chat_requests()[-1].body["messages"][0]["content"]
        assert "where Ada is (Asia/Tokyo)" in system


@pytest.mark.trio
async def test_a_reply_to_one_of_clara_s_messages_carries_what_it_answers(
    clock: object, tmp_path: Path
) -> None:
    async with world(tmp_path) as w:
        w.server.script(Reply("The capital of Peru is Lima."))
        channel = await w.channel("dm-ada")
        await channel.ask(
            Converse(message=incoming("capital of Peru?", channel_id="dm-ada", is_dm=True))
        )
        clara_message_id = "sent-1"  # what the fake transport answered for Clara's reply
        follow_up = msgspec_replace(
            incoming("and its population?", channel_id="dm-ada", is_dm=True),
            reply_to_id=clara_message_id,
        )
        await channel.ask(Converse(message=follow_up))
        last = w.server.chat_requests()[-1].body["messages"][-1]["content"]
        assert last == "(replying to: The capital of Peru is Lima.)\nAda: and its population?"


@pytest.mark.trio
async def test_older_messages_are_folded_into_a_stored_summary(
    clock: object, tmp_path: Path
) -> None:
    from clara.store import conversation_summary  # noqa: PLC0415

    async with world(tmp_path) as w:
        w.deps.history_window = 4
        w.deps.summarize_after = 4
        channel = await w.channel()
        for n in range(5):
            await channel.ask(Converse(message=incoming(f"fact number {n}", mention=True)))
        await trio.sleep(1)  # the summary is made in the background
        summaries = [
            r
            for r in w.server.chat_requests()
            if "Summarize this conversation" in r.body["messages"][0]["content"]
        ]
        assert len(summaries) == 1
        assert "Ada: fact number 0" in summaries[0].body["messages"][1]["content"]
        assert summaries[0].body["model"] == "small"  # the low tier
        with w.database.unit_of_work() as session:
            assert conversation_summary(session, "discord", "c1") == "Hello from Clara."
        # The next reply sees the summary in its context.
        await channel.ask(Converse(message=incoming("and now?", mention=True)))
        system = [
            r
            for r in w.server.chat_requests()
            if "You are Clara" in r.body["messages"][0]["content"]
        ][-1]
        assert (
            "Earlier in this conversation: Hello from Clara."
            in (system.body["messages"][0]["content"])
        )


@pytest.mark.trio
async def test_files_a_tool_made_are_attached_to_the_reply(clock: object, tmp_path: Path) -> None:
    from clara.adapters.llm import ToolSpec  # noqa: PLC0415
    from clara.tools import ToolFile, ToolOutput, ToolRegistry  # noqa: PLC0415

    class Charts:
        name = "charts"

        def specs(self) -> list[ToolSpec]:
            return [ToolSpec(name="plot", description="draws a chart")]

        async def call(self, tool: str, arguments: dict[str, Any]) -> ToolOutput:
            return ToolOutput(text="drew it", files=[ToolFile(name="chart.png", data=b"PNG...")])

    def tools(message: Any) -> ToolRegistry:
        registry = ToolRegistry()
        registry.register(Charts())
        return registry

    async with world(tmp_path) as w:
        w.deps.tools_for = tools
        w.server.script(Reply(tool_calls=(("charts__plot", {}),)), Reply("Here is your chart."))
        channel = await w.channel()
        await channel.ask(Converse(message=incoming("plot it", mention=True)))
        replies = [s for s in w.transport.sent if s.text == "Here is your chart."]
        assert replies[0].files == (("chart.png", b"PNG..."),)
        tool_turn = [
            m for m in w.server.chat_requests()[-1].body["messages"] if m["role"] == "tool"
        ]
        assert tool_turn[0]["content"] == "drew it\n[files attached to your reply: chart.png]"
