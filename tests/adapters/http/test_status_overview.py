"""The default /status (the overview) and the tree on request, paged (issue 13, item 14)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from clara.actors import Actor, ActorState, ActorSystem
from clara.adapters.http import StatusDocument
from clara.adapters.http._overview import PER_SUPERVISOR
from clara.adapters.http._watch import TreeWatch
from clara.supervisors import Backoff, ChildSpec, DynamicSupervisor, Supervisor
from tests.adapters.http.harness import Served, serving
from tests.helpers import Crash, Ping, Recorder


class Described(Recorder):
    """A Recorder whose statistics count how often they are taken (describe runs each time)."""

    looked_at: list[int]

    def describe(self) -> dict[str, Any] | None:
        self.looked_at.append(1)
        return {"looks": len(self.looked_at)}


class SlowStart(Actor):
    """Holds its start until ``gate`` is set: ``starting``, with no lifecycle event yet."""

    def __init__(self, gate: trio.Event) -> None:
        self.gate = gate

    async def on_start(self) -> None:
        await self.gate.wait()


async def get(served: Served, query: str = "") -> StatusDocument:
    response = await served.client.get("/status" + query)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=StatusDocument)


def paths(document: StatusDocument) -> list[str]:
    return [node.path for node in document.nodes]


@pytest.mark.trio
async def test_the_default_is_a_bounded_overview_with_every_supervisor_and_static_actor() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(), max_children=1000)
    inner = Supervisor([ChildSpec("x", Recorder)])
    children = [ChildSpec("a", Recorder), ChildSpec("channels", channels), ChildSpec("in", inner)]
    async with serving(children) as served:
        for key in range(300):
            await channels.get_or_start(key)
        document = await get(served)
        assert document.query.view == "overview"
        assert paths(document) == [
            "/clara",
            "/clara/status",
            "/clara/a",
            "/clara/channels",
            *(f"/clara/channels/{key}" for key in range(PER_SUPERVISOR)),
            "/clara/in",
            "/clara/in/x",
        ]
        # The summary still counts the whole tree; the supervisor says how many it has.
        assert (document.summary.actors, document.summary.supervisors) == (303, 3)
        assert [n.child_count for n in document.nodes if n.path == "/clara/channels"] == [300]
        assert not document.truncated and document.next_offset is None


@pytest.mark.trio
async def test_an_actor_needing_attention_is_in_the_overview_wherever_it_is() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(), max_children=1000)
    async with serving([ChildSpec("channels", channels)]) as served:
        refs = [await channels.get_or_start(key) for key in range(200)]
        await refs[150].tell(Crash("the disk is full"))
        await trio.testing.wait_all_tasks_blocked()
        document = await get(served)
        [late] = [node for node in document.nodes if node.path == "/clara/channels/150"]
        assert late.state is ActorState.BACKING_OFF
        assert late.last_failure is not None and late.last_failure.message == "the disk is full"
        # After the supervisor's first children, in tree order.
        assert paths(document)[-1] == "/clara/channels/150"
        assert document.summary.actors_by_state["backing_off"] == 1


@pytest.mark.trio
async def test_the_overview_does_not_look_at_every_actor() -> None:
    """Its cost is set by what it shows: 50 of 400 children's statistics are taken."""
    looked_at: list[int] = []

    def make(key: object) -> Described:
        actor = Described()
        actor.looked_at = looked_at
        return actor

    channels = DynamicSupervisor(make, max_children=1000)
    async with serving([ChildSpec("channels", channels)]) as served:
        for key in range(400):
            await channels.get_or_start(key)
        looked_at.clear()
        document = await get(served)
        assert len(looked_at) == PER_SUPERVISOR
        assert len(document.nodes) == 2 + 1 + PER_SUPERVISOR  # root, status, channels, 50
        looked_at.clear()
        await get(served, "?view=tree")
        assert len(looked_at) == 400


@pytest.mark.trio
async def test_the_whole_tree_comes_on_request_in_pages_that_join_up() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(), max_children=1000)
    async with serving([ChildSpec("channels", channels)]) as served:
        for key in range(120):
            await channels.get_or_start(key)
        whole = await get(served, "?view=tree")
        assert whole.query.view == "tree"
        assert len(whole.nodes) == 123 and not whole.truncated and whole.next_offset is None
        pages: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = await get(served, f"?view=tree&limit=50&offset={offset}")
            assert page.truncated is (page.next_offset is not None)
            pages.extend(paths(page))
            offset = page.next_offset
        assert pages == paths(whole)
        # Any tree parameter asks for the tree, as before this view existed.
        assert len((await get(served, "?limit=1000")).nodes) == 123
        filtered = await get(served, "?path=/clara/channels&limit=10&offset=115")
        assert paths(filtered) == [f"/clara/channels/{key}" for key in range(114, 120)]


