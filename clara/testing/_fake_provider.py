"""A model provider in memory: the ``Provider`` protocol, scripted, with no socket.

It reads like the loopback ``FakeLlmServer`` and takes the same steps (``Reply``, ``Fail``,
``Hang``, ``Garbage``); each call takes the next step, and an empty script answers
``default``. Failures come out as the errors a real provider raises for the same HTTP
answer, so a ``Gateway`` retries, fails over and opens breakers exactly as it would::

    provider = FakeProvider(Fail(429, retry_after=2), Reply("hello"))
    gateway = Gateway([provider])                    # or LlmGatewayActor(lambda: gateway)
    assert (await gateway.complete(request)).text == "hello"
    assert provider.requests[1].at == 2.0            # virtual time, under autojump_clock

Hangs and delays wait on trio time, so ``autojump_clock`` moves them at once.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import msgspec
import trio

from ..adapters.llm import (
    ChatRequest,
    Completion,
    StreamDone,
    StreamEvent,
    TextDelta,
    Tier,
    ToolCall,
    Usage,
)
from ..adapters.llm._http import check_response
from ..adapters.llm._scrub import describe_body
from ..errors import (
    LlmError,
    MalformedResponse,
    ProviderUnavailable,
)
from ._fake_llm import Fail, Garbage, Hang, Reply, Step
from ._fake_llm import _pieces as pieces

if TYPE_CHECKING:
    from ..adapters.llm import Provider

__all__ = ["FakeProvider", "ProviderRequest"]

#: The model of each tier, unless the test names others.
FAKE_MODELS: Mapping[Tier, str] = {
    Tier.HIGH: "fake-high",
    Tier.MID: "fake-mid",
    Tier.LOW: "fake-low",
}


@dataclass(frozen=True)
class ProviderRequest:
    """One call the provider got."""

    request: ChatRequest
    timeout: float
    """What the gateway allowed the call, seconds."""
    streamed: bool
    at: float
    """``trio.current_time()`` when it arrived."""


class FakeProvider:
    """A ``Provider`` that answers from a script, in memory.

    Args:
        *steps: the first answers, in order (more with ``script``).
        name: the provider's name (a gateway keys its breakers and reasons by it).
        default: the answer once the script is empty.
        models: the model of each tier.
        down: make ``probe`` fail, as a server answering 503 would (settable later).

    Raises:
        ValueError: ``name`` is empty, or ``models`` lacks a tier.
    """

    def __init__(
        self,
        *steps: Step,
        name: str = "fake",
        default: Step | None = None,
        models: Mapping[Tier, str] = FAKE_MODELS,
        down: bool = False,
    ) -> None:
        if not name:
            raise ValueError("name must be a non-empty string; got ''")
        missing = [tier.value for tier in Tier if tier not in models]
        if missing:
            raise ValueError(f"models must name a model for every tier; missing {missing}")
        self._name = name
        self.default: Step = default if default is not None else Reply("ok")
        self._models = dict(models)
        self.down = down
        self.steps: deque[Step] = deque(steps)
        self.requests: list[ProviderRequest] = []
        self.probes = 0
        self.closed = False
        self._call_ids = itertools.count(1)

    # -- the script ---------------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Append ``steps``: the next calls take them in order."""
        self.steps.extend(steps)

    def texts(self) -> list[str]:
        """The last message's text of every request, in order (what the model was asked)."""
        return [call.request.messages[-1].text() for call in self.requests]

    # -- the Provider protocol ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    def model_for(self, tier: Tier) -> str:
        return self._models[tier]

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        """The next step's answer.

        Raises:
            ProviderRateLimited, ProviderUnavailable, ProviderRejected: a ``Fail`` step
                (429, 5xx, other 4xx).
            MalformedResponse: a ``Garbage`` step.
        """
        step = await self._take(request, timeout, streamed=False)
        return self._completion(step, request)

    async def stream(self, request: ChatRequest, timeout: float) -> AsyncIterator[StreamEvent]:
        """The next step's answer as a stream: the text word by word, then ``StreamDone``.

        Raises the same errors as ``complete``, before the first piece.
        """
        step = await self._take(request, timeout, streamed=True)
        completion = self._completion(step, request)
        for piece in pieces(completion.text):
            yield TextDelta(piece)
        yield StreamDone(completion)

    async def probe(self, timeout: float) -> None:
        """Count the probe; ``ProviderUnavailable`` when ``down``."""
        self.probes += 1
        await trio.lowlevel.checkpoint()
        if self.down:
            raise ProviderUnavailable(self._name, "server error 503: down")

    async def aclose(self) -> None:
        self.closed = True

    # -- plumbing -----------------------------------------------------------------------------

    async def _take(self, request: ChatRequest, timeout: float, *, streamed: bool) -> Step:
        self.requests.append(
            ProviderRequest(
                request=request, timeout=timeout, streamed=streamed, at=trio.current_time()
            )
        )
        step = self.steps.popleft() if self.steps else self.default
        if isinstance(step, Hang):
            await trio.sleep(step.seconds)
            step = self.default
        if isinstance(step, Reply) and step.delay:
            await trio.sleep(step.delay)
        await trio.lowlevel.checkpoint()
        return step

    def _completion(self, step: Step, request: ChatRequest) -> Completion:
        if isinstance(step, Fail):
            raise _error_for(self._name, step)
        if isinstance(step, Garbage):
            raise _malformed(self._name, step.body)
        assert isinstance(step, Reply), f"not a step: {step!r}"
        calls = [
            ToolCall(id=f"call_{next(self._call_ids)}", name=name, arguments=dict(arguments))
            for name, arguments in step.tool_calls
        ]
        return Completion(
            text=step.text,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            provider=self._name,
            model=self.model_for(request.tier),
            usage=Usage(input_tokens=11, output_tokens=7),
        )


def _error_for(provider: str, step: Fail) -> LlmError:
    """The error a real provider raises for the HTTP answer ``step`` describes: the adapter's
    own mapping (``check_response``), fed the answer the loopback fake would send."""
    headers = {} if step.retry_after is None else {"Retry-After": str(step.retry_after)}
    answer = httpx.Response(
        step.status, json={"error": {"message": step.message, "type": "scripted"}}, headers=headers
    )
    try:
        check_response(provider, answer)
    except LlmError as error:
        return error
    raise ValueError(f"Fail needs an error status (400 or more); got {step.status}")


_JSON_TYPE = {"content-type": "application/json"}


def _malformed(provider: str, body: str) -> MalformedResponse:
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        # As the adapter words it (``post_json``): what the body is, never the body itself.
        answer = httpx.Response(200, content=body.encode(), headers=_JSON_TYPE)
        return MalformedResponse(provider, f"the answer is not JSON ({describe_body(answer)})")
    return MalformedResponse(provider, "the answer does not follow the protocol")


if TYPE_CHECKING:  # mypy checks that the fake keeps up with the protocol

    def _is_a_provider(fake: FakeProvider) -> Provider:
        return fake
