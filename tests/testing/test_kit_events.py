import logging
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import (
    ActorState,
    ActorSystem,
    BackingOff,
    Crashed,
    Escalated,
    LifecycleEvent,
    Passivated,
    Restarted,
    Restored,
    Started,
    Stopped,
)
from clara.supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Restart,
    Strategy,
    Supervisor,
)
from clara.testing import ActorTestKit, EventLog
from tests.helpers import Crash, Ping, Recorder

EXACT = Backoff(min=0.5, max=10.0, jitter=0.0)


@pytest.mark.trio
async def test_a_crash_and_its_restarts_are_awaited_as_events_at_exact_virtual_times(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        started = await kit.expect_event(Started, path=ref)
        assert (started.at, started.incarnation) == (0.0, 1)

        await ref.tell(Crash("first"))
        crashed = await kit.expect_event(Crashed, path=ref)
        assert (crashed.at, crashed.error_type, crashed.message) == (0.0, "ValueError", "first")
        backing_off = await kit.expect_event(BackingOff, path=ref)
        assert (backing_off.at, backing_off.attempt, backing_off.delay) == (0.0, 1, 0.1)
        restarted = await kit.expect_event(Restarted, path=ref)
        assert (restarted.at, restarted.restarts) == (0.1, 1)
        assert trio.current_time() == 0.1

        await ref.tell(Crash("second"))
        backing_off = await kit.expect_event(BackingOff, path=ref, attempt=2)
        assert backing_off.delay == 0.2
        started = await kit.expect_event(Started, path=ref, incarnation=3)
        assert started.at == pytest.approx(0.3)


@pytest.mark.trio
async def test_the_kit_lists_what_happened_to_one_path_in_order(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        other = await kit.spawn(Recorder)
        await ref.tell(Crash())
        await kit.expect_event(Restarted, path=ref)
        await ref.stop()
        assert [type(event) for event in kit.events(ref)] == [
            Started,
            Crashed,
            BackingOff,
            Started,
            Restarted,
            Stopped,
        ]
        assert [event.at for event in kit.events(ref, Started)] == [0.0, 0.1]
        assert [type(event) for event in kit.events(other)] == [Started]
        assert all(isinstance(event, LifecycleEvent) for event in kit.events())


@pytest.mark.trio
async def test_an_event_that_does_not_come_fails_after_within_naming_what_did(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        ref = await kit.spawn(Recorder)
        with pytest.raises(AssertionError, match=r"expected a Crashed for /test/\S+ within 5s"):
            await kit.expect_event(Crashed, path=ref, within=5)
        assert trio.current_time() == 5
        with pytest.raises(AssertionError, match="Started"):  # what it did meanwhile
            await kit.expect_event(Stopped, path=ref, within=1)
        with pytest.raises(TypeError, match="Started has no field attempt"):
            await kit.expect_event(Started, path=ref, attempt=1)
        await kit.event_log.expect_none(Crashed, path=ref, within=10)


@pytest.mark.trio
async def test_a_supervisor_started_in_the_kit_escalates_as_an_event_and_the_kit_exits_cleanly(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    async with ActorTestKit() as kit:
        sup = await kit.start_supervisor(
            Supervisor(
                [
                    ChildSpec("a", lambda: Recorder(events, "a")),
                    ChildSpec("b", lambda: Recorder(events, "b")),
                ],
                strategy=Strategy.ONE_FOR_ALL,
                max_restarts=1,
                max_seconds=5,
                backoff=EXACT,
            ),
            name="pair",
        )
        assert sup.path == "/test/pair"
        assert (await kit.expect_event(Started, path=sup)).incarnation == 1
        a, b = sup.ref("a"), sup.ref("b")

        await a.tell(Crash())
        sibling = await kit.expect_event(BackingOff, path=b)  # ONE_FOR_ALL takes b along
        assert (sibling.at, sibling.delay) == (0.0, 0.5)
        await kit.expect_event(Restarted, path=b)
        assert trio.current_time() == 0.5

        await trio.sleep(1)
        await a.tell(Crash())  # the second restart within 5 s is one too many
        escalated = await kit.expect_event(Escalated, path=sup)
        assert (escalated.at, escalated.child, escalated.error_type) == (
            1.5,
            "a",
            "RestartIntensityExceeded",
        )
        await kit.expect_event(Stopped, path=a)
        await kit.expect_event(Stopped, path=b)
        assert sup.state is ActorState.FAILED
        assert kit.supervisor.child_ids == []  # temporary under the kit: removed, not restarted
    assert kit.supervisor.state is ActorState.STOPPED


@pytest.mark.trio
async def test_escalation_through_nested_supervisors_is_one_event_per_level(
    autojump_clock: object,
) -> None:
    inner = Supervisor([ChildSpec("x", Recorder)], max_restarts=0)
    outer = Supervisor([ChildSpec("inner", inner)], max_restarts=0)
    async with ActorTestKit() as kit:
        await kit.start_supervisor(outer, name="outer")
        await inner.ref("x").tell(Crash())
        first = await kit.expect_event(Escalated)
        second = await kit.expect_event(Escalated)
        assert [(first.path, first.child), (second.path, second.child)] == [
            ("/test/outer/inner", "x"),
            ("/test/outer", "inner"),
        ]
        await trio.testing.wait_all_tasks_blocked()
        assert [inner.state, outer.state] == [ActorState.FAILED] * 2


@pytest.mark.trio
async def test_a_permanent_supervisor_in_the_kit_is_restarted_after_its_escalation(
    autojump_clock: object,
) -> None:
    async with ActorTestKit() as kit:
        sup = await kit.start_supervisor(
            Supervisor([ChildSpec("x", Recorder)], max_restarts=0), restart=Restart.PERMANENT
        )
        x = sup.ref("x")
        await x.tell(Crash())
        await kit.expect_event(Escalated, path=sup)
        restarted = await kit.expect_event(Started, path=sup, incarnation=2)
        assert restarted.at == 0.1  # the kit's backoff
        assert await x.ask(Ping(1)) == 2


@pytest.mark.trio
async def test_passivation_and_restoration_are_events(autojump_clock: object) -> None:
    async with ActorTestKit() as kit:
        keyed = await kit.start_supervisor(
            DynamicSupervisor(lambda key: Recorder(name=str(key)), passivate_after=90),
            name="keyed",
        )
        ref = await keyed.get_or_start(7)
        passivated = await kit.expect_event(Passivated, path=ref, within=100)
        assert passivated.at == 90
        assert await ref.ask(Ping(1)) == 2  # a message to a ref still held brings it back
        restored = await kit.expect_event(Restored, path=ref)
        started = await kit.expect_event(Started, path=ref, incarnation=2)
        assert restored.at == started.at == 90


@pytest.mark.trio
async def test_an_observer_that_raises_is_logged_and_the_tree_goes_on(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    system = ActorSystem("watched")

    def broken(event: LifecycleEvent) -> None:
        raise RuntimeError("observer bug")

    forget = system.observe(broken)
    log = EventLog(system)
    root = Supervisor([ChildSpec("a", Recorder)], backoff=EXACT)
    with caplog.at_level(logging.WARNING):
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run, system)
            await root.ref("a").tell(Crash())
            restarted = await log.expect(Restarted, path="/watched/a")
            assert restarted.at == 0.5
            forget()
            forget()  # idempotent
            assert system.observers == (log._record,)
            await root.stop()
    assert "an observer of watched raised on Started" in caplog.text
    log.close()
    assert not system.observers
    assert [type(event) for event in log.events("/watched")] == [Started, Stopped]


def test_observe_refuses_what_it_cannot_call() -> None:
    with pytest.raises(TypeError, match="observer must be callable"):
        ActorSystem().observe("print")  # type: ignore[arg-type]
