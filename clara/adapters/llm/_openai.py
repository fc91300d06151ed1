"""OpenAI-compatible chat completions: OpenAI, OpenRouter, NanoGPT, Ollama, llama.cpp, vLLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import msgspec

from ...errors import MalformedResponse
from ._http import post_json, probe, stream_sse
from ._provider import StreamDone, StreamEvent, TextDelta
from ._schemas import OPENAI, tool_parameters
from ._scrub import fields_of as _fields
from ._types import ChatMessage, ChatRequest, Completion, ImagePart, Tier, ToolCall, Usage

__all__ = ["OpenAICompatible"]


def _arguments(provider: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = msgspec.json.decode(raw)
    except (msgspec.DecodeError, TypeError):
        raise MalformedResponse(
            provider, f"tool call arguments are not JSON ({len(str(raw))} characters)"
        ) from None
    if not isinstance(value, dict):
        raise MalformedResponse(
            provider, f"tool call arguments are not an object but a {type(value).__name__}"
        )
    return value


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text()}
    if isinstance(message.content, str):
        content: Any = message.content
    else:
        content = [
            {
                "type": "image_url",
                "image_url": {"url": f"data:{part.media_type};base64,{part.data}"},
            }
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.content
        ]
    wire: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        wire["content"] = content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": msgspec.json.encode(call.arguments).decode(),
                },
            }
            for call in message.tool_calls
        ]
    return wire


class OpenAICompatible:
    """A provider speaking OpenAI's ``/chat/completions``.

    Args:
        name: how Clara calls it (``openai``, ``openrouter``, ``nanogpt``, ``local``).
        base_url: up to and including the version (``https://api.openai.com/v1``).
        api_key: sent as a bearer token; None for local servers that need none.
        models: the model for each tier.
        headers: extra headers (OpenRouter's attribution).
        client: the HTTP client (one per provider, for its connection pool).
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        models: Mapping[Tier, str],
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._name = name
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._models = dict(models)
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client = client or httpx.AsyncClient()

    @property
    def name(self) -> str:
        return self._name

    def model_for(self, tier: Tier) -> str:
        return self._models[tier]

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_for(request.tier),
            "messages": [_message(message) for message in request.messages],
            "max_tokens": request.max_tokens,
            "stream": stream,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        # In OpenAI's dialect: no "$schema" and the like, an object on top.
                        "parameters": tool_parameters(tool.parameters, OPENAI),
                    },
                }
                for tool in request.tools
            ]
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        answer = await post_json(
            self._client,
            self._name,
            url=self._url,
            headers=self._headers,
            body=self._body(request, False),
            timeout=timeout,
        )
        try:
            choice = answer["choices"][0]
            message = choice["message"]
            calls = [
                ToolCall(
                    id=str(call["id"]),
                    name=str(call["function"]["name"]),
                    arguments=_arguments(self._name, call["function"].get("arguments")),
                )
                for call in message.get("tool_calls") or []
            ]
            usage = answer.get("usage") or {}
            return Completion(
                text=message.get("content") or "",
                tool_calls=calls,
                finish_reason=str(choice.get("finish_reason") or "stop"),
                provider=self._name,
                model=str(answer.get("model") or self.model_for(request.tier)),
                usage=Usage(
                    input_tokens=int(usage.get("prompt_tokens") or 0),
                    output_tokens=int(usage.get("completion_tokens") or 0),
                ),
            )
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise MalformedResponse(
                self._name, f"the answer lacks {error!s:.80} (its fields: {_fields(answer)})"
            ) from None

    async def stream(self, request: ChatRequest, timeout: float) -> AsyncIterator[StreamEvent]:
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish = "stop"
        model = self.model_for(request.tier)
        usage = Usage()
        events = stream_sse(
            self._client,
            self._name,
            url=self._url,
            headers=self._headers,
            body=self._body(request, True),
            timeout=timeout,
        )
        async for _, data in events:
            if not isinstance(data, dict):
                continue
            model = str(data.get("model") or model)
            if data.get("usage"):
                usage = Usage(
                    input_tokens=int(data["usage"].get("prompt_tokens") or 0),
                    output_tokens=int(data["usage"].get("completion_tokens") or 0),
                )
            for choice in data.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = delta.get("content")
                if piece:
                    text.append(piece)
                    yield TextDelta(piece)
                for fragment in delta.get("tool_calls") or []:
                    slot = calls.setdefault(
                        int(fragment.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                    )
                    slot["id"] = fragment.get("id") or slot["id"]
                    function = fragment.get("function") or {}
                    slot["name"] = function.get("name") or slot["name"]
                    slot["arguments"] += function.get("arguments") or ""
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
        tool_calls = [
            ToolCall(
                id=slot["id"],
                name=slot["name"],
                arguments=_arguments(self._name, slot["arguments"]),
            )
            for _, slot in sorted(calls.items())
        ]
        yield StreamDone(
            Completion(
                text="".join(text),
                tool_calls=tool_calls,
                finish_reason=finish,
                provider=self._name,
                model=model,
                usage=usage,
            )
        )

    async def probe(self, timeout: float) -> None:
        """Is the server there? (``GET /models``: no tokens spent.)"""
        await probe(
            self._client,
            self._name,
            url=self._url.removesuffix("/chat/completions") + "/models",
            headers=self._headers,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
