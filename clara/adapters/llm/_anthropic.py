"""Anthropic's Messages API (``ANTHROPIC_BASE_URL`` for proxies)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import msgspec

from ...errors import MalformedResponse, ProviderUnavailable
from ._http import post_json, probe, stream_sse
from ._provider import StreamDone, StreamEvent, TextDelta
from ._schemas import ANTHROPIC, tool_parameters
from ._scrub import fields_of as _fields
from ._types import ChatMessage, ChatRequest, Completion, ImagePart, Tier, ToolCall, Usage

__all__ = ["ANTHROPIC_VERSION", "Anthropic"]

ANTHROPIC_VERSION = "2023-06-01"


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": message.content}] if message.content else []
        )
    else:
        blocks = [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
            }
            if isinstance(part, ImagePart)
            else {"type": "text", "text": part.text}
            for part in message.content
        ]
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """System text apart; tool results folded into user turns; same-role turns merged."""
    system = "\n\n".join(m.text() for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.text(),
                }
            ]
        else:
            role = message.role
            blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


class Anthropic:
    """A provider speaking Anthropic's ``/v1/messages``.

    Args:
        api_key: sent as ``x-api-key``.
        models: the model for each tier.
        base_url: ``https://api.anthropic.com`` or a proxy.
        client: the HTTP client.
    """

    def __init__(
        self,
        api_key: str,
        models: Mapping[Tier, str],
        *,
        base_url: str = "https://api.anthropic.com",
        client: httpx.AsyncClient | None = None,
        name: str = "anthropic",
    ) -> None:
        self._name = name
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._models = dict(models)
        self._headers = {
            "content-type": "application/json",
            "x-api-key": api_key,
            "anthropic-version": ANTHROPIC_VERSION,
        }
        self._client = client or httpx.AsyncClient()

    @property
    def name(self) -> str:
        return self._name

    def model_for(self, tier: Tier) -> str:
        return self._models[tier]

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        system, turns = _conversation(request.messages)
        body: dict[str, Any] = {
            "model": self.model_for(request.tier),
            "max_tokens": request.max_tokens,
            "messages": turns,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            # In Anthropic's dialect: no "$schema" and the like, an object on top with no
            # alternatives there.
            body["tools"] = [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": tool_parameters(t.parameters, ANTHROPIC),
                }
                for t in request.tools
            ]
        if stream:
            body["stream"] = True
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
            text: list[str] = []
            calls: list[ToolCall] = []
            for block in answer["content"]:
                if block["type"] == "text":
                    text.append(block["text"])
                elif block["type"] == "tool_use":
                    if not isinstance(block["input"], dict):
                        raise MalformedResponse(self._name, "a tool_use input is not an object")
                    calls.append(
                        ToolCall(
                            id=str(block["id"]), name=str(block["name"]), arguments=block["input"]
                        )
                    )
            usage = answer.get("usage") or {}
            return Completion(
                text="".join(text),
                tool_calls=calls,
                finish_reason=str(answer.get("stop_reason") or "end_turn"),
                provider=self._name,
                model=str(answer.get("model") or self.model_for(request.tier)),
                usage=Usage(
                    input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0),
                ),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedResponse(
                self._name, f"the answer lacks {error!s:.80} (its fields: {_fields(answer)})"
            ) from None

    async def stream(self, request: ChatRequest, timeout: float) -> AsyncIterator[StreamEvent]:
        text: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        finish = "end_turn"
        model = self.model_for(request.tier)
        input_tokens = output_tokens = 0
        events = stream_sse(
            self._client,
            self._name,
            url=self._url,
            headers=self._headers,
            body=self._body(request, True),
            timeout=timeout,
        )
        async for event, data in events:
            kind = data.get("type", event) if isinstance(data, dict) else event
            if kind == "error":
                detail = (data.get("error") or {}).get("message", "error event")
                raise ProviderUnavailable(self._name, f"the stream failed: {detail}")
            if kind == "message_start":
                message = data.get("message") or {}
                model = str(message.get("model") or model)
                input_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
            elif kind == "content_block_start":
                block = data.get("content_block") or {}
                blocks[int(data.get("index", 0))] = {
                    "type": block.get("type"),
                    "id": block.get("id", ""),
                    "name": block.get("name", ""),
                    "json": "",
                }
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta":
                    text.append(delta.get("text", ""))
                    yield TextDelta(delta.get("text", ""))
                elif delta.get("type") == "input_json_delta":
                    blocks.setdefault(int(data.get("index", 0)), {"json": ""})["json"] += delta.get(
                        "partial_json", ""
                    )
            elif kind == "message_delta":
                finish = str((data.get("delta") or {}).get("stop_reason") or finish)
                output_tokens = int((data.get("usage") or {}).get("output_tokens") or 0)
        calls = []
        for _, block in sorted(blocks.items()):
            if block.get("type") != "tool_use":
                continue
            try:
                arguments = msgspec.json.decode(block["json"] or "{}")
            except msgspec.DecodeError:
                raise MalformedResponse(self._name, "streamed tool input is not JSON") from None
            calls.append(ToolCall(id=block["id"], name=block["name"], arguments=arguments))
        yield StreamDone(
            Completion(
                text="".join(text),
                tool_calls=calls,
                finish_reason=finish,
                provider=self._name,
                model=model,
                usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            )
        )

    async def probe(self, timeout: float) -> None:
        """Is the API there, and is the key good? (``GET /v1/models``: no tokens spent.)"""
        await probe(
            self._client,
            self._name,
            url=self._url.removesuffix("/messages") + "/models",
            headers=self._headers,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
