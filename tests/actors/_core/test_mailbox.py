import math
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from clara.actors import Actor, DeadLetterReason, Mailbox, Overflow, Restarted
from clara.errors import MailboxFull
from clara.supervisors import Backoff
from clara.testing import ActorTestKit
from tests.helpers import Block, Crash, Ping, Recorder


@pytest.mark.parametrize("capacity", [0, -1, math.inf, float("nan"), 1.5, True, "10", None])
def test_mailbox_capacity_must_be_a_positive_finite_int(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox(capacity)  # type: ignore[arg-type]


def test_mailbox_overflow_must_be_an_overflow_policy() -> None:
    with pytest.raises(ValueError, match="overflow must be an Overflow .*got 'drop'"):
        Mailbox(10, "drop")  # type: ignore[arg-type]


def test_an_idle_mailbox_holds_no_queue_until_the_first_message() -> None:
    mailbox = Mailbox(10)
    assert mailbox._queue is None
    assert len(mailbox) == 0
    assert mailbox.statistics().depth == 0


async def _blocked(kit: ActorTestKit, capacity: int, overflow: Overflow) -> tuple:
    gate = trio.Event()
    actor = Recorder(gate=gate)
    ref = await kit.spawn(actor, mailbox_capacity=capacity, overflow=overflow)
    await ref.tell(Block())
    await trio.testing.wait_all_tasks_blocked()  # the actor is now inside Block
    return ref, actor, gate


@pytest.mark.trio
async def test_backpressure_makes_the_sender_wait_for_room(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref, actor, gate = await _blocked(kit, 2, Overflow.BACKPRESSURE)
        await ref.tell(Ping(1))
        await ref.tell(Ping(2))
        with pytest.raises(MailboxFull, match="backpressure"):
            ref.tell_nowait(Ping(3))
        sent = trio.Event()

        async def third() -> None:
            await ref.tell(Ping(3))
            sent.set()

        kit.start_soon(third)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        assert ref.statistics().mailbox.waiting_senders == 1
        gate.set()
        await sent.wait()
        await ref.ask(Ping(4))
        assert [m.n for m in actor.handled[1:]] == [1, 2, 3, 4]
        assert kit.dead_letters() == []


@pytest.mark.trio
async def test_reject_raises_mailbox_full_at_once_and_dead_letters(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref, actor, gate = await _blocked(kit, 1, Overflow.REJECT)
        await ref.tell(Ping(1))
        with pytest.raises(MailboxFull, match="mailbox full"):
            await ref.tell(Ping(2))
        letters = kit.dead_letters(DeadLetterReason.REJECTED)
        assert [letter.message for letter in letters] == [Ping(2)]
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        await ref.ask(Ping(3))
        assert [m.n for m in actor.handled[1:]] == [1, 3]
        assert ref.statistics().dropped == 1


@pytest.mark.trio
async def test_drop_oldest_evicts_the_oldest_queued_message(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref, actor, gate = await _blocked(kit, 2, Overflow.DROP_OLDEST)
        for n in range(1, 6):
            await ref.tell(Ping(n))
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert [m.n for m in actor.handled[1:]] == [4, 5]
        dropped = kit.dead_letters(DeadLetterReason.DROPPED_OLDEST)
        assert [letter.message.n for letter in dropped] == [1, 2, 3]
        assert ref.statistics().dropped == 3


@pytest.mark.trio
async def test_drop_newest_keeps_the_queue_and_drops_the_new_message(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref, actor, gate = await _blocked(kit, 2, Overflow.DROP_NEWEST)
        for n in range(1, 6):
            await ref.tell(Ping(n))
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert [m.n for m in actor.handled[1:]] == [1, 2]
        dropped = kit.dead_letters(DeadLetterReason.DROPPED_NEWEST)
        assert [letter.message.n for letter in dropped] == [3, 4, 5]


@pytest.mark.trio
async def test_an_ask_dropped_on_overflow_fails_at_once_instead_of_timing_out(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref, _, gate = await _blocked(kit, 1, Overflow.DROP_OLDEST)
        outcome: list[BaseException] = []

        async def asker() -> None:
            try:
                await ref.ask(Ping(1), timeout=100)
            except MailboxFull as exc:
                outcome.append(exc)

        kit.start_soon(asker)
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(Ping(2))  # evicts the queued ask
        await trio.testing.wait_all_tasks_blocked()
        assert len(outcome) == 1
        assert "dropped_oldest" in str(outcome[0])
        assert trio.current_time() == 0
        gate.set()


@pytest.mark.trio
async def test_statistics_report_depth_capacity_and_peak(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref, _, gate = await _blocked(kit, 5, Overflow.BACKPRESSURE)
        for n in range(3):
            await ref.tell(Ping(n))
        stats = ref.statistics().mailbox
        assert (stats.depth, stats.capacity, stats.peak, stats.overflow) == (
            3,
            5,
            3,
            "backpressure",
        )
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        stats = ref.statistics()
        assert stats.mailbox.depth == 0
        assert stats.mailbox.peak == 3
        assert stats.processed == 4


# -- the control lane: what an actor sends itself ---------------------------------------------


class Tick(msgspec.Struct, frozen=True):
    n: int = 0


class Report(msgspec.Struct, frozen=True):
    n: int = 0


class Reporter(Recorder):
    """A Recorder whose on_start sets a timer (t=1) and a task that reports back (t=2)."""

    async def on_start(self) -> None:
        await super().on_start()
        self.context.send_after(1.0, Tick(1))
        self.context.start_task(self.work)

    async def work(self) -> None:
        await trio.sleep(2.0)
        self.context.tell_self(Report(2))


@pytest.mark.trio
async def test_a_full_reject_mailbox_still_gets_its_timer_ticks_and_its_tasks_reports(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        gate = trio.Event()
        actor = Reporter(gate=gate)
        ref = await kit.spawn(actor, mailbox_capacity=2, overflow=Overflow.REJECT)
        await ref.tell(Block())
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(Ping(1))
        await ref.tell(Ping(2))
        with pytest.raises(MailboxFull):
            await ref.tell(Ping(3))  # the outside policy still applies to outside senders
        await trio.sleep(3)
        assert ref.statistics().mailbox.control_depth == 2
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        # What the actor sent itself comes first, then the ordinary messages, each in order.
        assert actor.handled[1:] == [Tick(1), Report(2), Ping(1), Ping(2)]
        assert [letter.message for letter in kit.dead_letters()] == [Ping(3)]
        assert ref.statistics().failed == 0


@pytest.mark.trio
async def test_self_sent_messages_come_before_ordinary_ones_and_each_lane_is_fifo(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref, actor, gate = await _blocked(kit, 10, Overflow.BACKPRESSURE)
        await ref.tell(Ping(1))
        actor.context.tell_self(Tick(1))
        await ref.tell(Ping(2))
        actor.context.tell_self(Tick(2))
        stats = ref.statistics().mailbox
        assert (stats.depth, stats.control_depth) == (2, 2)
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert actor.handled[1:] == [Tick(1), Tick(2), Ping(1), Ping(2)]


@pytest.mark.trio
async def test_a_full_control_lane_dead_letters_the_message_and_never_raises(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        gate = trio.Event()
        actor = Recorder(gate=gate)
        ref = await kit.spawn(actor, control_capacity=2)
        await ref.tell(Block())
        await trio.testing.wait_all_tasks_blocked()
        for n in range(1, 5):
            actor.context.tell_self(Tick(n))  # never raises, whatever the lane holds
        stats = ref.statistics()
        assert (stats.mailbox.control_depth, stats.mailbox.control_capacity) == (2, 2)
        assert stats.dropped == 2
        letters = kit.dead_letters(DeadLetterReason.CONTROL_LANE_FULL)
        assert [letter.message for letter in letters] == [Tick(3), Tick(4)]
        assert kit.system.dead_letters.count(DeadLetterReason.CONTROL_LANE_FULL) == 2
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert actor.handled[1:] == [Tick(1), Tick(2)]
        assert ref.statistics().failed == 0


def test_the_control_lane_is_bounded_by_default_and_made_on_first_use() -> None:
    mailbox = Mailbox(10)
    assert mailbox._control is None
    assert mailbox.control_capacity == 64
    assert mailbox.statistics().control_depth == 0
    with pytest.raises(ValueError, match="control_capacity must be at least 1; got 0"):
        Mailbox(10, control_capacity=0)


@pytest.mark.trio
async def test_a_message_sent_to_self_after_the_incarnation_ended_is_dead_lettered(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        actor = Recorder()
        ref = await kit.spawn(actor)
        await ref.stop()
        actor.context.tell_self(Tick(1))  # a task's finally, say: no exception
        [letter] = kit.dead_letters(DeadLetterReason.ACTOR_STOPPED)
        assert letter.message == Tick(1)


class Finished(msgspec.Struct, frozen=True):
    incarnation: int


class Reporting(Actor):
    """A background task that reports from its ``finally`` (as a reply task does)."""

    def __init__(self, received: list[tuple[int, Any]]) -> None:
        self.received = received

    async def on_start(self) -> None:
        self.context.start_task(self._work, self.context.incarnation)

    async def _work(self, incarnation: int) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.context.tell_self(Finished(incarnation))

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise ValueError("crash")
        self.received.append((self.context.incarnation, message))
        return None


@pytest.mark.trio
async def test_a_report_from_an_ended_incarnations_task_never_reaches_the_next_one(
    autojump_clock: object,
) -> None:
    received: list[tuple[int, Any]] = []
    async with ActorTestKit(backoff=Backoff(min=0.0, jitter=0.0)) as kit:
        ref = await kit.spawn(lambda: Reporting(received))
        await ref.tell(Crash())
        await kit.expect_event(Restarted, path=ref)
        await trio.testing.wait_all_tasks_blocked()
        assert received == []  # incarnation 2 never hears incarnation 1's report
        [letter] = kit.dead_letters(DeadLetterReason.ACTOR_STOPPED)
        assert letter.message == Finished(1)
