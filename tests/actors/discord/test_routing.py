"""The ordered hand-off from the Discord connection to the channel actors (issue 12, item 4)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorRef, Overflow
from clara.actors.discord import OrderedRouter
from clara.adapters.chat import MessageReceived
from clara.errors import ChildStartError
from clara.supervisors import DynamicSupervisor
from clara.testing import ActorTestKit, Probe, incoming

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


def burst(channel_id: str, count: int) -> list[MessageReceived]:
    return [
        incoming(f"{channel_id} #{n}", channel_id=channel_id, message_id=f"{channel_id}-{n}")
        for n in range(count)
    ]


class Channels:
    """Probes as channel actors; a channel's start takes ``start_delay`` virtual seconds."""

    def __init__(self, kit: ActorTestKit, start_delay: float = 0.0) -> None:
        self.kit = kit
        self.start_delay = start_delay
        self.probes: dict[str, Probe] = {}
        self.started: dict[str, trio.Event] = {}
        self.starts: list[tuple[str, float]] = []
        self.refused = 0

    def _started(self, channel_id: str) -> trio.Event:
        return self.started.setdefault(channel_id, trio.Event())

    async def ref(self, channel_id: str) -> ActorRef:
        self.starts.append((channel_id, trio.current_time()))
        await trio.sleep(self.start_delay)
        if channel_id not in self.probes:
            self.probes[channel_id] = await self.kit.probe()
            self._started(channel_id).set()
        return self.probes[channel_id].ref

    def refuse(self) -> None:
        self.refused += 1

    async def received(self, channel_id: str, count: int) -> list[str]:
        await self._started(channel_id).wait()
        probe = self.probes[channel_id]
        return [(await probe.expect(MessageReceived)).message_id for _ in range(count)]


async def test_a_burst_into_a_starting_channel_reaches_its_actor_in_order(
    autojump_clock: Clock,
) -> None:
    async with ActorTestKit() as kit, trio.open_nursery() as nursery:
        channels = Channels(kit, start_delay=1.0)
        route = OrderedRouter(channels.ref, nursery.start_soon, channels.refuse)
        messages = burst("c1", 50)
        for message in messages:
            await route(message)
        assert await channels.received("c1", 50) == [m.message_id for m in messages]
        assert channels.starts == [("c1", 0.0)]  # one start, however many messages waited
        assert trio.current_time() == 1.0
        later = incoming("after", channel_id="c1", message_id="c1-later")
        await route(later)  # the actor is known now: told at once, no new start
        assert await channels.received("c1", 1) == ["c1-later"]
        assert len(channels.starts) == 1 and channels.refused == 0


async def test_a_slow_channel_start_holds_up_no_other_channel(autojump_clock: Clock) -> None:
    async with ActorTestKit() as kit, trio.open_nursery() as nursery:
        channels = Channels(kit)
        route = OrderedRouter(channels.ref, nursery.start_soon, channels.refuse)
        await route(incoming("warm", channel_id="fast", message_id="warm"))
        await channels.received("fast", 1)
        channels.start_delay = 30.0  # the next channel's actor reads a slow store
        await route(incoming("first", channel_id="slow", message_id="s1"))
        await route(incoming("meanwhile", channel_id="fast", message_id="f1"))
        assert await channels.received("fast", 1) == ["f1"]
        assert trio.current_time() == 0.0  # not behind the slow start
        assert await channels.received("slow", 1) == ["s1"]
        assert trio.current_time() == 30.0


async def test_a_starting_channel_buffers_a_bounded_number_and_refuses_the_rest(
    autojump_clock: Clock,
) -> None:
    async with ActorTestKit() as kit, trio.open_nursery() as nursery:
        channels = Channels(kit, start_delay=1.0)
        route = OrderedRouter(channels.ref, nursery.start_soon, channels.refuse, starting_buffer=10)
        for message in burst("c1", 15):
            await route(message)
        assert channels.refused == 5
        assert await channels.received("c1", 10) == [f"c1-{n}" for n in range(10)]


async def test_a_channel_whose_actor_cannot_start_refuses_what_waited_for_it(
    autojump_clock: Clock,
) -> None:
    async def broken(channel_id: str) -> ActorRef:
        await trio.sleep(1)
        raise ChildStartError("/clara/channels", channel_id, RuntimeError("store down"))

    refused: list[Any] = []
    async with ActorTestKit(), trio.open_nursery() as nursery:
        route = OrderedRouter(broken, nursery.start_soon, lambda: refused.append(1))
        for message in burst("c1", 3):
            await route(message)
        await trio.sleep(2)
        assert len(refused) == 3


async def test_a_channel_actor_stopped_for_good_is_started_again_for_its_next_message(
    autojump_clock: Clock,
) -> None:
    async with ActorTestKit() as kit, trio.open_nursery() as nursery:
        supervisor = DynamicSupervisor(lambda key: Probe(), overflow=Overflow.REJECT)
        await kit.start_supervisor(supervisor, name="channels")
        refused: list[Any] = []
        route = OrderedRouter(
            supervisor.get_or_start, nursery.start_soon, lambda: refused.append(1)
        )
        await route(incoming("one", channel_id="c1", message_id="1"))
        await trio.testing.wait_all_tasks_blocked()
        first = supervisor.get("c1")
        assert first is not None
        await first.stop()
        await route(incoming("two", channel_id="c1", message_id="2"))
        await trio.testing.wait_all_tasks_blocked()
        second = supervisor.get("c1")
        assert second is not None and second is not first
        assert refused == []


async def test_messages_for_a_channel_while_the_channels_are_down_are_refused_not_a_crash(
    autojump_clock: Clock,
) -> None:
    async def not_running(channel_id: str) -> ActorRef:
        raise RuntimeError("/clara/channels is not running")

    refused: list[Any] = []
    async with ActorTestKit(), trio.open_nursery() as nursery:
        route = OrderedRouter(not_running, nursery.start_soon, lambda: refused.append(1))
        await route(incoming("hello", channel_id="c1"))
        await trio.testing.wait_all_tasks_blocked()
        assert refused == [1]
