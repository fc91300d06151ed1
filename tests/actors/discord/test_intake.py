"""The intake (issue 12, items 1-3): at start it resumes the channels holding unfinished
messages and catches up what was written while Clara was down, before live messages pass;
when Clara stops it is the first to stop taking them. On the fake bridge, in virtual time."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorRef
from clara.actors.discord import Intake, IntakeGate
from clara.adapters.chat import MessageReceived
from clara.config import DiscordSettings
from clara.store import Database, claim_message, finish_messages
from clara.testing import ActorTestKit, FakeBridge, incoming

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock


class Channels:
    """Stands in for the channels' supervisor: records which channels were started and what
    reached them, in order."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.received: list[str] = []

    async def ref(self, channel_id: str) -> ActorRef:
        self.started.append(channel_id)
        raise NotImplementedError  # the tests route through ``route`` below

    async def route(self, message: MessageReceived) -> None:
        self.received.append(message.message_id)


class Starts(Channels):
    async def ref(self, channel_id: str) -> ActorRef:
        self.started.append(channel_id)
        return None  # type: ignore[return-value]


def recorded(database: Database, message: MessageReceived, state: str | None = None) -> None:
    with database.unit_of_work() as session:
        claim_message(session, "discord", message.message_id, message.channel_id, b"x")
        if state is not None:
            finish_messages(session, "discord", [message.message_id], state)


async def intake(
    kit: ActorTestKit,
    database: Database,
    bridge: FakeBridge,
    channels: Channels,
    settings: DiscordSettings | None = None,
) -> tuple[ActorRef, IntakeGate]:
    gate = IntakeGate()
    gate.attach(channels.route)
    ref = await kit.spawn(
        lambda: Intake(
            gate,
            platform="discord",
            channel=channels.ref,
            history=bridge.history,
            database=database,
            settings=settings or DiscordSettings(),
        )
    )
    return ref, gate


async def connected(nursery: trio.Nursery, bridge: FakeBridge, route: Any) -> None:
    await nursery.start(bridge.run, route)


async def test_live_messages_wait_until_the_missed_ones_are_handed_over(
    autojump_clock: Clock, database: Database
) -> None:
    now = time.time()
    bridge, channels = FakeBridge(), Starts()
    heard = incoming("earlier", channel_id="c1", message_id="100", sent_at=now - 60)
    recorded(database, heard, "answered")
    missed = [
        incoming(f"missed {n}", channel_id="c1", message_id=str(101 + n), sent_at=now - 30)
        for n in range(3)
    ]
    for message in [heard, *missed]:
        bridge.remember(message)
    gate = IntakeGate()
    gate.attach(channels.route)
    async with trio.open_nursery() as nursery:
        async with ActorTestKit() as kit:
            await nursery.start(bridge.run, gate)
            live = incoming("live", channel_id="c1", message_id="200", sent_at=now)
            nursery.start_soon(bridge.deliver, live)  # arrives before the intake opens the gate
            await trio.sleep(1)
            assert channels.received == [] and gate.held == 1
            ref = await kit.spawn(
                lambda: Intake(
                    gate,
                    platform="discord",
                    channel=channels.ref,
                    history=bridge.history,
                    database=database,
                    settings=DiscordSettings(),
                )
            )
            await trio.sleep(1)
            assert channels.received == ["101", "102", "103", "200"]
            assert ref.statistics().details == {
                "phase": "open",
                "resumed_channels": 0,
                "caught_up": 4,
                "held": 0,
            }
        nursery.cancel_scope.cancel()


async def test_catch_up_skips_what_is_known_too_old_or_from_quiet_channels(
    autojump_clock: Clock, database: Database
) -> None:
    now = time.time()
    bridge, channels = FakeBridge(), Starts()
    recorded(database, incoming("heard", channel_id="c1", message_id="100"), "answered")
    known = incoming("known", channel_id="c1", message_id="101", sent_at=now)
    recorded(database, known, "answered")
    old = incoming("too old", channel_id="c1", message_id="102", sent_at=now - 3600)
    new = incoming("new", channel_id="c1", message_id="103", sent_at=now)
    quiet = incoming("nobody spoke to Clara here", channel_id="c9", message_id="104", sent_at=now)
    for message in [known, old, new, quiet]:
        bridge.remember(message)
    async with trio.open_nursery() as nursery:
        async with ActorTestKit() as kit:
            await nursery.start(bridge.run, channels.route)
            ref, gate = await intake(kit, database, bridge, channels)
            await trio.sleep(1)
            assert channels.received == ["103"]
            assert gate.is_open
            assert ref.statistics().details["caught_up"] == 1  # type: ignore[index]
        nursery.cancel_scope.cancel()


async def test_a_channel_whose_history_cannot_be_read_does_not_keep_the_gate_shut(
    autojump_clock: Clock, database: Database
) -> None:
    bridge, channels = FakeBridge(), Starts()
    recorded(database, incoming("heard", channel_id="c1", message_id="100"), "answered")
    bridge.refuse_history()
    async with trio.open_nursery() as nursery:
        async with ActorTestKit() as kit:
            await nursery.start(bridge.run, channels.route)
            _, gate = await intake(kit, database, bridge, channels)
            await trio.sleep(1)
            assert gate.is_open and channels.received == []
        nursery.cancel_scope.cancel()


async def test_channels_holding_unfinished_messages_are_started_first_and_the_stop_shuts_the_gate(
    autojump_clock: Clock, database: Database
) -> None:
    bridge, channels = FakeBridge(), Starts()
    recorded(database, incoming("waiting", channel_id="c2", message_id="100"))
    recorded(database, incoming("waiting too", channel_id="c1", message_id="101"))
    recorded(database, incoming("done", channel_id="c3", message_id="102"), "answered")
    async with trio.open_nursery() as nursery:
        async with ActorTestKit() as kit:
            await nursery.start(bridge.run, channels.route)
            ref, gate = await intake(kit, database, bridge, channels)
            await trio.sleep(1)
            assert channels.started == ["c2", "c1"]
            assert ref.statistics().details["resumed_channels"] == 2  # type: ignore[index]
            assert gate.is_open
            await kit.supervisor.stop()
            assert not gate.is_open
        nursery.cancel_scope.cancel()


async def test_without_catch_up_settings_nothing_is_read(
    autojump_clock: Clock, database: Database
) -> None:
    bridge, channels = FakeBridge(), Starts()
    recorded(database, incoming("heard", channel_id="c1", message_id="100"), "answered")
    bridge.remember(incoming("missed", channel_id="c1", message_id="101", sent_at=time.time()))
    async with trio.open_nursery() as nursery:
        async with ActorTestKit() as kit:
            await nursery.start(bridge.run, channels.route)
            _, gate = await intake(
                kit, database, bridge, channels, DiscordSettings(catchup_lookback=0.0)
            )
            await trio.sleep(1)
            assert gate.is_open and channels.received == []
        nursery.cancel_scope.cancel()
