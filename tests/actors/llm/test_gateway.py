"""The gateway actor: many calls in flight, streaming to an actor, providers on the status."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.actors.llm import Complete, LlmGatewayActor, ReplyDelta
from clara.adapters.llm import (
    ChatMessage,
    ChatRequest,
    Completion,
    Gateway,
    build_providers,
    explain_unavailable,
)
from clara.config import load_settings
from clara.errors import NoProviderAvailable
from clara.testing import ActorTestKit, FakeLlmServer, Reply
from tests.adapters.llm.harness import openai

REQUEST = ChatRequest(messages=[ChatMessage(role="user", content="hello")])


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    mock_clock.autojump_threshold = 0.2
    return mock_clock


@pytest.mark.trio
async def test_many_calls_run_at_once_and_each_gets_its_answer(clock: object) -> None:
    server = FakeLlmServer(default=Reply("answer", delay=5.0))
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        async with ActorTestKit() as kit:
            ref = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([openai(url)])))
            answers: list[Completion] = []

            async def ask() -> None:
                answers.append(await ref.ask(Complete(request=REQUEST), timeout=60))

            start = trio.current_time()
            async with trio.open_nursery() as callers:
                for _ in range(20):
                    callers.start_soon(ask)
            assert len(answers) == 20
            assert trio.current_time() - start == 5.0  # concurrently, not 20 x 5 s
            details = ref.statistics().details
            assert details["calls"] == 20 and details["in_flight"] == 0
            [provider] = details["providers"]
            assert provider["name"] == "openai" and provider["up"]
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_streaming_tells_each_piece_to_the_actor_named(clock: object) -> None:
    server = FakeLlmServer(default=Reply("one two three"))
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        async with ActorTestKit() as kit:
            ref = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([openai(url)])))
            probe = await kit.probe()
            completion = await ref.ask(Complete(request=REQUEST, stream_to=probe.ref))
            assert completion.text == "one two three"
            pieces = [await probe.expect(ReplyDelta) for _ in range(3)]
            assert [piece.text for piece in pieces] == ["one ", "two ", "three"]
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_with_no_keys_and_no_local_server_the_answer_says_what_to_set(
    clock: object,
) -> None:
    settings = load_settings({"CLARA_LOCAL_LLM_URL": "http://127.0.0.1:9/v1"})
    async with ActorTestKit() as kit:
        ref = await kit.spawn(
            lambda: LlmGatewayActor(lambda: Gateway(build_providers(settings.llm)))
        )
        with pytest.raises(NoProviderAvailable) as caught:
            await ref.ask(Complete(request=REQUEST))
        assert "local" in caught.value.reasons
        message = explain_unavailable(caught.value, settings.llm)
        assert "OPENROUTER_API_KEY" in message and "http://127.0.0.1:9/v1" in message
        # Nothing crashed; the provider shows as down.
        stats = ref.statistics()
        assert stats.restarts == 0 and stats.failed == 0
        [provider] = stats.details["providers"]
        assert provider["name"] == "local" and provider["up"] is False
        assert "cannot reach 127.0.0.1:9" in provider["breaker"]["last_error"]


@pytest.mark.trio
async def test_providers_are_probed_at_start_and_then_periodically(clock: object) -> None:
    server = FakeLlmServer(down=True)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        async with ActorTestKit() as kit:
            ref = await kit.spawn(
                lambda: LlmGatewayActor(lambda: Gateway([openai(url)]), check_interval=60)
            )
            await trio.sleep(1)
            [provider] = ref.statistics().details["providers"]
            assert (
                provider["up"] is False and "server error 503" in provider["breaker"]["last_error"]
            )
            assert server.probes == 1
            server.down = False
            await trio.sleep(60)
            assert server.probes == 2
            [provider] = ref.statistics().details["providers"]
            assert provider["up"] is True
        nursery.cancel_scope.cancel()
