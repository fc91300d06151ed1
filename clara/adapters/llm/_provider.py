"""The Provider protocol every model API adapter implements, and streaming events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import msgspec

from ._types import ChatRequest, Completion, Tier

__all__ = ["Provider", "StreamDone", "StreamEvent", "TextDelta"]


class TextDelta(msgspec.Struct, frozen=True):
    """A piece of the answer's text, as it is generated."""

    text: str


class StreamDone(msgspec.Struct, frozen=True):
    """The end of a stream, with the whole completion (text and tool calls)."""

    completion: Completion


StreamEvent = TextDelta | StreamDone


class Provider(Protocol):
    """A model API: one request in, one completion (or a stream of it) out.

    Implementations map their SDK-free HTTP failures to ``clara.errors.LlmError``
    subclasses; they do not retry (the gateway does).
    """

    @property
    def name(self) -> str: ...

    def model_for(self, tier: Tier) -> str:
        """The model this provider uses for ``tier``."""
        ...

    async def complete(self, request: ChatRequest, timeout: float) -> Completion: ...

    def stream(self, request: ChatRequest, timeout: float) -> AsyncIterator[StreamEvent]: ...

    async def probe(self, timeout: float) -> None:
        """Check the provider is reachable without spending tokens; raise an LlmError if not."""
        ...

    async def aclose(self) -> None: ...
