"""The channels' one HTTP client: injected through ChannelDependencies, never closed by one."""

from __future__ import annotations

import logging

import httpx
import msgspec
import pytest
import trio
import trio.testing

from clara.actors.channel import ChannelActor, Converse
from clara.actors.llm import LlmGatewayActor
from clara.adapters.chat import Attachment, MessageReceived
from clara.adapters.llm import Gateway
from clara.store import Database
from clara.supervisors import ChildSpec, DynamicSupervisor
from clara.testing import (
    ActorTestKit,
    FakeProvider,
    FakeTransport,
    Reply,
    channel_dependencies,
    incoming,
)

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


def with_script(channel_id: str, url: str) -> MessageReceived:
    """A mention in ``channel_id`` with a Python file attached by URL (as Discord sends it)."""
    script = Attachment(filename="hello.py", content_type="text/x-python", size=14, url=url)
    return msgspec.structs.replace(
        incoming("what does this do?", channel_id=channel_id, mention=True),
        attachments=(script,),
    )


async def test_two_channels_share_the_one_client_and_stopping_one_leaves_it_open(
    autojump_clock: Clock, database: Database
) -> None:
    fetched: list[str] = []

    def files(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path)
        return httpx.Response(200, text="print('hello')")

    provider = FakeProvider(default=Reply("It prints hello."))
    transport = FakeTransport()
    async with httpx.AsyncClient(transport=httpx.MockTransport(files)) as http:
        async with ActorTestKit() as kit:
            llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
            deps = channel_dependencies(transport, llm, database=database, http=http)
            channels = DynamicSupervisor(lambda key: ChannelActor("discord", key, deps))
            await kit.supervisor.start_child(ChildSpec("channels", channels))
            first = await channels.get_or_start("c1")
            second = await channels.get_or_start("c2")
            await first.ask(Converse(message=with_script("c1", "https://cdn.test/1/hello.py")))
            await second.ask(Converse(message=with_script("c2", "https://cdn.test/2/hello.py")))
            assert fetched == ["/1/hello.py", "/2/hello.py"]  # both through the one client
            await channels.terminate_child("c1")
            assert not http.is_closed
            await second.ask(Converse(message=with_script("c2", "https://cdn.test/3/hello.py")))
            assert fetched[-1] == "/3/hello.py"
            assert all("print('hello')" in text for text in provider.texts())
        assert not http.is_closed  # not even the whole tree stopping closes it: its owner does
    assert transport.texts() == ["It prints hello."] * 3


async def test_without_a_client_an_attachment_url_is_skipped_with_a_note_and_a_warning(
    autojump_clock: Clock, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    provider = FakeProvider(default=Reply("I cannot see the file."))
    transport = FakeTransport()
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
        deps = channel_dependencies(transport, llm, database=database)
        channel = await kit.spawn(lambda: ChannelActor("discord", "c1", deps))
        message = with_script("c1", "https://cdn.test/1/hello.py")
        with caplog.at_level(logging.WARNING, logger="clara.actors.channel.actor"):
            assert await channel.ask(Converse(message=message)) == "I cannot see the file."
    [asked] = provider.texts()
    assert (
        "(the file hello.py could not be read: no HTTP client is configured to download it)"
        in asked
    )
    [warning] = [r for r in caplog.records if r.name == "clara.actors.channel.actor"]
    assert f"channel c1: message {message.message_id} has attachments to download" in (
        warning.getMessage()
    )


async def test_without_a_client_an_attachment_that_carries_its_data_is_still_read(
    autojump_clock: Clock, database: Database
) -> None:
    provider = FakeProvider(default=Reply("It prints hello."))
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
        deps = channel_dependencies(FakeTransport(), llm, database=database)
        channel = await kit.spawn(lambda: ChannelActor("console", "c1", deps))
        script = Attachment(
            filename="hello.py", content_type="text/x-python", size=14, data=b"print('hello')"
        )
        message = msgspec.structs.replace(
            incoming("what does this do?", mention=True), attachments=(script,)
        )
        assert await channel.ask(Converse(message=message)) == "It prints hello."
    assert "Attached file hello.py:\n```\nprint('hello')\n```" in provider.texts()[0]
