from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import Actor, ActorState, DeadLetterReason
from clara.errors import ActorDeadError, AskTimeout
from clara.supervisors import Backoff
from clara.testing import ActorTestKit
from tests.helpers import Block, Crash, Ping, Recorder, Sleep


@pytest.mark.trio
async def test_tells_are_handled_in_order(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        actor = Recorder()
        ref = await kit.spawn(actor)
        for n in range(1000):
            await ref.tell(Ping(n))
        await ref.ask(Ping(-1))
        assert [m.n for m in actor.handled] == [*range(1000), -1]
        assert ref.statistics().processed == 1001


@pytest.mark.trio
async def test_ask_returns_what_on_receive_returns(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        assert await ref.ask(Ping(41)) == 42


@pytest.mark.trio
async def test_ask_times_out_at_exactly_its_timeout(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        with pytest.raises(AskTimeout, match="no reply to Sleep within 2s") as caught:
            await ref.ask(Sleep(10), timeout=2)
        assert trio.current_time() == 2
        assert isinstance(caught.value, TimeoutError)
        # The late reply is discarded; the actor carries on.
        assert await ref.ask(Ping(1)) == 2
        assert trio.current_time() == 10


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
@pytest.mark.trio
async def test_ask_timeout_must_be_positive(timeout: float) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        with pytest.raises(ValueError, match="ask timeout must be positive"):
            await ref.ask(Ping(1), timeout=timeout)


@pytest.mark.trio
async def test_an_ask_whose_handler_crashes_gets_the_error_at_once(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        with pytest.raises(ValueError, match="kaput"):
            await ref.ask(Crash("kaput"), timeout=30)
        assert trio.current_time() == 0


@pytest.mark.trio
async def test_the_message_that_crashed_the_actor_is_dead_lettered_not_retried(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(lambda: Recorder(events))
        await ref.tell(Crash("poison"))
        await ref.tell(Ping(1))
        assert await ref.ask(Ping(2)) == 3
        handled = [e[2] for e in events if e[0] == "msg"]
        assert handled == [Crash("poison"), Ping(1), Ping(2)]  # the poison only once
        [letter] = kit.dead_letters(DeadLetterReason.CRASHED)
        assert letter.message == Crash("poison")
        assert letter.error == "ValueError: poison"
        assert letter.recipient == ref.path


@pytest.mark.trio
async def test_the_ref_and_mailbox_outlive_a_crashed_incarnation(autojump_clock: object) -> None:
    events: list[Any] = []
    async with ActorTestKit(backoff=Backoff(min=1.0, jitter=0)) as kit:
        ref = await kit.spawn(lambda: Recorder(events))
        first = ref._cell.actor
        await ref.tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        assert ref.state is ActorState.BACKING_OFF
        # Sent during the backoff: queued, then handled by the next incarnation.
        await ref.tell(Ping(7))
        assert await ref.ask(Ping(8)) == 9
        assert trio.current_time() == 1.0
        assert ref._cell.actor is not first
        assert [e[2] for e in events if e[0] == "msg"][-2:] == [Ping(7), Ping(8)]
        stats = ref.statistics()
        assert (stats.restarts, stats.failed, stats.state) == (1, 1, ActorState.RUNNING)
        assert stats.last_failure is not None
        assert (stats.last_failure.type, stats.last_failure.message) == ("ValueError", "boom")
        assert stats.last_failure.at == 0
        assert "ValueError: boom" in stats.last_failure.traceback


@pytest.mark.trio
async def test_stopping_answers_pending_asks_with_actor_dead(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        gate = trio.Event()
        ref = await kit.spawn(Recorder(gate=gate), shutdown=3)
        failures: list[BaseException] = []

        async def ask(message: Any) -> None:
            try:
                await ref.ask(message, timeout=100)
            except ActorDeadError as exc:
                failures.append(exc)

        kit.start_soon(ask, Block())  # being handled when the stop comes
        await trio.testing.wait_all_tasks_blocked()
        kit.start_soon(ask, Ping(1))  # queued behind it
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop()
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == 3  # the blocked handler was cancelled at its shutdown
        assert len(failures) == 2
        assert ref.state is ActorState.STOPPED
        [letter] = kit.dead_letters(DeadLetterReason.ACTOR_STOPPED)
        assert letter.message == Ping(1)


@pytest.mark.trio
async def test_stop_is_idempotent_and_lets_the_running_handler_finish(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder(events), shutdown=10)
        await ref.tell(Sleep(2))
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ref.stop)
            nursery.start_soon(ref.stop)
        await ref.stop()
        assert trio.current_time() == 2  # finished its handler, not cancelled
        assert [e[0] for e in events] == ["start", "msg", "stop"]  # on_stop ran once
        assert ref.state is ActorState.STOPPED


@pytest.mark.trio
async def test_a_tell_to_a_stopped_actor_is_refused_and_dead_lettered() -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        await ref.stop()
        with pytest.raises(ActorDeadError, match="actor is stopped"):
            await ref.tell(Ping(1))
        with pytest.raises(ActorDeadError):
            await ref.ask(Ping(2))
        reasons = [letter.reason for letter in kit.dead_letters()]
        assert reasons == [DeadLetterReason.ACTOR_STOPPED] * 2


@pytest.mark.trio
async def test_an_actor_cannot_await_its_own_stop() -> None:
    class SelfStopper(Actor):
        async def on_receive(self, message: Any) -> Any:
            await self.context.ref.stop()

    async with ActorTestKit() as kit:
        ref = await kit.spawn(SelfStopper())
        with pytest.raises(RuntimeError, match=r"self\.context\.stop\(\)"):
            await ref.ask(Ping())


@pytest.mark.trio
async def test_a_busy_actor_yields_so_others_make_progress(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        events: list[Any] = []
        busy, other = Recorder(events, name="busy"), Recorder(events, name="other")
        busy_ref = await kit.spawn(busy, mailbox_capacity=5000)
        other_ref = await kit.spawn(other)
        for n in range(3000):
            busy_ref.tell_nowait(Ping(n))
        other_ref.tell_nowait(Ping(-1))
        await trio.testing.wait_all_tasks_blocked()
        assert len(busy.handled) == 3000
        handled = [e[1] for e in events if e[0] == "msg"]
        # The fairness batch let the other actor in long before the busy one had finished.
        assert handled.index("other") <= 256


def test_actor_context_before_start_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="Recorder is not started"):
        _ = Recorder().context


@pytest.mark.trio
async def test_on_receive_must_be_overridden() -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Actor())
        with pytest.raises(NotImplementedError, match="does not override on_receive"):
            await ref.ask(Ping())


@pytest.mark.trio
async def test_an_ask_waiting_for_room_times_out_at_its_deadline(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        gate = trio.Event()
        ref = await kit.spawn(Recorder(gate=gate), mailbox_capacity=1)
        await ref.tell(Block())
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(Ping(1))  # the mailbox is now full
        with pytest.raises(AskTimeout, match="no reply to Ping within 3s"):
            await ref.ask(Ping(2), timeout=3)
        assert trio.current_time() == 3
        gate.set()


@pytest.mark.trio
async def test_answered_asks_do_not_pile_up_in_the_deadline_heap(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        scheduler = kit.system.scheduler
        for n in range(10_000):
            await ref.ask(Ping(n), timeout=60)
        assert scheduler.live == 0
        assert len(scheduler) <= 1024 + 1


@pytest.mark.trio
async def test_a_cancelled_asker_abandons_its_ask_and_the_reply_is_discarded(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        actor = Recorder()
        ref = await kit.spawn(actor)
        with trio.move_on_after(1):
            await ref.ask(Sleep(5), timeout=100)
        assert trio.current_time() == 1
        assert kit.system.scheduler.live == 0
        assert await ref.ask(Ping(1)) == 2  # the actor carries on; the late reply went nowhere
        assert trio.current_time() == 5


@pytest.mark.trio
async def test_many_asks_time_out_each_at_its_own_deadline(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        await ref.tell(Sleep(100))
        timed_out: list[tuple[float, float]] = []

        async def ask(timeout: float) -> None:
            try:
                await ref.ask(Ping(), timeout=timeout)
            except AskTimeout:
                timed_out.append((timeout, trio.current_time()))

        async with trio.open_nursery() as nursery:
            for timeout in (5.0, 1.0, 3.0, 2.5):
                nursery.start_soon(ask, timeout)
        assert sorted(timed_out) == [(1.0, 1.0), (2.5, 2.5), (3.0, 3.0), (5.0, 5.0)]
