"""Failover across providers: retries with backoff, Retry-After, breakers, one deadline."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import msgspec
import trio

from ...errors import (
    LlmError,
    NoProviderAvailable,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from ._breaker import BreakerSnapshot, CircuitBreaker
from ._provider import Provider, StreamDone, TextDelta
from ._types import ChatRequest, Completion

__all__ = ["Gateway", "ProviderStatus", "RetryPolicy"]

logger = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]]


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Retries of one provider on 429 and 5xx before failing over to the next.

    Attributes:
        max_retries: retries after the first attempt (default 2).
        base_delay: the first backoff, seconds; doubles each retry (default 0.5).
        max_delay: the longest wait, including a provider's Retry-After (default 20).
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, retry: int, hint: float | None, rng: random.Random) -> float:
        if hint is not None:
            return min(hint, self.max_delay)
        base = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return float(base * rng.uniform(0.9, 1.1))


class ProviderStatus(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One provider as the status endpoint shows it."""

    name: str
    breaker: BreakerSnapshot
    up: bool
    last_latency_ms: float | None
    retries: int


class _Health:
    __slots__ = ("breaker", "last_latency", "retries")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.last_latency: float | None = None
        self.retries = 0


class Gateway:
    """Asks the providers in order until one answers.

    Each provider gets ``retry.max_retries`` retries on 429 (waiting what Retry-After says)
    and 5xx, within the call's deadline; a provider whose breaker is open is skipped. When
    none answers, ``NoProviderAvailable`` says why, per provider.

    Args:
        providers: in failover order.
        call_timeout: the longest one provider call may take, seconds.
        retry: the retry policy.
        breaker_threshold: consecutive failures that open a provider's breaker.
        breaker_cooldown: seconds before an open breaker lets a probe through.
        rng: jitter source.
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        call_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        breaker_threshold: int = 3,
        breaker_cooldown: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        if not providers:
            raise ValueError("a gateway needs at least one provider")
        self.providers = list(providers)
        self.call_timeout = call_timeout
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._health = {
            provider.name: _Health(CircuitBreaker(breaker_threshold, breaker_cooldown))
            for provider in providers
        }

    def status(self) -> list[ProviderStatus]:
        return [
            ProviderStatus(
                name=provider.name,
                breaker=health.breaker.snapshot(),
                up=health.breaker.state.value == "closed"
                and health.breaker.consecutive_failures == 0,
                last_latency_ms=None
                if health.last_latency is None
                else round(health.last_latency * 1000, 2),
                retries=health.retries,
            )
            for provider in self.providers
            for health in (self._health[provider.name],)
        ]

    async def complete(self, request: ChatRequest, *, deadline: float | None = None) -> Completion:
        """The first answer any provider gives, in failover order.

        Raises:
            NoProviderAvailable: every provider failed, was cut off, or the deadline passed.
        """
        return await self._failover(request, deadline, None)

    async def stream(
        self, request: ChatRequest, on_delta: OnDelta, *, deadline: float | None = None
    ) -> Completion:
        """Like ``complete``, handing each piece of text to ``on_delta`` as it comes.

        Failover happens only before the first piece: after it, a failure is raised (the
        text already shown cannot be taken back).
        """
        return await self._failover(request, deadline, on_delta)

    async def _failover(
        self, request: ChatRequest, deadline: float | None, on_delta: OnDelta | None
    ) -> Completion:
        reasons: dict[str, str] = {}
        for provider in self.providers:
            health = self._health[provider.name]
            now = trio.current_time()
            if deadline is not None and now >= deadline:
                reasons[provider.name] = "not tried: the deadline passed"
                continue
            if not health.breaker.allow(now):
                snapshot = health.breaker.snapshot()
                wait = (snapshot.retry_at or now) - now
                reasons[provider.name] = (
                    f"skipped: circuit open for {wait:.0f}s more after {snapshot.last_error}"
                )
                continue
            started = trio.current_time()
            emitted = False

            async def forward(text: str) -> None:
                nonlocal emitted
                emitted = True
                assert on_delta is not None
                await on_delta(text)

            try:
                completion = await self._attempt(
                    provider, request, deadline, None if on_delta is None else forward
                )
            except LlmError as error:
                health.breaker.failed(trio.current_time(), str(error))
                reasons[provider.name] = str(error).removeprefix(f"{provider.name}: ")
                logger.warning("llm provider %s failed: %s", provider.name, error)
                if emitted:
                    raise
                continue
            health.breaker.succeeded()
            health.last_latency = trio.current_time() - started
            return completion
        raise NoProviderAvailable(reasons)

    async def _attempt(
        self,
        provider: Provider,
        request: ChatRequest,
        deadline: float | None,
        on_delta: OnDelta | None,
    ) -> Completion:
        retries = 0
        while True:
            now = trio.current_time()
            limit = now + self.call_timeout
            if deadline is not None:
                limit = min(limit, deadline)
            timeout = limit - now
            if timeout <= 0:
                raise ProviderTimeout(provider.name, "the deadline passed before the call")
            try:
                with trio.fail_at(limit):
                    return await self._call(provider, request, timeout, on_delta)
            except trio.TooSlowError:
                raise ProviderTimeout(provider.name, f"no answer within {timeout:.3g}s") from None
            except (ProviderRateLimited, ProviderUnavailable) as error:
                retries += 1
                if retries > self.retry.max_retries:
                    raise
                hint = error.retry_after if isinstance(error, ProviderRateLimited) else None
                delay = self.retry.delay(retries, hint, self._rng)
                if deadline is not None and trio.current_time() + delay >= deadline:
                    raise
                if hint is not None and hint > self.retry.max_delay:
                    raise  # the provider asks for longer than we would ever wait
                self._health[provider.name].retries += 1
                logger.info(
                    "llm provider %s: %s; retry %d in %.2fs", provider.name, error, retries, delay
                )
                await trio.sleep(delay)

    @staticmethod
    async def _call(
        provider: Provider, request: ChatRequest, timeout: float, on_delta: OnDelta | None
    ) -> Completion:
        if on_delta is None:
            return await provider.complete(request, timeout)
        done: Completion | None = None
        async for event in provider.stream(request, timeout):
            if isinstance(event, TextDelta):
                if event.text:
                    await on_delta(event.text)
            elif isinstance(event, StreamDone):
                done = event.completion
        if done is None:
            raise ProviderUnavailable(provider.name, "the stream ended without a completion")
        return done

    async def check(self, timeout: float = 5.0) -> dict[str, str | None]:
        """Probe every provider whose breaker allows a call; feed the outcomes to the breakers.

        Returns each provider's problem (None when it answered). The actor runs this at
        start and then periodically, so the status shows a provider that is down before any
        user's message finds out.
        """
        problems: dict[str, str | None] = {}

        async def one(provider: Provider) -> None:
            breaker = self._health[provider.name].breaker
            if not breaker.allow(trio.current_time()):
                problems[provider.name] = breaker.last_error or "circuit open"
                return
            try:
                await provider.probe(timeout)
            except LlmError as error:
                breaker.failed(trio.current_time(), str(error))
                problems[provider.name] = str(error)
            else:
                breaker.succeeded()
                problems[provider.name] = None

        async with trio.open_nursery() as nursery:
            for provider in self.providers:
                nursery.start_soon(one, provider)
        return problems

    def problem(self) -> str | None:
        """Why no provider is usable right now, or None when one is."""
        statuses = self.status()
        if any(status.up for status in statuses):
            return None
        return "; ".join(
            f"{status.name}: {status.breaker.last_error or status.breaker.state.value}"
            for status in statuses
        )

    async def aclose(self) -> None:
        for provider in self.providers:
            with trio.CancelScope(shield=True):
                await provider.aclose()
