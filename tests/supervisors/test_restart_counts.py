"""Restarts count once decided: a pending restart shows in ``restarts`` beside its backoff.

``/status`` once showed ``restarts: 0`` beside ``backoff.attempt: 1`` while the first
restart was pending (and a supervisor's ``restarts`` 0 beside ``restarts_in_window`` 1).
Every count now agrees while the restart waits, and the restart is not counted again when
it is carried out.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from clara.actors import ActorState
from clara.supervisors import Backoff, ChildSpec, DynamicSupervisor, Strategy, Supervisor
from tests.helpers import Crash, Ping, Recorder

pytestmark = pytest.mark.trio

SLOW = Backoff(min=5.0, max=5.0, jitter=0.0)


async def test_a_pending_restart_is_counted_beside_its_backoff_attempt_and_only_once(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    root = Supervisor([ChildSpec("a", lambda: Recorder(events, "a"))], backoff=SLOW)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        ref = root.ref("a")
        await ref.tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        waiting = ref.statistics()
        assert waiting.state is ActorState.BACKING_OFF
        assert waiting.backoff is not None and waiting.backoff.next_start_in == 5.0
        assert (waiting.restarts, waiting.backoff.attempt) == (1, 1)
        supervisor = root.statistics()
        assert (supervisor.restarts, supervisor.restarts_in_window) == (1, 1)
        [child] = supervisor.children
        assert child.backoff is not None and (child.restarts, child.backoff.attempt) == (1, 1)

        assert await ref.ask(Ping(1), timeout=None) == 2  # served once the restart is made
        assert trio.current_time() == 5.0
        done = ref.statistics()
        assert (done.state, done.restarts, done.backoff) == (ActorState.RUNNING, 1, None)
        assert root.statistics().restarts == 1
        assert root.statistics().children[0].restarts == 1
        await root.stop()


async def test_a_group_restart_counts_each_member_once(autojump_clock: object) -> None:
    events: list[Any] = []
    root = Supervisor(
        [ChildSpec(name, lambda name=name: Recorder(events, name)) for name in ("a", "b")],
        strategy=Strategy.ONE_FOR_ALL,
        backoff=SLOW,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        await root.ref("b").tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        pending = [(c.id, c.state, c.restarts) for c in root.statistics().children]
        assert pending == [("a", ActorState.BACKING_OFF, 1), ("b", ActorState.BACKING_OFF, 1)]
        assert root.statistics().restarts == 2
        await trio.sleep(5)
        assert [(c.id, c.restarts) for c in root.statistics().children] == [("a", 1), ("b", 1)]
        assert root.statistics().restarts == 2
        await root.stop()


async def test_a_dynamic_child_backing_off_shows_its_pending_restart(
    autojump_clock: object,
) -> None:
    events: list[Any] = []
    dynamic = DynamicSupervisor(lambda key: Recorder(events, key), backoff=SLOW)
    async with trio.open_nursery() as nursery:
        await nursery.start(dynamic.run)
        ref = await dynamic.get_or_start("k")
        await ref.tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        stats = ref.statistics()
        assert stats.backoff is not None
        assert (stats.state, stats.restarts, stats.backoff.attempt) == (
            ActorState.BACKING_OFF,
            1,
            1,
        )
        own = dynamic.statistics()
        assert (own.restarts, own.restarts_in_window) == (1, 1)
        await trio.sleep(5)
        assert (ref.statistics().restarts, dynamic.statistics().restarts) == (1, 1)
        await dynamic.stop()