@pytest.mark.parametrize(
    ("query", "parameter", "reason"),
    [
        ("view=overview&path=/clara", "view", "view=overview takes no other parameter"),
        ("view=everything", "view", "view must be overview or tree; got 'everything'"),
        ("view=tree&view=tree", "view", "view may be given once"),
        ("offset=-1", "offset", "offset must be from 0 to 10,000,000; got -1"),
        ("offset=1e3", "offset", "offset must be an integer; got '1e3'"),
        ("limit=%EF%BC%91", "limit", "limit must be an integer"),  # a full-width digit one
        ("limit=" + "9" * 40, "limit", "limit must be from 1 to 1,000,000; got 40 digits"),
    ],
)
@pytest.mark.trio
async def test_bad_view_and_paging_parameters_get_a_400_with_the_reason(
    query: str, parameter: str, reason: str
) -> None:
    async with serving() as served:
        response = await served.client.get(f"/status?{query}")
        assert response.status_code == 400
        body = response.json()
        assert body["parameter"] == parameter
        assert reason in body["error"]


@pytest.mark.trio
async def test_the_census_is_counted_again_only_after_a_lifecycle_event_or_max_age(
    mock_clock: trio.testing.MockClock,
) -> None:
    system = ActorSystem("clara")
    gate = trio.Event()
    channels = DynamicSupervisor(lambda key: SlowStart(gate) if key == "slow" else Recorder())
    root = Supervisor([ChildSpec("channels", channels)])
    watch = TreeWatch(max_age=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        watch.start(system)
        ref = await channels.get_or_start(1)
        first = await watch.census(root)
        assert await watch.census(root) is first  # nothing happened: not counted again
        await ref.tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        crashed = await watch.census(root)
        assert crashed is not first and crashed.actors == {"backing_off": 1}
        # A start under way changes a state before its event: seen once max_age passed.
        nursery.start_soon(channels.get_or_start, "slow")
        await trio.testing.wait_all_tasks_blocked()
        assert await watch.census(root) is crashed
        mock_clock.jump(1.0)
        assert (await watch.census(root)).actors["starting"] == 1
        watch.stop()
        assert await watch.census(root) is not await watch.census(root)  # unwatched: afresh
        gate.set()
        assert await ref.ask(Ping(1), timeout=60) == 2
        await root.stop()


def test_a_tree_watch_wants_a_positive_max_age() -> None:
    with pytest.raises(ValueError, match="max_age must be a positive number of seconds; got 0"):
        TreeWatch(max_age=0)


class CountingSupervisor(DynamicSupervisor):
    """Counts lookups of its children: the overview's search looks at every one."""

    lookups = 0

    def get(self, key: object) -> Any:
        self.lookups += 1
        return super().get(key)


@pytest.mark.trio
async def test_the_search_for_actors_needing_attention_is_reused_until_the_tree_changes(
    mock_clock: trio.testing.MockClock,
) -> None:
    channels = CountingSupervisor(lambda key: Recorder(), backoff=Backoff(min=60.0, max=60.0))
    async with serving([ChildSpec("channels", channels)]) as served:
        refs = [await channels.get_or_start(key) for key in range(300)]
        await refs[200].tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        lookups = channels.lookups
        first = await get(served)
        assert channels.lookups - lookups == 300  # searched them all
        for _ in range(3):  # nothing changed: the first 50, and the one found before
            lookups = channels.lookups
            again = await get(served)
            assert channels.lookups - lookups == PER_SUPERVISOR
            assert paths(again) == paths(first) and paths(again)[-1] == "/clara/channels/200"
        await refs[250].tell(Crash())  # an event: search again
        await trio.testing.wait_all_tasks_blocked()
        lookups = channels.lookups
        document = await get(served)
        assert channels.lookups - lookups == 300
        assert paths(document)[-2:] == ["/clara/channels/200", "/clara/channels/250"]
        mock_clock.jump(1.0)  # no event, but max_age: search again
        lookups = channels.lookups
        await get(served)
        assert channels.lookups - lookups == 300


@pytest.mark.trio
async def test_every_form_of_status_carries_readiness_as_readyz_answers_it() -> None:
    async with serving([ChildSpec("a", Recorder)]) as served:
        assert (await get(served)).readiness.ready
        served.readiness.register("llm", lambda: "no model answers")
        ready = (await served.client.get("/readyz")).json()
        for query in ("", "?view=tree", "?state=failed", "?path=/clara/a"):
            readiness = (await get(served, query)).readiness
            assert (readiness.ready, readiness.reasons) == (False, ready["reasons"])
        assert ready["reasons"] == {"llm": "no model answers"}
