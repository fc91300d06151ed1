"""FakeBridge: the DiscordGateway actor runs on it; messages in, posts out, no gateway."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.actors import ActorRef, ActorState
from clara.actors.channel import ChannelActor
from clara.actors.discord import DiscordGateway
from clara.actors.llm import LlmGatewayActor
from clara.adapters.chat import MessageReceived
from clara.adapters.llm import Gateway
from clara.errors import ChildStartError, PlatformError
from clara.store import Database
from clara.supervisors import ChildSpec, DynamicSupervisor
from clara.testing import (
    ActorTestKit,
    FakeBridge,
    FakeProvider,
    Reply,
    channel_dependencies,
    incoming,
)

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


async def test_the_gateway_connects_and_routes_each_message_to_its_channel(
    autojump_clock: Clock,
) -> None:
    bridge = FakeBridge(connect_delay=1.5)
    async with ActorTestKit() as kit:
        channel = await kit.probe()
        asked_for: list[str] = []

        async def channel_ref(channel_id: str) -> ActorRef:
            asked_for.append(channel_id)
            return channel.ref

        gateway = await kit.spawn(lambda: DiscordGateway(bridge, channel_ref))
        assert bridge.ready and trio.current_time() == 1.5
        message = incoming("hello", channel_id="42", mention=True)
        await bridge.deliver(message)
        assert await channel.expect(MessageReceived) == message
        assert asked_for == ["42"]
        details = gateway.statistics().details
        assert details == {"connected": True, "received": 1, "sent": 0, "refused": 0}


async def test_sends_are_recorded_once_per_nonce(autojump_clock: Clock) -> None:
    bridge = FakeBridge()

    async def route(message: MessageReceived) -> None:
        raise AssertionError("nothing is delivered here")

    async with trio.open_nursery() as nursery:
        await nursery.start(bridge.run, route)
        first = await bridge.send("42", "hi", reply_to="7", nonce="n1")
        again = await bridge.send("42", "hi", reply_to="7", nonce="n1")  # a retry
        await bridge.typing("42")
        assert (first, again) == ("sent-1", "dup-n1")
        assert [(sent.channel_id, sent.text, sent.reply_to) for sent in bridge.posted] == [
            ("42", "hi", "7")
        ]
        assert bridge.texts("42") == ["hi"] and bridge.typing_calls == 1
        nursery.cancel_scope.cancel()
    assert not bridge.ready
    with pytest.raises(PlatformError, match="discord: not connected"):
        await bridge.send("42", "anyone?", reply_to=None, nonce="n2")
    with pytest.raises(RuntimeError, match="not connected"):
        await bridge.deliver(incoming("hello"))


async def test_a_disconnect_crashes_the_gateway_which_reconnects_after_its_backoff(
    autojump_clock: Clock,
) -> None:
    bridge = FakeBridge()
    async with ActorTestKit() as kit:
        channel = await kit.probe()

        async def channel_ref(channel_id: str) -> ActorRef:
            return channel.ref

        gateway = await kit.spawn(lambda: DiscordGateway(bridge, channel_ref))
        await trio.sleep(10)
        bridge.disconnect("the gateway closed the connection (4000)")
        await trio.testing.wait_all_tasks_blocked()
        assert not bridge.ready
        assert gateway.statistics().state is ActorState.BACKING_OFF
        await bridge.wait_ready()
        assert trio.current_time() == 10.1  # the kit's backoff: 0.1 s
        stats = gateway.statistics()
        assert (stats.restarts, bridge.connections) == (1, 2)
        assert stats.last_failure is not None
        assert "the gateway closed the connection (4000)" in stats.last_failure.message
        await bridge.deliver(incoming("back again"))
        assert (await channel.expect(MessageReceived)).content == "back again"


async def test_a_refused_login_fails_the_gateway_start(autojump_clock: Clock) -> None:
    bridge = FakeBridge()
    bridge.refuse("login refused: improper token")

    async def channel_ref(channel_id: str) -> ActorRef:
        raise AssertionError("no message can arrive")

    async with ActorTestKit() as kit:
        with pytest.raises(ChildStartError, match="login refused: improper token"):
            await kit.spawn(lambda: DiscordGateway(bridge, channel_ref))
    assert (bridge.connections, bridge.ready) == (1, False)


async def test_a_message_delivered_to_the_bridge_is_answered_through_it(
    autojump_clock: Clock, database: Database
) -> None:
    bridge = FakeBridge()
    provider = FakeProvider(Reply("Hello from Clara.", delay=1))
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
        deps = channel_dependencies(bridge, llm, database=database)
        channels = DynamicSupervisor(lambda key: ChannelActor("discord", key, deps))
        await kit.supervisor.start_child(ChildSpec("channels", channels))
        await kit.spawn(lambda: DiscordGateway(bridge, channels.get_or_start))
        message = incoming("hi", channel_id="42", mention=True)
        await bridge.deliver(message)
        await bridge.wait_for(1)
        [posted] = bridge.posted
        assert (posted.channel_id, posted.text, posted.reply_to, posted.at) == (
            "42",
            "Hello from Clara.",
            message.message_id,
            1.0,
        )
        assert bridge.sent == 1 and bridge.typing_calls == 1


async def test_history_reads_back_what_was_delivered_or_remembered_in_order(
    autojump_clock: Clock,
) -> None:
    bridge = FakeBridge()
    routed: list[MessageReceived] = []

    async def route(message: MessageReceived) -> None:
        routed.append(message)

    seen, *away = [incoming(f"m{n}", channel_id="42", message_id=f"id{n}") for n in range(4)]
    elsewhere = incoming("other", channel_id="43")
    async with trio.open_nursery() as nursery:
        await nursery.start(bridge.run, route)
        await bridge.deliver(seen)
        for message in [*away, elsewhere]:
            bridge.remember(message)  # written while Clara was away: never routed
        assert routed == [seen]
        assert await bridge.history("42", after="id0", limit=10) == away
        assert await bridge.history("42", after="id0", limit=2) == away[:2]
        assert await bridge.history("42", after=None, limit=2) == away[1:]
        assert await bridge.history("44", after=None, limit=2) == []
        with pytest.raises(ValueError, match="limit must be at least 1; got 0"):
            await bridge.history("42", after=None, limit=0)
        bridge.refuse_history("reading channel 42 failed (403): Missing Access")
        with pytest.raises(PlatformError, match="403"):
            await bridge.history("42", after=None, limit=1)
        bridge.refuse_history(None)
        assert await bridge.history("42", after="id2", limit=1) == away[2:]
        nursery.cancel_scope.cancel()
    with pytest.raises(PlatformError, match="not connected"):
        await bridge.history("42", after=None, limit=1)


async def test_can_read_answers_what_the_test_allowed(autojump_clock: Clock) -> None:
    bridge = FakeBridge()

    async def route(message: MessageReceived) -> None:
        raise AssertionError("nothing is delivered here")

    async with trio.open_nursery() as nursery:
        await nursery.start(bridge.run, route)
        assert not await bridge.can_read("ada", "42")
        bridge.allow_reading("ada", "42", "43")
        assert await bridge.can_read("ada", "42") and await bridge.can_read("ada", "43")
        assert not await bridge.can_read("bob", "42")
        nursery.cancel_scope.cancel()
    with pytest.raises(PlatformError, match="not connected"):
        await bridge.can_read("ada", "42")
