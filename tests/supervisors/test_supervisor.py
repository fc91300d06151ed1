import math
from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorState, ActorSystem
from clara.errors import (
    ActorDeadError,
    ChildStartError,
    RestartIntensityExceeded,
    UnknownChild,
)
from clara.supervisors import Backoff, ChildSpec, Restart, Strategy, Supervisor
from tests.helpers import Crash, Ping, Recorder, Sleep, StopSelf, order, starts, unwrap

EXACT = Backoff(min=0.1, max=10.0, multiplier=2.0, jitter=0.0, reset_after=30.0)


def specs(events: list[Any], *names: str, **options: Any) -> list[ChildSpec]:
    return [ChildSpec(name, lambda name=name: Recorder(events, name), **options) for name in names]


@pytest.mark.trio
async def test_children_start_in_order_and_stop_in_reverse_order() -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", "b", "c"))
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        assert order(events, "start") == ["a", "b", "c"]
        assert root.state is ActorState.RUNNING
        await root.stop()
    assert order(events, "stop") == ["c", "b", "a"]
    assert root.state is ActorState.STOPPED
    assert root.ref("a").state is ActorState.STOPPED


@pytest.mark.trio
async def test_restarts_happen_at_the_backoff_delays(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a"), backoff=EXACT, max_restarts=10, max_seconds=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        for _ in range(4):
            await ref.tell(Crash())
            assert await ref.ask(Ping(1), timeout=None) == 2
        # 0.1, then 0.2, 0.4, 0.8 after each crash: exactly, in virtual time.
        assert starts(events) == pytest.approx([0, 0.1, 0.3, 0.7, 1.5])
        assert ref.statistics().restarts == 4
        await root.stop()


@pytest.mark.trio
async def test_backoff_is_visible_while_a_child_waits_to_restart(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a"), backoff=Backoff(min=2.0, jitter=0.0))
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        await ref.tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        stats = ref.statistics()
        assert stats.state is ActorState.BACKING_OFF
        assert stats.backoff is not None
        assert (stats.backoff.attempt, stats.backoff.delay, stats.backoff.next_start_at) == (
            1,
            2.0,
            2.0,
        )
        [child] = root.statistics().children
        assert child.state is ActorState.BACKING_OFF
        assert child.backoff == stats.backoff
        await ref.ask(Ping(), timeout=None)
        assert ref.statistics().backoff is None
        assert root.statistics().restarts == 1
        await root.stop()


@pytest.mark.trio
async def test_backoff_is_capped_and_resets_after_the_child_was_stable(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    backoff = Backoff(min=1.0, max=3.0, multiplier=2.0, jitter=0.0, reset_after=30.0)
    root = Supervisor(specs(events, "a"), backoff=backoff, max_restarts=10, max_seconds=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        for _ in range(3):
            await ref.tell(Crash())
            await ref.ask(Ping(), timeout=None)
        assert starts(events) == [0, 1, 3, 6]  # 1, 2, then capped at 3
        await trio.sleep(30)  # stable for reset_after
        await ref.tell(Crash())
        await ref.ask(Ping(), timeout=None)
        assert starts(events)[-1] == 37  # back to the minimum delay
        await root.stop()


@pytest.mark.trio
async def test_the_first_crash_past_the_intensity_fails_the_root(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", "b"), backoff=EXACT, max_restarts=2, max_seconds=5)
    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run)
            ref = root.ref("b")
            for _ in range(2):
                await ref.tell(Crash())
                await ref.ask(Ping(), timeout=None)
            assert len(starts(events, "b")) == 3
            await ref.tell(Crash("third"))
            await trio.sleep_forever()
    error = unwrap(caught.value)
    assert isinstance(error, RestartIntensityExceeded)
    assert "'b' crashed with ValueError: third; more than 2 restarts within 5s" in str(error)
    assert trio.current_time() == pytest.approx(0.3)  # no third restart was attempted
    assert root.state is ActorState.FAILED
    # Every child was stopped, in reverse order.
    assert order(events, "stop")[-2:] == ["b", "a"]
    assert root.ref("a").state is ActorState.STOPPED


@pytest.mark.trio
async def test_restarts_outside_the_window_do_not_count(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a"), backoff=EXACT, max_restarts=1, max_seconds=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        for _ in range(3):
            await ref.tell(Crash())
            await ref.ask(Ping(), timeout=None)
            await trio.sleep(6)
        assert root.state is ActorState.RUNNING
        assert ref.statistics().restarts == 3
        await root.stop()


@pytest.mark.parametrize(("second_crash_at", "fails"), [(5.0, True), (5.001, False)])
@pytest.mark.trio
async def test_a_restart_exactly_max_seconds_ago_still_counts_toward_the_intensity(
    autojump_clock: object, second_crash_at: float, fails: bool
) -> None:
    events: list[Any] = []
    at_once = Backoff(min=0.0, max=0.0, jitter=0.0)
    root = Supervisor(specs(events, "a"), backoff=at_once, max_restarts=1, max_seconds=5)
    outcome: list[BaseException] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run)
            ref = root.ref("a")
            await ref.tell(Crash())  # restart 1, at t=0
            assert await ref.ask(Ping(1), timeout=None) == 2
            await trio.sleep(second_crash_at)
            await ref.tell(Crash())  # restart 2: the one at t=0 is max_seconds old, or older
            await trio.testing.wait_all_tasks_blocked()
            assert trio.current_time() == second_crash_at
            if not fails:
                assert await ref.ask(Ping(1), timeout=None) == 2
            await trio.sleep(10)  # a failing root cancels this at once
            await root.stop()
    except BaseExceptionGroup as group:
        outcome.append(unwrap(group))
    if fails:
        [error] = outcome
        assert isinstance(error, RestartIntensityExceeded)
        assert trio.current_time() == 5.0
        assert root.state is ActorState.FAILED
    else:
        assert outcome == []
        assert starts(events) == [0, 0, second_crash_at]


@pytest.mark.trio
async def test_one_for_all_restarts_every_child_in_order(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", "b", "c"), strategy=Strategy.ONE_FOR_ALL, backoff=EXACT)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        events.clear()
        await root.ref("b").tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        await root.ref("a").ask(Ping(), timeout=None)
        await trio.testing.wait_all_tasks_blocked()
        assert [(e[0], e[1]) for e in events if e[0] != "msg"] == [
            ("stop", "b"),  # the crashed one
            ("stop", "c"),  # then the others, in reverse order
            ("stop", "a"),
            ("start", "a"),
            ("start", "b"),
            ("start", "c"),
        ]
        assert starts(events) == [0.1, 0.1, 0.1]
        await root.stop()


@pytest.mark.trio
async def test_rest_for_one_restarts_the_child_and_those_after_it(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", "b", "c"), strategy=Strategy.REST_FOR_ONE, backoff=EXACT)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        events.clear()
        await root.ref("b").tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        await root.ref("c").ask(Ping(), timeout=None)
        await trio.testing.wait_all_tasks_blocked()
        assert order(events, "start") == ["b", "c"]
        assert order(events, "stop") == ["b", "c"]
        assert root.ref("a").statistics().restarts == 0
        await root.stop()


@pytest.mark.trio
async def test_siblings_restarted_by_one_for_all_keep_their_queued_messages(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", "b"), strategy=Strategy.ONE_FOR_ALL, backoff=EXACT)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await root.ref("a").tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        await root.ref("b").tell(Ping(5))  # b is backing off with a
        assert await root.ref("b").ask(Ping(6), timeout=None) == 7
        assert [e[2] for e in events if e[0] == "msg" and e[1] == "b"] == [Ping(5), Ping(6)]
        await root.stop()


@pytest.mark.parametrize(
    ("restart", "message", "restarted"),
    [
        (Restart.PERMANENT, StopSelf(), True),
        (Restart.PERMANENT, Crash(), True),
        (Restart.TRANSIENT, StopSelf(), False),
        (Restart.TRANSIENT, Crash(), True),
        (Restart.TEMPORARY, StopSelf(), False),
        (Restart.TEMPORARY, Crash(), False),
    ],
)
@pytest.mark.trio
async def test_restart_types_decide_after_a_normal_exit_or_a_crash(
    autojump_clock: object, restart: Restart, message: Any, restarted: bool
) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", restart=restart), backoff=EXACT)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        await ref.tell(message)
        await trio.sleep(1)
        assert len(starts(events)) == (2 if restarted else 1)
        if restarted:
            assert ref.state is ActorState.RUNNING
        else:
            expected = ActorState.FAILED if isinstance(message, Crash) else ActorState.STOPPED
            assert ref.state is expected
            with pytest.raises(ActorDeadError):
                await ref.tell(Ping())
        assert root.state is ActorState.RUNNING
        await root.stop()


@pytest.mark.trio
async def test_temporary_children_are_removed_once_they_end(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(specs(events, "a", "b", restart=Restart.TEMPORARY))
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await root.ref("a").tell(Crash())
        await trio.sleep(1)
        assert root.child_ids == ["b"]
        await root.stop()


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
@pytest.mark.trio
async def test_a_group_restart_stops_and_removes_a_temporary_sibling_instead_of_restarting_it(
    autojump_clock: object, strategy: Strategy
) -> None:
    events: list[Any] = []
    root = Supervisor(
        [
            ChildSpec("a", lambda: Recorder(events, "a")),
            ChildSpec("t", lambda: Recorder(events, "t"), restart=Restart.TEMPORARY),
            ChildSpec("c", lambda: Recorder(events, "c")),
        ],
        strategy=strategy,
        backoff=EXACT,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        temporary = root.ref("t")
        await root.ref("a").tell(Crash())
        assert await root.ref("c").ask(Ping(1), timeout=None) == 2
        await trio.sleep(1)
        # OTP: a temporary child is never restarted, not even by a group restart.
        assert starts(events, "t") == [0]
        assert order(events, "stop").count("t") == 1
        assert temporary.state is ActorState.STOPPED
        assert root.child_ids == ["a", "c"]
        with pytest.raises(UnknownChild):
            root.ref("t")
        assert starts(events, "a") == [0, 0.1]
        assert starts(events, "c") == [0, 0.1]
        await root.stop()
    assert order(events, "stop").count("t") == 1


@pytest.mark.trio
async def test_a_child_that_ignores_its_shutdown_is_cancelled_at_the_timeout(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    root = Supervisor(
        [
            ChildSpec("slow", lambda: Recorder(events, "slow"), shutdown=2.0),
            ChildSpec("quick", lambda: Recorder(events, "quick"), shutdown=2.0),
        ]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await root.ref("slow").tell(Sleep(1000))
        await trio.testing.wait_all_tasks_blocked()
        await root.stop()
    assert trio.current_time() == 2.0
    assert order(events, "stop") == ["quick", "slow"]


@pytest.mark.trio
async def test_a_child_that_fails_to_start_fails_the_start_and_stops_the_others() -> None:
    events: list[Any] = []
    root = Supervisor(
        [
            ChildSpec("a", lambda: Recorder(events, "a")),
            ChildSpec("b", lambda: Recorder(events, "b", fail_on_start=1)),
            ChildSpec("c", lambda: Recorder(events, "c")),
        ]
    )
    with pytest.raises(ChildStartError, match="child 'b' failed to start: RuntimeError"):
        await root.run(ActorSystem("t"))
    assert order(events, "start") == ["a", "b"]
    assert order(events, "stop") == ["b", "a"]
    assert root.state is ActorState.FAILED


@pytest.mark.trio
async def test_a_restart_whose_on_start_fails_backs_off_again(autojump_clock: object) -> None:
    events: list[Any] = []
    attempts = iter([0, 1, 1, 0])  # the 2nd and 3rd incarnations fail in on_start

    root = Supervisor(
        [ChildSpec("a", lambda: Recorder(events, "a", fail_on_start=next(attempts)))],
        backoff=EXACT,
        max_restarts=5,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        await ref.tell(Crash())
        assert await ref.ask(Ping(1), timeout=None) == 2
        assert starts(events) == pytest.approx([0, 0.1, 0.3, 0.7])
        assert ref.statistics().restarts == 3
        await root.stop()


@pytest.mark.trio
async def test_a_nested_supervisor_escalates_to_its_parent(autojump_clock: object) -> None:
    events: list[Any] = []
    inner = Supervisor(specs(events, "x", "y"), max_restarts=0, backoff=EXACT)
    root = Supervisor(
        [
            ChildSpec("first", lambda: Recorder(events, "first")),
            ChildSpec("inner", inner),
        ],
        backoff=Backoff(min=1.0, jitter=0.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        x = inner.ref("x")
        events.clear()
        await x.tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        assert inner.state is ActorState.FAILED
        [first, inner_summary] = root.statistics().children
        assert inner_summary.state is ActorState.FAILED
        assert inner_summary.backoff is not None and inner_summary.backoff.delay == 1.0
        # The parent restarts the whole inner supervisor after its own backoff; refs survive.
        assert await x.ask(Ping(1), timeout=None) == 2
        assert trio.current_time() == 1.0
        assert order(events, "start") == ["x", "y"]
        assert inner.state is ActorState.RUNNING
        assert root.statistics().restarts == 1
        assert inner.statistics().last_failure is not None
        assert first.restarts == 0
        await root.stop()


@pytest.mark.trio
async def test_escalation_climbs_to_the_root_and_ends_its_run(autojump_clock: object) -> None:
    events: list[Any] = []
    inner = Supervisor(specs(events, "x"), max_restarts=0)
    middle = Supervisor([ChildSpec("inner", inner)], max_restarts=0)
    root = Supervisor([ChildSpec("middle", middle)], max_restarts=0)
    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run)
            await inner.ref("x").tell(Crash())
            await trio.sleep_forever()
    error = unwrap(caught.value)
    assert isinstance(error, RestartIntensityExceeded)
    assert "child 'middle' crashed with RestartIntensityExceeded" in str(error)
    assert isinstance(error.cause, RestartIntensityExceeded)
    assert isinstance(error.cause.cause, RestartIntensityExceeded)
    assert [inner.state, middle.state, root.state] == [ActorState.FAILED] * 3
    assert inner.ref("x").state is ActorState.STOPPED


@pytest.mark.trio
async def test_cancelling_a_subtree_stops_every_actor_and_fails_pending_asks(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    inner = Supervisor(specs(events, "x", "y"))
    root = Supervisor([ChildSpec("a", lambda: Recorder(events, "a")), ChildSpec("inner", inner)])
    failures: list[BaseException] = []

    async def ask_slowly() -> None:
        try:
            await inner.ref("x").ask(Sleep(100), timeout=None)
        except ActorDeadError as exc:
            failures.append(exc)

    async with trio.open_nursery() as outer:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(root.run)
                outer.start_soon(ask_slowly)
                await trio.testing.wait_all_tasks_blocked()
                await inner.ref("y").tell(Sleep(100))
                await inner.ref("y").tell(Ping(1))  # queued
                scope.cancel()
    assert len(failures) == 1
    for ref in (root.ref("a"), inner.ref("x"), inner.ref("y")):
        assert ref.state is ActorState.STOPPED
    assert root.state is ActorState.FAILED
    assert trio.current_time() == 0


@pytest.mark.trio
async def test_walk_lists_every_supervisor_and_actor_depth_first() -> None:
    events: list[Any] = []
    inner = Supervisor(specs(events, "x"))
    root = Supervisor([ChildSpec("a", lambda: Recorder(events, "a")), ChildSpec("inner", inner)])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, ActorSystem("clara"))
        assert [s.path for s in root.walk()] == [
            "/clara",
            "/clara/a",
            "/clara/inner",
            "/clara/inner/x",
        ]
        await root.stop()


@pytest.mark.trio
async def test_stop_of_a_stopped_supervisor_returns() -> None:
    root = Supervisor([])
    await root.stop()
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await root.stop()
        await root.stop()


def test_child_spec_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="id must be a non-empty str without '/'; got 'a/b'"):
        ChildSpec("a/b", Recorder)
    with pytest.raises(TypeError, match="start must be a callable returning an Actor"):
        ChildSpec("a", 42)
    with pytest.raises(TypeError, match="start is the class int, which is not an Actor"):
        ChildSpec("a", int)
    with pytest.raises(ValueError, match=r"restart must be a Restart \(PERMANENT"):
        ChildSpec("a", Recorder, restart="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown must be greater than 0; got -1"):
        ChildSpec("a", Recorder, shutdown=-1)
    with pytest.raises(ValueError, match="mailbox_capacity must be finite"):
        ChildSpec("a", Recorder, mailbox_capacity=math.inf)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate child id 'a'"):
        Supervisor([ChildSpec("a", Recorder), ChildSpec("a", Recorder)])
    with pytest.raises(TypeError, match=r"children\[0\] must be a ChildSpec"):
        Supervisor([Recorder])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_restarts must be an int of at least 0"):
        Supervisor([], max_restarts=-1)
    with pytest.raises(ValueError, match="strategy must be a Strategy"):
        Supervisor([], strategy="one_for_one")  # type: ignore[arg-type]
