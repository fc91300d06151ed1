"""Model providers over plain HTTP (httpx on trio), and the failover gateway.

- ``OpenAICompatible``: OpenAI's chat completions, which OpenRouter, NanoGPT, OpenAI and
  local servers (Ollama, llama.cpp, vLLM) speak.
- ``Anthropic``: Anthropic's Messages API.

Both do tool calling, images and streaming, and map every failure to ``clara.errors``
(``ProviderUnavailable``, ``ProviderRateLimited``, ``ProviderRejected``, ``ProviderTimeout``,
``MalformedResponse``). The ``Gateway`` tries them in order with retries, ``Retry-After``,
a circuit breaker each and one deadline per call.
"""

from ._anthropic import Anthropic
from ._breaker import BreakerSnapshot, BreakerState, CircuitBreaker
from ._build import build_providers
from ._explain import explain_unavailable
from ._gateway import Gateway, ProviderStatus, RetryPolicy
from ._openai import OpenAICompatible
from ._provider import Provider, StreamDone, StreamEvent, TextDelta
from ._tier import choose_tier
from ._types import (
    ChatMessage,
    ChatRequest,
    Completion,
    ImagePart,
    TextPart,
    Tier,
    ToolCall,
    ToolSpec,
    Usage,
)

__all__ = [
    "Anthropic",
    "BreakerSnapshot",
    "BreakerState",
    "ChatMessage",
    "ChatRequest",
    "CircuitBreaker",
    "Completion",
    "Gateway",
    "ImagePart",
    "OpenAICompatible",
    "Provider",
    "ProviderStatus",
    "RetryPolicy",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "Tier",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "build_providers",
    "choose_tier",
    "explain_unavailable",
]
