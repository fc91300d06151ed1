"""Siblings wired before the tree exists: ``ChildSpec.ref``, ``ActorSystem.root``, and
``closing_child`` for what a group of siblings shares."""

from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import Actor, ActorRef, ActorState, ActorSystem
from clara.supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    closing_child,
)
from tests.helpers import Crash, Ping, Recorder, order

EXACT = Backoff(min=0.1, max=10.0, multiplier=2.0, jitter=0.0, reset_after=30.0)


class Forwarder(Actor):
    """Answers a Ping by asking the sibling it was built with."""

    def __init__(self, sibling: ActorRef) -> None:
        self.sibling = sibling

    async def on_receive(self, message: Any) -> Any:
        return await self.sibling.ask(message, timeout=None)


@pytest.mark.trio
async def test_a_sibling_is_wired_with_a_ref_taken_before_the_tree_is_built(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    backend = ChildSpec("backend", lambda: Recorder(events, "backend"))
    front = ChildSpec("front", lambda: Forwarder(backend.ref))
    root = Supervisor([backend, front], backoff=EXACT)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        assert backend.ref.path == "/clara/backend"
        assert root.ref("backend") is backend.ref
        assert await root.ref("front").ask(Ping(41), timeout=None) == 42
        await root.stop()


@pytest.mark.trio
async def test_a_declared_ref_survives_its_childs_restarts(autojump_clock: object) -> None:
    events: list[Any] = []
    spec = ChildSpec("a", lambda: Recorder(events, "a"))
    ref = spec.ref
    root = Supervisor([spec], backoff=EXACT)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await ref.tell(Crash())
        assert await ref.ask(Ping(1), timeout=None) == 2
        assert ref.statistics().restarts == 1
        assert trio.current_time() == pytest.approx(0.1)
        await root.stop()
    assert ref.state is ActorState.STOPPED


@pytest.mark.trio
async def test_a_message_told_before_the_tree_starts_is_handled_once_it_runs(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    spec = ChildSpec("a", lambda: Recorder(events, "a"))
    spec.ref.tell_nowait(Ping(7))
    assert spec.ref.statistics().mailbox.depth == 1
    root = Supervisor([spec])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await trio.testing.wait_all_tasks_blocked()
        assert ("msg", "a", Ping(7)) in events
        await root.stop()


def test_a_supervisor_gives_a_childs_ref_before_it_starts_the_child() -> None:
    spec = ChildSpec("a", Recorder)
    root = Supervisor([spec])
    assert root.ref("a") is spec.ref


def test_a_declared_spec_belongs_to_one_supervisor() -> None:
    spec = ChildSpec("a", Recorder)
    assert spec.ref.path == "(not started)/a"
    first, second = Supervisor([spec]), Supervisor([spec])
    assert spec.adopt(first, "/one/a", ActorSystem("one")).path == "/one/a"
    with pytest.raises(ValueError, match="already a child of another supervisor"):
        spec.adopt(second, "/two/a", ActorSystem("two"))


def test_a_supervisor_spec_has_no_ref() -> None:
    spec = ChildSpec("group", Supervisor([]))
    with pytest.raises(TypeError, match="is a supervisor"):
        _ = spec.ref


def test_a_spec_whose_ref_is_taken_after_the_start_gets_the_running_childs_ref() -> None:
    spec = ChildSpec("a", Recorder)
    cell = spec.adopt(Supervisor([spec]), "/clara/a", ActorSystem())
    assert spec.ref.path == "/clara/a"
    assert spec.ref is cell.ref


@pytest.mark.trio
async def test_the_system_knows_its_root_while_the_tree_runs() -> None:
    system = ActorSystem("clara")
    assert system.root is None
    root = Supervisor([ChildSpec("a", Recorder)])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        assert system.root is root
        await root.stop()


@pytest.mark.trio
async def test_a_closing_child_closes_its_resources_last_in_order_and_once(
    autojump_clock: object,
) -> None:
    events: list[Any] = []

    async def close(name: str) -> None:
        events.append(("closed", name, trio.current_time()))

    async def broken() -> None:
        raise OSError("already gone")

    channels = DynamicSupervisor(lambda key: Recorder(events, f"channel {key}"))
    root = Supervisor(
        [
            closing_child("shared", lambda: close("http"), broken, lambda: close("pool")),
            ChildSpec("channels", channels),
        ]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await channels.get_or_start("1")
        assert not [event for event in events if event[0] == "closed"]
        await root.stop()
    assert order(events, "stop") == ["channel 1"]
    closed = [event[1] for event in events if event[0] == "closed"]
    assert closed == ["http", "pool"]  # the failing one in between is logged, not raised
    assert events.index(("stop", "channel 1", 0.0)) < events.index(("closed", "http", 0.0))


@pytest.mark.trio
async def test_a_closing_child_takes_no_messages() -> None:
    root = Supervisor([closing_child("shared")])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        with pytest.raises(TypeError, match="takes no messages"):
            await root.ref("shared").ask(Ping(1), timeout=None)
        await root.stop()
