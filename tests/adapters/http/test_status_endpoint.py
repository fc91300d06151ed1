"""The status endpoint over real HTTP on loopback."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import msgspec
import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from clara.actors import ActorState, ActorSystem
from clara.actors.status import StatusEndpoint
from clara.adapters.http import StatusContext, StatusDocument
from clara.adapters.http._schema import SCHEMA_PATH, render_schema
from clara.config import StatusSettings
from clara.errors import ChildStartError
from clara.health import Readiness
from clara.supervisors import ChildSpec, DynamicSupervisor, Supervisor
from tests.adapters.http.harness import TOKEN, serving
from tests.helpers import Block, Crash, Ping, Recorder


async def status(served: Any, **params: str) -> StatusDocument:
    response = await served.client.get("/status", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    # Decoding into the published type checks the whole shape, field by field.
    return msgspec.json.decode(response.content, type=StatusDocument)


def node(document: StatusDocument, path: str) -> Any:
    [found] = [item for item in document.nodes if item.path == path]
    return found


@pytest.mark.trio
async def test_status_shows_the_whole_tree_with_uptime_and_version() -> None:
    inner = Supervisor([ChildSpec("x", Recorder)])
    async with serving([ChildSpec("a", Recorder), ChildSpec("inner", inner)]) as served:
        document = await status(served)
        assert document.version == "9.9.9"
        assert document.uptime_seconds >= 0
        assert document.root == "/clara"
        assert [item.path for item in document.nodes] == [
            "/clara",
            "/clara/status",
            "/clara/a",
            "/clara/inner",
            "/clara/inner/x",
        ]
        assert (document.summary.actors, document.summary.supervisors) == (3, 2)
        a = node(document, "/clara/a")
        assert (a.kind, a.state, a.mailbox.capacity, a.mailbox.overflow) == (
            "Recorder",
            ActorState.RUNNING,
            1000,
            "backpressure",
        )
        root = node(document, "/clara")
        assert (root.kind, root.strategy, root.max_restarts, root.child_count) == (
            "Supervisor",
            "one_for_one",
            100,
            3,
        )


@pytest.mark.trio
async def test_a_crash_shows_as_backing_off_with_its_failure_then_as_a_restart(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with serving([ChildSpec("a", Recorder)]) as served:
        ref = served.root.ref("a")
        await ref.tell(Crash("disk on fire"))
        await trio.testing.wait_all_tasks_blocked()
        document = await status(served)
        a = node(document, "/clara/a")
        assert a.state is ActorState.BACKING_OFF
        assert (a.backoff.attempt, a.backoff.delay, a.backoff.next_start_in) == (1, 30.0, 30.0)
        assert (a.last_failure.type, a.last_failure.message) == ("ValueError", "disk on fire")
        assert "ValueError: disk on fire" in a.last_failure.traceback
        assert a.dead_letters == 1
        assert document.dead_letters.total == 1
        [letter] = document.dead_letters.recent
        assert (letter.recipient, letter.message_type, letter.reason) == (
            "/clara/a",
            "Crash",
            "crashed",
        )
        assert "disk on fire" not in letter.message_type  # types only, never content
        root = node(document, "/clara")
        # The restart counts (and against the intensity) once decided, before it happens.
        assert (root.restarts, root.restarts_in_window) == (1, 1)

        mock_clock.jump(10)
        a = node(await status(served), "/clara/a")
        assert a.backoff.next_start_in == 20.0

        mock_clock.jump(20)
        assert await ref.ask(Ping(1)) == 2
        document = await status(served)
        a = node(document, "/clara/a")
        assert (a.state, a.restarts, a.backoff) == (ActorState.RUNNING, 1, None)
        root = node(document, "/clara")
        assert (root.restarts, root.restarts_in_window) == (1, 1)
        assert document.summary.restarts == 1


@pytest.mark.trio
async def test_a_filling_mailbox_shows_its_depth_and_peak() -> None:
    gate = trio.Event()
    async with serving([ChildSpec("slow", lambda: Recorder(gate=gate), mailbox_capacity=50)]) as (
        served
    ):
        ref = served.root.ref("slow")
        await ref.tell(Block())
        await trio.testing.wait_all_tasks_blocked()
        for n in range(30):
            await ref.tell(Ping(n))
        slow = node(await status(served), "/clara/slow")
        assert (slow.mailbox.depth, slow.mailbox.peak, slow.mailbox.capacity) == (30, 30, 50)
        gate.set()
        await ref.ask(Ping(99))
        slow = node(await status(served), "/clara/slow")
        assert (slow.mailbox.depth, slow.mailbox.peak, slow.processed) == (0, 31, 32)


@pytest.mark.trio
async def test_path_and_state_filters_select_nodes() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(name=str(key)))
    async with serving([ChildSpec("a", Recorder), ChildSpec("channels", channels)]) as served:
        for key in range(5):
            await channels.get_or_start(key)
        await served.root.ref("a").tell(Crash())
        await trio.testing.wait_all_tasks_blocked()
        document = await status(served, path="/clara/channels")
        assert [item.path for item in document.nodes] == [
            "/clara/channels",
            *(f"/clara/channels/{key}" for key in range(5)),
        ]
        assert document.query.path == "/clara/channels"
        assert document.summary.actors == 7  # the summary always counts the whole tree
        document = await status(served, state="backing_off")
        assert [item.path for item in document.nodes] == ["/clara/a"]
        both = await served.client.get("/status?state=backing_off&state=running&path=/clara/a")
        assert [item["path"] for item in both.json()["nodes"]] == ["/clara/a"]
        document = await status(served, limit="3")
        assert len(document.nodes) == 3
        assert document.truncated


@pytest.mark.parametrize(
    ("query", "parameter", "reason"),
    [
        ("state=sleepy", "state", "state must be one of starting, running, backing_off"),
        ("path=clara", "path", "path must start with '/'"),
        ("limit=0", "limit", "limit must be from 1 to 1,000,000; got 0"),
        ("limit=ten", "limit", "limit must be an integer; got 'ten'"),
        (
            "colour=red",
            "colour",
            "unknown query parameter 'colour'; allowed: view, path, state, limit, offset",
        ),
        ("path=/a&path=/b", "path", "path may be given once"),
    ],
)
@pytest.mark.trio
async def test_malformed_query_parameters_get_a_400_with_the_reason(
    query: str, parameter: str, reason: str
) -> None:
    async with serving() as served:
        response = await served.client.get(f"/status?{query}")
        assert response.status_code == 400
        body = response.json()
        assert body["parameter"] == parameter
        assert reason in body["error"]


@pytest.mark.trio
async def test_healthz_and_readyz() -> None:
    async with serving() as served:
        assert (await served.client.get("/healthz")).json() == {"status": "alive"}
        ready = await served.client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": {}})
        served.readiness.register("discord", lambda: "gateway not connected yet")
        served.readiness.register("broken", lambda: 1 / 0)  # type: ignore[arg-type,return-value]
        not_ready = await served.client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json() == {
            "ready": False,
            "reasons": {
                "discord": "gateway not connected yet",
                "broken": "the check raised ZeroDivisionError: division by zero",
            },
        }


@pytest.mark.trio
async def test_metrics_are_prometheus_text_with_labels_bounded_by_kind() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(), max_children=2000)
    async with serving([ChildSpec("channels", channels)]) as served:
        for key in range(1000):
            ref = await channels.get_or_start(key)
            await ref.tell(Ping(key))
        await (await channels.get_or_start(0)).ask(Ping())
        response = await served.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {family.name: family for family in text_string_to_metric_families(response.text)}
        actors = families["clara_actors"].samples
        # 1,000 channel actors are one series (kind, state), not a thousand.
        assert {(s.labels["kind"], s.labels["state"]): s.value for s in actors} == {
            ("Recorder", "running"): 1000.0,
            ("StatusEndpoint", "running"): 1.0,
        }
        processed = {
            s.labels["kind"]: s.value
            for s in families["clara_messages_processed"].samples
            if s.name == "clara_messages_processed_total"
        }
        assert processed["Recorder"] == 1001.0
        assert "clara_dead_letters" in families
        assert "process_resident_memory_bytes" in {
            sample.name for family in families.values() for sample in family.samples
        }
        supervisors = {s.labels["supervisor"] for s in families["clara_supervisors"].samples}
        assert supervisors == {"/clara", "/clara/channels"}


@pytest.mark.trio
async def test_counters_survive_passivation() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(), max_children=1, passivate_after=3600)
    async with serving([ChildSpec("channels", channels)]) as served:
        for key in range(3):  # each start passivates the previous (max_children=1)
            await (await channels.get_or_start(key)).ask(Ping())
        text = (await served.client.get("/metrics")).text
        assert 'clara_messages_processed_total{kind="Recorder"} 3.0' in text


@pytest.mark.trio
async def test_without_the_token_every_route_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(token=TOKEN) as served:
        for route in ("/", "/status", "/healthz", "/readyz", "/metrics"):
            response = await served.client.get(route)
            assert response.status_code == 401, route
            assert "Bearer" in response.headers["www-authenticate"]
            wrong = await served.client.get(route, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        right = {"Authorization": f"Bearer {TOKEN}"}
        for route in ("/", "/status", "/healthz", "/readyz", "/metrics"):
            response = await served.client.get(route, headers=right)
            assert response.status_code == 200, route
            assert TOKEN not in response.text
        basic = base64.b64encode(f"operator:{TOKEN}".encode()).decode()
        response = await served.client.get("/status", headers={"Authorization": f"Basic {basic}"})
        assert response.status_code == 200
        garbage = await served.client.get("/status", headers={"Authorization": "Basic !!!"})
        assert garbage.status_code == 401
    assert TOKEN not in caplog.text


@pytest.mark.trio
async def test_unknown_routes_and_methods_answer_json() -> None:
    async with serving() as served:
        missing = await served.client.get("/nope")
        assert (missing.status_code, missing.json()) == (404, {"error": "no such page: /nope"})
        post = await served.client.post("/status")
        assert post.status_code == 405
        assert "use GET" in post.json()["error"]


@pytest.mark.trio
async def test_the_page_is_served_self_contained() -> None:
    async with serving() as served:
        response = await served.client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert 'fetch("status"' in response.text
        assert "http://" not in response.text and "https://" not in response.text


def test_the_published_schema_matches_the_code() -> None:
    assert SCHEMA_PATH.read_text() == render_schema(), (
        "the /status shape changed: make sure it only adds fields, then run "
        "python -m clara schema --write"
    )


@pytest.mark.trio
async def test_the_schema_is_served_and_describes_every_node_type() -> None:
    async with serving() as served:
        response = await served.client.get("/status/schema")
        assert response.status_code == 200
        schema = response.json()
        assert schema["title"] == "Clara /status"
        definitions = schema["$defs"]
        assert {"ActorStatistics", "SupervisorStatistics", "StatusDocument"} <= set(definitions)
        actor = definitions["ActorStatistics"]["properties"]
        assert {
            "path",
            "kind",
            "state",
            "mailbox",
            "processed",
            "dropped",
            "dead_letters",
            "restarts",
            "last_failure",
            "backoff",
        } <= set(actor)


@pytest.mark.trio
async def test_a_taken_port_fails_the_start_with_the_reason() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    system = ActorSystem("clara")
    context = StatusContext(lambda: root, system, Readiness(), version="x", started_at=time.time())
    root = Supervisor(
        [ChildSpec("status", lambda: StatusEndpoint(StatusSettings(port=port), context))]
    )
    with pytest.raises(
        ChildStartError,
        match=f"child 'status' failed to start: OSError: .*cannot serve on 127.0.0.1:{port}: "
        "Address already in use",
    ):
        await root.run(system)
    listener.close()


@pytest.mark.trio
async def test_the_oauth_callback_is_served_without_the_token_and_escaped() -> None:
    """The authorization server sends a browser back here: its state is the credential."""
    seen: list[tuple[str, str, str]] = []

    async def callback(state: str, code: str, error: str) -> str:
        seen.append((state, code, error))
        return "Clara is connected to <remote>."

    async with serving(token=TOKEN, oauth_callback=callback) as served:
        answer = await served.client.get("/oauth/callback", params={"state": "s1", "code": "c1"})
        assert answer.status_code == 200
        assert "Clara is connected to &lt;remote&gt;." in answer.text
        refused = await served.client.get(
            "/oauth/callback", params={"state": "s2", "error": "access_denied"}
        )
        assert refused.status_code == 200
        missing = await served.client.get("/oauth/callback", params={"code": "c"})
        assert missing.status_code == 400 and "no valid state" in missing.text
        assert (await served.client.get("/status")).status_code == 401  # the rest still guarded
    assert seen == [("s1", "c1", ""), ("s2", "", "access_denied")]
