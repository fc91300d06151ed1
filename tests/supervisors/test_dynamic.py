from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import Actor, ActorState, ActorSystem
from clara.errors import ChildStartError, TooManyChildren
from clara.supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    InMemorySnapshotStore,
    Supervisor,
)
from tests.helpers import Crash, Ping, Recorder


class Counter(Actor):
    """Counts the pings it got; its count survives passivation through a snapshot."""

    def __init__(self, key: Any, events: list[Any]) -> None:
        self.key = key
        self.count = 0
        self.events = events

    async def on_restore(self, snapshot: Any) -> None:
        self.events.append(("restore", self.key, snapshot, trio.current_time()))
        self.count = snapshot

    async def on_start(self) -> None:
        self.events.append(("start", self.key, trio.current_time()))
        if self.key == "broken":
            raise RuntimeError("cannot start")

    async def on_passivate(self) -> Any:
        self.events.append(("passivate", self.key, trio.current_time()))
        return self.count

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise ValueError("boom")
        self.count += 1
        return self.count


async def running(dynamic: DynamicSupervisor, nursery: trio.Nursery) -> Supervisor:
    root = Supervisor([ChildSpec("keyed", dynamic)])
    await nursery.start(root.run, ActorSystem("clara"))
    return root


@pytest.mark.trio
async def test_get_or_start_starts_one_child_per_key(autojump_clock: object) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Counter(key, events))
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        refs = []

        async def get(key: str) -> None:
            refs.append(await dynamic.get_or_start(key))

        async with trio.open_nursery() as callers:
            for _ in range(5):
                callers.start_soon(get, "a")
            callers.start_soon(get, "b")
        assert len({ref.path for ref in refs}) == 2
        assert sorted(e[1] for e in events if e[0] == "start") == ["a", "b"]
        assert dynamic.get("a") == await dynamic.get_or_start("a")
        assert dynamic.get("zzz") is None
        assert (await dynamic.get_or_start("a")).path == "/clara/keyed/a"
        assert sorted(dynamic.keys()) == ["a", "b"]
        await root.stop()


@pytest.mark.trio
async def test_the_number_of_children_is_bounded(autojump_clock: object) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Counter(key, events), max_children=2)
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        await dynamic.get_or_start(1)
        await dynamic.get_or_start(2)
        with pytest.raises(TooManyChildren, match=r"holds 2 children \(max_children\)"):
            await dynamic.get_or_start(3)
        assert len(dynamic) == 2
        await root.stop()


@pytest.mark.trio
async def test_idle_children_are_passivated_and_restored_with_their_state(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    store = InMemorySnapshotStore()
    dynamic = DynamicSupervisor(
        lambda key: Counter(key, events), passivate_after=60, snapshots=store
    )
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        ref = await dynamic.get_or_start("u1")
        assert await ref.ask(Ping()) == 1
        await trio.sleep(30)
        assert await ref.ask(Ping()) == 2  # activity at t=30 postpones passivation
        await trio.sleep(100)
        passivated_at = [e[2] for e in events if e[0] == "passivate"]
        assert passivated_at == [90]  # exactly 60 s after it went idle
        assert ref.state is ActorState.PASSIVATED
        assert store.snapshots == {"u1": 2}
        assert len(dynamic) == 0
        # The ref held all along still works: the next message restores the child.
        assert await ref.ask(Ping()) == 3
        assert ref.state is ActorState.RUNNING
        assert [e for e in events if e[0] == "restore"] == [("restore", "u1", 2, 130)]
        # get_or_start finds the same cell again.
        assert await dynamic.get_or_start("u1") == ref
        assert (dynamic.passivations, dynamic.activations) == (1, 2)
        await root.stop()


@pytest.mark.trio
async def test_get_or_start_restores_a_passivated_child(autojump_clock: object) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Counter(key, events), passivate_after=10)
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        await (await dynamic.get_or_start("k")).ask(Ping())
        await trio.sleep(11)
        assert len(dynamic) == 0
        assert await (await dynamic.get_or_start("k")).ask(Ping()) == 2
        await root.stop()


