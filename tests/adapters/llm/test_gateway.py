"""Failover, retries, Retry-After, breakers and deadlines, over real HTTP, in virtual time.

The clock is trio's MockClock with autojump after 0.2 s of real idleness: the loopback
requests finish long before that, so virtual time only jumps while the gateway sleeps
(backoff, Retry-After) or waits on a server that hangs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from clara.adapters.llm import BreakerState, ChatMessage, ChatRequest, Gateway, RetryPolicy
from clara.errors import NoProviderAvailable
from clara.testing import Fail, FakeLlmServer, Garbage, Hang, Reply
from tests.adapters.llm.harness import anthropic, openai

REQUEST = ChatRequest(messages=[ChatMessage(role="user", content="hello")])


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    mock_clock.autojump_threshold = 0.2
    return mock_clock


@asynccontextmanager
async def two_servers() -> AsyncIterator[tuple[FakeLlmServer, FakeLlmServer, Gateway]]:
    first, second = FakeLlmServer(), FakeLlmServer(default=Reply("from b"))
    async with trio.open_nursery() as nursery:
        url_a = await nursery.start(first.serve)
        url_b = await nursery.start(second.serve)
        gateway = Gateway(
            [openai(url_a, name="a"), anthropic(url_b, name="b")],
            call_timeout=2.0,
            retry=RetryPolicy(max_retries=2, base_delay=0.5, max_delay=20.0),
            breaker_threshold=3,
            breaker_cooldown=30.0,
        )
        yield first, second, gateway
        await gateway.aclose()
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_5xx_is_retried_with_backoff_then_fails_over(clock: object) -> None:
    async with two_servers() as (a, b, gateway):
        a.script(Fail(500), Fail(502), Fail(503))
        completion = await gateway.complete(REQUEST)
        assert (completion.provider, completion.text) == ("b", "from b")
        times = [request.at for request in a.requests]
        assert len(times) == 3
        assert 0.45 <= times[1] - times[0] <= 0.55  # 0.5 s ± jitter
        assert 0.9 <= times[2] - times[1] <= 1.1  # doubled
        assert len(b.requests) == 1


@pytest.mark.trio
async def test_429_waits_exactly_what_retry_after_says(clock: object) -> None:
    async with two_servers() as (a, b, gateway):
        a.script(Fail(429, retry_after=7), Reply("from a"))
        completion = await gateway.complete(REQUEST)
        assert completion.provider == "a"
        assert a.requests[1].at - a.requests[0].at == 7.0
        assert b.requests == []
        [status_a, _] = gateway.status()
        assert status_a.retries == 1 and status_a.up


@pytest.mark.trio
async def test_a_retry_after_longer_than_we_would_wait_fails_over_at_once(clock: object) -> None:
    async with two_servers() as (a, _b, gateway):
        a.script(Fail(429, retry_after=3600))
        start = trio.current_time()
        assert (await gateway.complete(REQUEST)).provider == "b"
        assert trio.current_time() == start
        assert len(a.requests) == 1


@pytest.mark.trio
async def test_a_hanging_provider_times_out_at_the_call_timeout(clock: object) -> None:
    async with two_servers() as (a, b, gateway):
        a.script(Hang())
        start = trio.current_time()
        completion = await gateway.complete(REQUEST)
        assert completion.provider == "b"
        assert b.requests[0].at - start == 2.0  # the call timeout, exactly


@pytest.mark.trio
async def test_the_deadline_bounds_the_whole_call(clock: object) -> None:
    async with two_servers() as (a, b, gateway):
        a.script(Hang())
        b.script(Hang())
        start = trio.current_time()
        with pytest.raises(NoProviderAvailable) as caught:
            await gateway.complete(REQUEST, deadline=start + 3.0)
        assert trio.current_time() - start == 3.0  # a: 2 s, b: the 1 s left
        assert "no answer within 2s" in caught.value.reasons["a"]
        assert "no answer within 1s" in caught.value.reasons["b"]


@pytest.mark.trio
async def test_malformed_answers_fail_over_without_retrying(clock: object) -> None:
    async with two_servers() as (a, _b, gateway):
        a.script(Garbage())
        assert (await gateway.complete(REQUEST)).provider == "b"
        assert len(a.requests) == 1


@pytest.mark.trio
async def test_the_breaker_opens_skips_the_provider_then_probes_it_after_the_cooldown(
    clock: object,
) -> None:
    async with two_servers() as (a, _b, gateway):
        a.script(Fail(401), Fail(401), Fail(401))
        for _ in range(3):
            assert (await gateway.complete(REQUEST)).provider == "b"
        status = gateway.status()[0]
        assert status.breaker.state is BreakerState.OPEN
        assert not status.up
        opened = status.breaker.opened_at
        assert opened is not None
        # Open: a is not even asked.
        assert (await gateway.complete(REQUEST)).provider == "b"
        assert len(a.requests) == 3
        # After the cool-down, one probe; it succeeds and closes the breaker.
        await trio.sleep_until(opened + 30.0)
        a.script(Reply("a is back"))
        assert (await gateway.complete(REQUEST)).text == "a is back"
        assert gateway.status()[0].breaker.state is BreakerState.CLOSED


@pytest.mark.trio
async def test_a_failed_probe_reopens_the_breaker(clock: object) -> None:
    async with two_servers() as (a, _b, gateway):
        a.script(Fail(401), Fail(401), Fail(401), Fail(401))
        for _ in range(3):
            await gateway.complete(REQUEST)
        await trio.sleep(30)
        await gateway.complete(REQUEST)  # the probe fails
        snapshot = gateway.status()[0].breaker
        assert snapshot.state is BreakerState.OPEN
        assert snapshot.opened_at == trio.current_time()
        assert len(a.requests) == 4


@pytest.mark.trio
async def test_when_every_provider_fails_the_reasons_name_each(clock: object) -> None:
    async with two_servers() as (a, b, gateway):
        a.script(Fail(401, message="invalid key"))
        b.script(Fail(400, message="bad request"))
        with pytest.raises(NoProviderAvailable) as caught:
            await gateway.complete(REQUEST)
        assert set(caught.value.reasons) == {"a", "b"}
        assert "invalid key" in caught.value.reasons["a"]
        assert "no provider answered" in str(caught.value)


@pytest.mark.trio
async def test_streaming_fails_over_before_the_first_piece(clock: object) -> None:
    async with two_servers() as (a, b, gateway):
        a.script(Fail(401))
        b.script(Reply("streamed from b"))
        pieces: list[str] = []

        async def on_delta(text: str) -> None:
            pieces.append(text)

        completion = await gateway.stream(REQUEST, on_delta)
        assert "".join(pieces) == "streamed from b" == completion.text
        assert completion.provider == "b"
