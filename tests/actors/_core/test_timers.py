from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from clara.actors import Actor, DeadLetterReason, Overflow, Timer
from clara.supervisors import Backoff
from clara.testing import ActorTestKit
from tests.helpers import Crash


class Tick(msgspec.Struct, frozen=True):
    label: str


class Arm(msgspec.Struct, frozen=True):
    delay: float
    every: float | None = None


class Ticker(Actor):
    def __init__(self, log: list[Any], on_start_every: float | None = None) -> None:
        self.log = log
        self.on_start_every = on_start_every
        self.timers: list[Timer] = []

    async def on_start(self) -> None:
        if self.on_start_every is not None:
            self.context.send_every(self.on_start_every, Tick("periodic"))

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise ValueError("boom")
        if isinstance(message, Arm):
            if message.every is None:
                timer = self.context.send_after(message.delay, Tick("once"))
            else:
                timer = self.context.send_every(message.every, Tick("every"), first=message.delay)
            self.timers.append(timer)
            return timer
        self.log.append((message.label, trio.current_time(), self.context.incarnation))
        return None


@pytest.mark.trio
async def test_send_after_delivers_once_at_the_delay(autojump_clock: object) -> None:
    log: list[Any] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Ticker(log))
        timer = await ref.ask(Arm(2.5))
        await trio.sleep(10)
        assert log == [("once", 2.5, 1)]
        assert not timer.active
        assert kit.system.scheduler.live == 0


@pytest.mark.trio
async def test_send_every_ticks_at_a_fixed_rate_until_cancelled(autojump_clock: object) -> None:
    log: list[Any] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Ticker(log))
        timer = await ref.ask(Arm(1.0, every=2.0))
        await trio.sleep(6)
        assert [entry[1] for entry in log] == [1.0, 3.0, 5.0]
        timer.cancel()
        timer.cancel()
        await trio.sleep(10)
        assert len(log) == 3
        assert timer.ticks == 3
        assert kit.system.scheduler.live == 0


@pytest.mark.trio
async def test_a_restart_cancels_the_timers_of_the_old_incarnation(autojump_clock: object) -> None:
    log: list[Any] = []
    async with ActorTestKit(backoff=Backoff(min=0.5, jitter=0)) as kit:
        ref = await kit.spawn(lambda: Ticker(log, on_start_every=1.0))
        await trio.sleep(2.1)
        await ref.tell(Crash())
        await trio.sleep(2.0)
        # Ticks of incarnation 1 at 1 and 2; incarnation 2 started at 2.6, ticks at 3.6, 4.6.
        assert [(label, round(at, 1), inc) for label, at, inc in log] == [
            ("periodic", 1.0, 1),
            ("periodic", 2.0, 1),
            ("periodic", 3.6, 2),
        ]
        assert kit.system.scheduler.live == 1  # only the new incarnation's timer


@pytest.mark.trio
async def test_a_tick_that_finds_the_control_lane_full_is_dead_lettered(
    autojump_clock: object,
) -> None:
    class Slow(Ticker):
        async def on_receive(self, message: Any) -> Any:
            if isinstance(message, Tick):
                await trio.sleep(10)
            return await super().on_receive(message)

    log: list[Any] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(
            lambda: Slow(log, on_start_every=1.0),
            mailbox_capacity=1,
            overflow=Overflow.REJECT,
            control_capacity=2,
        )
        await trio.sleep(5.5)
        # Ticks go to the control lane, not the mailbox the outside overflow policy guards:
        # t=1 is being handled, t=2 and t=3 wait in the lane, t=4 and t=5 found it full.
        dropped = kit.dead_letters(DeadLetterReason.CONTROL_LANE_FULL)
        assert [letter.at for letter in dropped] == [4.0, 5.0]
        assert kit.dead_letters(DeadLetterReason.REJECTED) == []
        assert ref.statistics().dropped == 2
        assert ref.statistics().failed == 0


@pytest.mark.trio
async def test_a_crash_silences_the_timers_of_the_incarnation_during_the_backoff(
    autojump_clock: object,
) -> None:
    log: list[Any] = []
    async with ActorTestKit(backoff=Backoff(min=5.0, jitter=0)) as kit:
        ref = await kit.spawn(lambda: Ticker(log, on_start_every=1.0))
        await trio.sleep(1.5)
        await ref.tell(Crash())
        await trio.sleep(3)  # backing off until t=6.5: no tick is queued or dead-lettered
        assert ref.statistics().mailbox.control_depth == 0
        assert kit.dead_letters(DeadLetterReason.ACTOR_STOPPED) == []
        await trio.sleep(3.2)
        assert [(round(at, 1), inc) for _, at, inc in log] == [(1.0, 1), (7.5, 2)]


@pytest.mark.parametrize("delay", [-1, float("inf"), float("nan"), "soon"])
@pytest.mark.trio
async def test_timer_delays_are_validated(delay: Any) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Ticker([]))
        with pytest.raises(ValueError, match="timer delay must be"):
            await ref.ask(Arm(delay))