@pytest.mark.trio
async def test_a_full_supervisor_passivates_its_least_recently_idle_child(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(
        lambda key: Counter(key, events), max_children=2, passivate_after=3600
    )
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        one = await dynamic.get_or_start(1)
        await trio.sleep(1)
        await dynamic.get_or_start(2)
        await trio.sleep(1)
        await dynamic.get_or_start(3)
        assert sorted(dynamic.keys()) == [2, 3]
        assert one.state is ActorState.PASSIVATED
        await root.stop()


@pytest.mark.trio
async def test_a_dynamic_child_that_crashes_is_restarted_with_backoff(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(
        lambda key: Counter(key, events), backoff=Backoff(min=0.5, jitter=0.0)
    )
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        ref = await dynamic.get_or_start("c")
        await ref.tell(Crash())
        assert await ref.ask(Ping(), timeout=None) == 1  # a fresh incarnation
        assert trio.current_time() == 0.5
        assert ref.statistics().restarts == 1
        await root.stop()
        assert ref.state is ActorState.STOPPED


@pytest.mark.trio
async def test_a_dynamic_supervisor_its_parent_restarts_comes_back_empty(
    autojump_clock: object,
) -> None:
    # One crash too many (max_restarts=1) and it gives up; its parent starts it again. The
    # children of the run that failed are gone for good, and get_or_start starts new ones
    # (before the fix it handed out the dead child's ref, and nothing ever answered).
    events: list[Any] = []
    dynamic = DynamicSupervisor(
        lambda key: Counter(key, events),
        backoff=Backoff(min=0.1, jitter=0.0),
        max_restarts=1,
        max_seconds=60.0,
    )
    async with trio.open_nursery() as nursery:
        root = Supervisor(
            [ChildSpec("keyed", dynamic)], backoff=Backoff(min=0.5, jitter=0.0), max_restarts=5
        )
        await nursery.start(root.run, ActorSystem("clara"))
        first = await dynamic.get_or_start("c")
        other = await dynamic.get_or_start("d")
        await first.tell(Crash())
        await trio.sleep(1.0)  # restarted once
        await first.tell(Crash())  # one too many: the dynamic supervisor gives up
        await trio.sleep(1.0)  # and its parent starts it again
        assert dynamic.state is ActorState.RUNNING
        assert len(dynamic) == 0
        assert first.state is ActorState.STOPPED and other.state is ActorState.STOPPED
        again = await dynamic.get_or_start("c")
        assert again is not first
        assert await again.ask(Ping(), timeout=5.0) == 1
        await root.stop()


@pytest.mark.trio
async def test_a_child_that_fails_to_start_is_not_kept() -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Counter(key, events))
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        with pytest.raises(ChildStartError, match="'broken' failed to start: RuntimeError"):
            await dynamic.get_or_start("broken")
        assert len(dynamic) == 0
        await root.stop()


@pytest.mark.trio
async def test_terminate_child_stops_it_for_good() -> None:
    dynamic = DynamicSupervisor(lambda key: Recorder(name=key))
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        ref = await dynamic.get_or_start("x")
        await dynamic.terminate_child("x")
        assert ref.state is ActorState.STOPPED
        assert len(dynamic) == 0
        await root.stop()


def test_dynamic_supervisor_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="max_children must be a positive int; got 0"):
        DynamicSupervisor(Recorder, max_children=0)
    with pytest.raises(ValueError, match="passivate_after must be greater than 0"):
        DynamicSupervisor(Recorder, passivate_after=0)
    with pytest.raises(TypeError, match="start must be a callable"):
        DynamicSupervisor(42)  # type: ignore[arg-type]


@pytest.mark.trio
async def test_a_passivated_child_stopped_through_its_ref_starts_afresh(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Counter(key, events), passivate_after=10)
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        old = await dynamic.get_or_start("k")
        await old.ask(Ping())
        await trio.sleep(11)
        assert old.state is ActorState.PASSIVATED
        await old.stop()
        assert old.state is ActorState.STOPPED
        new = await dynamic.get_or_start("k")
        assert new != old
        assert new.state is ActorState.RUNNING
        await root.stop()


class Background(Actor):
    """Starts a background task on its first message; records when the task is cancelled."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def on_receive(self, message: Any) -> Any:
        self.context.start_task(self._forever)
        return "started"

    async def _forever(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.events.append(("cancelled", trio.current_time()))

    async def on_stop(self) -> None:
        self.events.append(("stop", trio.current_time()))


@pytest.mark.trio
async def test_passivation_ends_the_background_tasks_of_the_incarnation(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Background(events), passivate_after=60)
    async with trio.open_nursery() as nursery:
        root = await running(dynamic, nursery)
        ref = await dynamic.get_or_start("a")
        assert await ref.ask(Ping()) == "started"
        await trio.sleep(61)
        assert ref.statistics().state is ActorState.PASSIVATED
        assert sorted(name for name, _ in events) == ["cancelled", "stop"]
        await root.stop()


class SlowToStop(Actor):
    """Takes a virtual second to stop (closing a connection, say)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def on_receive(self, message: Any) -> Any:
        return None

    async def on_stop(self) -> None:
        await trio.sleep(1)
        self.events.append(("stopped", trio.current_time()))


@pytest.mark.trio
async def test_keyed_children_stop_together_in_one_shutdown_timeout(autojump_clock: object) -> None:
    events: list[Any] = []
    channels = DynamicSupervisor(lambda key: SlowToStop(events))
    root = Supervisor([ChildSpec("channels", channels)])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        for key in range(5):
            await channels.get_or_start(key)
        await root.stop()
    assert events == [("stopped", 1.0)] * 5  # together: 1 s in all, not 5
