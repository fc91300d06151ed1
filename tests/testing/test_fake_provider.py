"""FakeProvider: the Provider protocol in memory, scripted like the loopback FakeLlmServer."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from clara.actors.llm import Complete, LlmGatewayActor, ReplyDelta
from clara.adapters.llm import ChatMessage, ChatRequest, Gateway, RetryPolicy, Tier, ToolCall
from clara.errors import (
    LlmError,
    MalformedResponse,
    NoProviderAvailable,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from clara.testing import (
    ActorTestKit,
    Fail,
    FakeLlmServer,
    FakeProvider,
    Garbage,
    Hang,
    Reply,
    Step,
)
from tests.adapters.llm.harness import openai

pytestmark = pytest.mark.trio

Clock = trio.testing.MockClock
REQUEST = ChatRequest(messages=[ChatMessage(role="user", content="hello")], tier=Tier.LOW)


async def test_each_call_takes_the_next_step_then_the_default(autojump_clock: Clock) -> None:
    provider = FakeProvider(Reply("one"), default=Reply("again"))
    provider.script(Reply("two", tool_calls=(("clock__now", {"zone": "UTC"}),)))
    first = await provider.complete(REQUEST, 10)
    second = await provider.complete(REQUEST, 10)
    third = await provider.complete(REQUEST, 10)
    assert [first.text, second.text, third.text] == ["one", "two", "again"]
    assert second.tool_calls == [
        ToolCall(id="call_1", name="clock__now", arguments={"zone": "UTC"})
    ]
    assert (second.finish_reason, first.finish_reason) == ("tool_calls", "stop")
    assert (first.provider, first.model) == ("fake", "fake-low")
    assert [(call.timeout, call.streamed) for call in provider.requests] == [(10, False)] * 3
    assert provider.texts() == ["hello"] * 3


async def test_a_delayed_reply_and_a_finite_hang_take_exact_virtual_time(
    autojump_clock: Clock,
) -> None:
    provider = FakeProvider(Reply("late", delay=2.5), Hang(7), default=Reply("after the hang"))
    assert (await provider.complete(REQUEST, 60)).text == "late"
    assert trio.current_time() == 2.5
    assert (await provider.complete(REQUEST, 60)).text == "after the hang"
    assert trio.current_time() == 9.5
    assert [call.at for call in provider.requests] == [0.0, 2.5]


@pytest.mark.parametrize(
    ("step", "kind", "message"),
    [
        (
            Fail(429, retry_after=3),
            ProviderRateLimited,
            "fake: rate limited (429): scripted failure",
        ),
        (Fail(503), ProviderUnavailable, "fake: server error 503: scripted failure"),
        (Fail(401, message="no"), ProviderRejected, "fake: refused the request (401): no"),
        (
            Garbage(),
            MalformedResponse,
            "fake: the answer is not JSON (17 bytes of application/json, not shown)",
        ),
    ],
)
async def test_failures_are_the_errors_a_real_provider_raises(
    autojump_clock: Clock, step: Step, kind: type[LlmError], message: str
) -> None:
    provider = FakeProvider(step)
    with pytest.raises(kind) as caught:
        await provider.complete(REQUEST, 10)
    assert str(caught.value) == message
    if isinstance(caught.value, ProviderRateLimited):
        assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    "step", [Fail(429, retry_after=2), Fail(502, message="bad gateway"), Fail(400), Garbage()]
)
async def test_it_fails_as_a_real_provider_over_the_loopback_fake_does(
    mock_clock: Clock, step: Step
) -> None:
    mock_clock.autojump_threshold = 0.2  # a loopback server works in real time
    server = FakeLlmServer(default=step)
    async with trio.open_nursery() as nursery:
        real = openai(await nursery.start(server.serve), name="fake")
        errors: list[LlmError] = []
        for provider in (real, FakeProvider(step)):
            with pytest.raises(LlmError) as caught:
                await provider.complete(REQUEST, 10)
            errors.append(caught.value)
        await real.aclose()
        nursery.cancel_scope.cancel()
    assert [type(error) for error in errors] == [type(errors[0])] * 2
    assert str(errors[0]) == str(errors[1])
    assert getattr(errors[0], "retry_after", None) == getattr(errors[1], "retry_after", None)


async def test_streaming_yields_the_text_word_by_word_then_the_completion(
    autojump_clock: Clock,
) -> None:
    provider = FakeProvider(Reply("one two three"))
    pieces: list[str] = []

    async def collect(text: str) -> None:
        pieces.append(text)

    completion = await Gateway([provider]).stream(REQUEST, collect)
    assert pieces == ["one ", "two ", "three"]
    assert completion.text == "one two three"
    assert provider.requests[0].streamed


async def test_a_gateway_retries_on_the_fakes_retry_after_and_fails_over(
    autojump_clock: Clock,
) -> None:
    first = FakeProvider(Fail(429, retry_after=2), Fail(503), Fail(503), name="first")
    second = FakeProvider(Reply("from the second", delay=1), name="second")
    gateway = Gateway([first, second], retry=RetryPolicy(max_retries=1))
    completion = await gateway.complete(REQUEST)
    assert (completion.text, completion.provider) == ("from the second", "second")
    assert [call.at for call in first.requests] == [0.0, 2.0]
    assert [call.at for call in second.requests] == [2.0]
    assert trio.current_time() == 3.0


async def test_a_hang_is_cut_off_at_the_gateways_call_timeout(autojump_clock: Clock) -> None:
    gateway = Gateway([FakeProvider(Hang())], call_timeout=15)
    with pytest.raises(NoProviderAvailable) as caught:
        await gateway.complete(REQUEST)
    assert caught.value.reasons == {"fake": "no answer within 15s"}
    assert trio.current_time() == 15.0


async def test_a_provider_that_is_down_fails_the_probe(autojump_clock: Clock) -> None:
    provider = FakeProvider(down=True)
    gateway = Gateway([provider])
    assert await gateway.check() == {"fake": "fake: server error 503: down"}
    provider.down = False
    assert await gateway.check() == {"fake": None}
    assert provider.probes == 2


async def test_the_gateway_actor_runs_on_it_and_closes_it_at_stop(autojump_clock: Clock) -> None:
    provider = FakeProvider(default=Reply("a b", delay=4))
    async with ActorTestKit() as kit:
        llm = await kit.spawn(lambda: LlmGatewayActor(lambda: Gateway([provider])))
        listener = await kit.probe()
        completion = await llm.ask(Complete(request=REQUEST, stream_to=listener.ref))
        assert completion.text == "a b" and trio.current_time() == 4.0
        assert [(await listener.expect(ReplyDelta)).text for _ in range(2)] == ["a ", "b"]
        assert provider.probes == 1  # the actor's check at start
    assert provider.closed


async def test_a_provider_needs_a_name_and_a_model_for_every_tier() -> None:
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        FakeProvider(name="")
    with pytest.raises(ValueError, match=r"missing \['low'\]"):
        FakeProvider(models={Tier.HIGH: "h", Tier.MID: "m"})
