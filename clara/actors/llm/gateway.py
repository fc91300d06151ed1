"""LlmGatewayActor: every model call of Clara goes through it (failover, breakers, deadline)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
import trio

from ...adapters.llm import ChatRequest, Completion, Gateway
from ...errors import LlmError
from .. import Actor, ActorRef, DeferredReply

__all__ = ["CheckProviders", "Complete", "LlmGatewayActor", "ReplyDelta"]

logger = logging.getLogger(__name__)


class Complete(msgspec.Struct, frozen=True, kw_only=True):
    """Ask for a completion. Answered with a ``Completion``, or an ``LlmError``.

    Attributes:
        request: what to ask the model.
        timeout: seconds the whole call may take, failover included (None: the gateway's).
        stream_to: an actor told a ``ReplyDelta`` per piece of text as it is generated.
    """

    request: ChatRequest
    timeout: float | None = None
    stream_to: Any = None


class CheckProviders(msgspec.Struct, frozen=True):
    """Timer: probe the providers (without spending tokens)."""


class ReplyDelta(msgspec.Struct, frozen=True):
    """A piece of a reply being generated (told to ``Complete.stream_to``)."""

    text: str


class LlmGatewayActor(Actor):
    """Owns the gateway: many calls in flight at once, each answered when its model is done.

    Each ``Complete`` ask is deferred and served by a background task, so the mailbox keeps
    moving; at most ``max_in_flight`` calls run at once, and beyond that the mailbox fills
    (its own backpressure). The providers' breakers and latencies appear in ``describe()``
    and so on the status endpoint.

    Args:
        make_gateway: builds the gateway (and its HTTP clients) for each incarnation.
        max_in_flight: concurrent calls at most.
        default_timeout: the deadline of a call that names none, seconds.
    """

    def __init__(
        self,
        make_gateway: Callable[[], Gateway],
        max_in_flight: int = 64,
        default_timeout: float = 120.0,
        check_interval: float = 60.0,
    ) -> None:
        self._make_gateway = make_gateway
        self._limiter = trio.CapacityLimiter(max_in_flight)
        self.default_timeout = default_timeout
        self.gateway: Gateway | None = None
        self.calls = 0
        self.failures = 0
        self.check_interval = check_interval
        self._checking = False

    async def on_start(self) -> None:
        self.gateway = self._make_gateway()
        # Probe at once (in the background) and then every check_interval seconds.
        self.context.send_after(0, CheckProviders())
        self.context.send_every(self.check_interval, CheckProviders(), first=self.check_interval)

    async def on_stop(self) -> None:
        if self.gateway is not None:
            await self.gateway.aclose()

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, CheckProviders):
            if not self._checking:
                self._checking = True
                self.context.start_task(self._check, name="check")
            return None
        if not isinstance(message, Complete):
            raise TypeError(f"LlmGatewayActor does not handle {type(message).__name__}")
        reply = self.context.defer()
        token = object()
        await self._limiter.acquire_on_behalf_of(token)
        self.context.start_task(self._serve, message, reply, token, name="complete")
        return None

    async def _serve(self, message: Complete, reply: DeferredReply, token: object) -> None:
        assert self.gateway is not None
        self.calls += 1
        timeout = message.timeout if message.timeout is not None else self.default_timeout
        deadline = trio.current_time() + timeout
        try:
            if message.stream_to is None:
                completion: Completion = await self.gateway.complete(
                    message.request, deadline=deadline
                )
            else:
                target: ActorRef = message.stream_to

                async def forward(text: str) -> None:
                    await target.tell(ReplyDelta(text))

                completion = await self.gateway.stream(message.request, forward, deadline=deadline)
        except LlmError as error:
            self.failures += 1
            reply.fail(error)
        else:
            reply.reply(completion)
        finally:
            self._limiter.release_on_behalf_of(token)

    async def _check(self) -> None:
        assert self.gateway is not None
        try:
            await self.gateway.check()
        finally:
            self._checking = False

    def describe(self) -> dict[str, Any] | None:
        if self.gateway is None:
            return None
        return {
            "calls": self.calls,
            "failures": self.failures,
            "in_flight": self._limiter.borrowed_tokens,
            "providers": [msgspec.to_builtins(status) for status in self.gateway.status()],
        }
