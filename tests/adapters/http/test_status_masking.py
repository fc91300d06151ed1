"""No secret on any surface of the status endpoint (issue 13, item 1: the last line of defence).

A provider, or a proxy in front of it, that echoes the request puts the API key and what a
person wrote into an error; that error reaches a breaker's last error (an actor's
details), a crash's message and traceback, a readiness reason, a dead letter. Whatever the
adapters do at the source, the endpoint masks every configured secret and every token
shape in all of them, in every form of /status, /readyz, /metrics and error answers.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from clara.actors import ActorState, ActorSystem, FailureInfo
from clara.adapters.http import TREE, Masker, StatusContext, StatusQuery, build_status
from clara.health import Readiness
from clara.supervisors import ChildSpec, DynamicSupervisor, Supervisor
from tests.adapters.http.harness import Served, serving
from tests.helpers import Crash, Recorder

#: Configured secrets (Settings.secrets): an API key without a known shape, a password.
API_KEY = "live-key-7f3a9c1e5b2d4f6a"
PASSWORD = "correct-horse-battery"
#: A token shape, never configured: masked all the same.
SHAPED = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"
#: What a person wrote: not a secret, and not masked (the adapters withhold it at source).
ECHO = f'{{"headers": {{"x-api-key": "{API_KEY}"}}, "auth": "Bearer {SHAPED}", "db": "{PASSWORD}"}}'
SECRETS = (API_KEY, PASSWORD)
LEAKS = (API_KEY, PASSWORD, SHAPED)


class Gateway(Recorder):
    """Details like the LLM gateway's: providers with their breakers' last errors."""

    def describe(self) -> dict[str, Any] | None:
        return {
            "calls": 3,
            "providers": [
                {"name": "openai", "up": False, "breaker": {"state": "open", "last_error": ECHO}},
                {"name": f"key {API_KEY}", "up": True, "breaker": None},
            ],
        }


def assert_clean(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{where} shows {leak[:6]}…"


async def leaky_tree(served: Served, channels: DynamicSupervisor) -> None:
    served.readiness.register("llm", lambda: f"no model answers: openai: HTTP 401 {ECHO}")
    await served.root.ref("worker").tell(Crash(f"provider said {ECHO}"))
    for key in range(60):
        await channels.get_or_start(key)
    # A crash beyond the overview's first 50 children: shown there as needing attention.
    await (await channels.get_or_start(55)).tell(Crash(f"again {ECHO}"))
    await trio.testing.wait_all_tasks_blocked()


@pytest.mark.trio
async def test_no_secret_in_any_form_of_status_nor_in_readyz_or_metrics() -> None:
    channels = DynamicSupervisor(lambda key: Recorder(), max_children=100)
    children = [
        ChildSpec("worker", Recorder),
        ChildSpec("gateway", Gateway),
        ChildSpec("channels", channels),
    ]
    async with serving(children, secrets=SECRETS) as served:
        await leaky_tree(served, channels)
        for query in ("", "?view=tree", "?state=backing_off", "?path=/clara/gateway", "?limit=3"):
            response = await served.client.get("/status" + query)
            assert response.status_code == 200
            assert_clean(response.text, f"/status{query}")
            msgspec.json.decode(response.content)  # masking kept it JSON
        overview = (await served.client.get("/status")).json()
        assert "****" in overview["readiness"]["reasons"]["llm"]
        failed = {node["path"]: node for node in overview["nodes"] if node["last_failure"]}
        assert set(failed) == {"/clara/worker", "/clara/channels/55"}
        assert "provider said" in failed["/clara/worker"]["last_failure"]["message"]
        assert "****" in failed["/clara/worker"]["last_failure"]["traceback"]
        [gateway] = [node for node in overview["nodes"] if node["path"] == "/clara/gateway"]
        providers = gateway["details"]["providers"]
        assert providers[0]["breaker"]["state"] == "open"  # the rest of the details stay
        assert providers[1]["name"] == "key ****"
        letters = overview["dead_letters"]["recent"]
        assert letters and all(letter["error"] for letter in letters)
        ready = await served.client.get("/readyz")
        assert ready.status_code == 503
        assert_clean(ready.text, "/readyz")
        assert "no model answers: openai: HTTP 401" in ready.json()["reasons"]["llm"]
        metrics = await served.client.get("/metrics")
        assert_clean(metrics.text, "/metrics")
        assert "clara_actors" in metrics.text


@pytest.mark.trio
async def test_a_secret_in_a_supervisors_name_is_masked_in_the_metrics_labels() -> None:
    inner = Supervisor([ChildSpec("x", Recorder)])
    async with serving([ChildSpec(f"pool-{API_KEY}", inner)], secrets=SECRETS) as served:
        text = (await served.client.get("/metrics")).text
        assert API_KEY not in text
        assert 'clara_supervisors{state="running",supervisor="/clara/pool-****"} 1.0' in text


@pytest.mark.trio
async def test_error_answers_repeat_what_was_sent_masked_and_short() -> None:
    async with serving(secrets=SECRETS) as served:
        missing = await served.client.get(f"/{API_KEY}/{SHAPED}")
        assert missing.status_code == 404
        assert missing.json()["error"] == "no such page: /****/****"
        bad = await served.client.get("/status", params={"path": f"no-slash-{PASSWORD}"})
        assert bad.status_code == 400
        assert_clean(bad.text, "a 400")
        unknown = await served.client.get("/status", params={SHAPED: "1"})
        assert unknown.status_code == 400
        assert_clean(unknown.text, "a 400 on a parameter's name")
        long = await served.client.get("/" + "a" * 3000)
        assert long.status_code == 404 and len(long.content) < 400


@pytest.mark.trio
async def test_the_oauth_callback_masks_what_the_authorization_server_sent_back() -> None:
    async def callback(state: str, code: str, error: str) -> str:
        return f"The server refused: {error}"

    async with serving(oauth_callback=callback, secrets=SECRETS) as served:
        answer = await served.client.get(
            "/oauth/callback",
            params={"state": "s1", "error": "denied", "error_description": f"token={PASSWORD}"},
        )
        assert answer.status_code == 200
        assert PASSWORD not in answer.text and "The server refused: denied" in answer.text


@pytest.mark.trio
async def test_a_route_that_raises_answers_one_line_and_logs_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    async with serving(secrets=SECRETS) as served:

        def broken() -> str | None:
            raise RuntimeError("broken on purpose")

        # A readiness check that raises is reported by Readiness itself; a root that
        # cannot be read is not: make the route itself fail.
        served.readiness.evaluate = broken  # type: ignore[method-assign,assignment]
        response = await served.client.get("/readyz")
        assert response.status_code == 500
        assert response.json() == {
            "error": "the status endpoint failed to answer; the log says why"
        }
        assert "Traceback" not in response.text
        assert (await served.client.get("/healthz")).status_code == 200
    assert "GET '/readyz' raised" in caplog.text


def test_the_masker_masks_strings_keys_and_structs_and_keeps_the_rest() -> None:
    masker = Masker([API_KEY])
    value = {API_KEY: [API_KEY, 1, 2.5, None, True, ("a", SHAPED)], "n": {"deep": ECHO}}
    assert masker.value(value) == {
        "****": ["****", 1, 2.5, None, True, ["a", "****"]],
        "n": {"deep": masker.text(ECHO)},
    }
    assert masker.value(ActorState.RUNNING) == "running"
    assert masker.value(object()).startswith("<object object at")


def test_a_failure_is_masked_once_and_an_unremarkable_node_is_left_alone() -> None:
    masker = Masker([PASSWORD])
    failure = FailureInfo(
        type="ValueError", message=PASSWORD, at=1.0, wall_time=2.0, traceback=f"x {PASSWORD}"
    )
    masked = masker.failure(failure)
    assert (masked.message, masked.traceback) == ("****", "x ****")
    assert masker.failure(failure) is masked  # a traceback is not masked again on every poll


class Counted(Recorder):
    """Details that stay the same until ``mood`` changes (a new snapshot on every look)."""

    mood = "calm"

    def describe(self) -> dict[str, Any] | None:
        return {"mood": self.mood, "note": f"token={PASSWORD}"}


class CountingMasker(Masker):
    def __init__(self, secrets: Any) -> None:
        super().__init__(secrets)
        self.masked: list[str] = []

    def node(self, node: Any) -> Any:
        self.masked.append(node.path)
        return super().node(node)


@pytest.mark.trio
async def test_details_are_masked_again_only_when_they_change() -> None:
    """A channel's snapshot is new on every look (it has details); masking its details on
    every poll of the whole tree would cost twice the encoding."""
    system = ActorSystem("clara")
    actors: dict[int, Counted] = {}

    def make(key: int) -> Counted:
        actors[key] = Counted()
        return actors[key]

    channels = DynamicSupervisor(make)
    root = Supervisor([ChildSpec("channels", channels)])
    context = StatusContext(lambda: root, system, Readiness(), version="x", started_at=0.0)
    masker = context.masker = CountingMasker(SECRETS)
    tree = StatusQuery(view=TREE)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        for key in range(20):
            await channels.get_or_start(key)
        first = await build_status(context, tree)
        assert PASSWORD not in first.decode() and first.count(b"token=****") == 20
        assert len([path for path in masker.masked if "/channels/" in path]) == 20
        masker.masked.clear()
        await build_status(context, tree)
        assert [path for path in masker.masked if "/channels/" in path] == []
        actors[7].mood = "stormy"
        third = await build_status(context, tree)
        assert [path for path in masker.masked if "/channels/" in path] == ["/clara/channels/7"]
        assert b'"mood":"stormy"' in third and PASSWORD not in third.decode()
        await root.stop()


@pytest.mark.trio
async def test_a_domains_totals_are_served_with_the_tree_and_masked_too() -> None:
    from prometheus_client.core import CounterMetricFamily  # noqa: PLC0415

    def totals() -> list[CounterMetricFamily]:
        family = CounterMetricFamily("clara_demo_things", "Things done", labels=["how"])
        family.add_metric(["well"], 3)
        family.add_metric([f"with {API_KEY}"], 1)
        return [family]

    async with serving([ChildSpec("x", Recorder)], secrets=SECRETS, metrics=[totals]) as served:
        text = (await served.client.get("/metrics")).text
    assert 'clara_demo_things_total{how="well"} 3.0' in text
    assert API_KEY not in text
