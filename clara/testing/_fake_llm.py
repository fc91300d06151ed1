"""A scripted model server on loopback, speaking OpenAI's and Anthropic's HTTP protocols.

Tests (and the benchmarks) give it a script of steps: a reply (text and tool calls), an
HTTP error (with Retry-After), a hang, a malformed body. Each request takes the next step;
when the script is empty it answers ``default``. Every request is recorded.

    server = FakeLlmServer()
    url = await nursery.start(server.serve)          # http://127.0.0.1:PORT
    server.script(Fail(429, retry_after=2), Reply("hello"))
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..adapters.http import serve_http

__all__ = ["Echo", "Embed", "Fail", "FakeLlmServer", "Garbage", "Hang", "Reply", "Step"]


@dataclass(frozen=True)
class Reply:
    """Answer with ``text`` and tool calls ``[(name, arguments), ...]``."""

    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    delay: float = 0.0
    """Seconds (trio time) to wait before answering."""


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error."""

    status: int
    retry_after: float | str | None = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class Hang:
    """Never answer (or answer after ``seconds``)."""

    seconds: float = math.inf


@dataclass(frozen=True)
class Garbage:
    """Answer 200 with a body that is not what the protocol says."""

    body: str = "{this is not json"


@dataclass(frozen=True)
class Echo:
    """Answer an HTTP error that repeats the request, as some proxies do: its headers (the
    API key among them) and its body (what people said), in a JSON error message or, with
    ``as_json=False``, as a plain-text page."""

    status: int = 400
    as_json: bool = True


@dataclass(frozen=True)
class Embed:
    """Answer an embeddings request with vectors of ``dimensions``."""

    dimensions: int = 8


Step = Reply | Fail | Hang | Garbage | Echo


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class FakeLlmServer:
    default: Step = field(default_factory=lambda: Reply("ok"))
    embedding_dimensions: int = 8
    down: bool = False
    """Answer GET /v1/models with 503 (what the gateway's health probe sees)."""
    probes: int = 0
    steps: deque[Step] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _echo: str = ""

    def script(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if not r.path.endswith("/embeddings")]

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        await serve_http(app, "127.0.0.1", 0, task_status=task_status)

    # -- plumbing ---------------------------------------------------------------------------

    async def _take(self, request: Request) -> tuple[Step, dict[str, Any]]:
        raw = await request.body()
        body = msgspec.json.decode(raw)
        self.requests.append(
            Recorded(
                path=request.url.path,
                body=body,
                headers={k.lower(): v for k, v in request.headers.items()},
                at=trio.current_time(),
            )
        )
        step = self.steps.popleft() if self.steps else self.default
        if isinstance(step, Hang):
            await trio.sleep(step.seconds)
            step = self.default
        if isinstance(step, Reply) and step.delay:
            await trio.sleep(step.delay)
        if isinstance(step, Echo):
            headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
            self._echo = f"bad request; you sent {headers} with {raw.decode(errors='replace')}"
        return step, body

    def _failure(self, step: Step) -> Response | None:
        if isinstance(step, Fail):
            headers = {} if step.retry_after is None else {"Retry-After": str(step.retry_after)}
            return Response(
                msgspec.json.encode({"error": {"message": step.message, "type": "scripted"}}),
                status_code=step.status,
                headers=headers,
                media_type="application/json",
            )
        if isinstance(step, Garbage):
            return Response(step.body, media_type="application/json")
        if isinstance(step, Echo):
            if step.as_json:
                error = {"error": {"message": self._echo, "type": "invalid_request_error"}}
                return Response(
                    msgspec.json.encode(error),
                    status_code=step.status,
                    media_type="application/json",
                )
            return Response(self._echo, status_code=step.status, media_type="text/plain")
        return None

    def _call_id(self) -> str:
        return f"call_{next(self._ids)}"

    # -- OpenAI ------------------------------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        step, body = await self._take(request)
        failure = self._failure(step)
        if failure is not None:
            return failure
        assert isinstance(step, Reply)
        calls = [
            {
                "id": self._call_id(),
                "type": "function",
                "function": {"name": name, "arguments": msgspec.json.encode(args).decode()},
            }
            for name, args in step.tool_calls
        ]
        model = body.get("model", "fake")
        finish = "tool_calls" if calls else "stop"
        if body.get("stream"):
            return StreamingResponse(
                self._openai_stream(step.text, calls, model, finish),
                media_type="text/event-stream",
            )
        message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
        if calls:
            message["tool_calls"] = calls
        return Response(
            msgspec.json.encode(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7},
                }
            ),
            media_type="application/json",
        )

    @staticmethod
    async def _openai_stream(
        text: str, calls: list[dict[str, Any]], model: str, finish: str
    ) -> AsyncIterator[bytes]:
        def event(data: Any) -> bytes:
            return b"data: " + msgspec.json.encode(data) + b"\n\n"

        for word in _pieces(text):
            yield event({"model": model, "choices": [{"index": 0, "delta": {"content": word}}]})
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            yield event(
                {
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": index,
                                        "id": call["id"],
                                        "function": {
                                            "name": call["function"]["name"],
                                            "arguments": arguments[:half],
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                }
            )
            yield event(
                {
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {"index": index, "function": {"arguments": arguments[half:]}}
                                ]
                            },
                        }
                    ],
                }
            )
        yield event(
            {"model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        )
        yield event(
            {"model": model, "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
        )
        yield b"data: [DONE]\n\n"

    # -- Anthropic ---------------------------------------------------------------------------

    async def _anthropic(self, request: Request) -> Response:
        step, body = await self._take(request)
        failure = self._failure(step)
        if failure is not None:
            return failure
        assert isinstance(step, Reply)
        model = body.get("model", "fake")
        blocks: list[dict[str, Any]] = []
        if step.text:
            blocks.append({"type": "text", "text": step.text})
        for name, args in step.tool_calls:
            blocks.append({"type": "tool_use", "id": self._call_id(), "name": name, "input": args})
        stop = "tool_use" if step.tool_calls else "end_turn"
        if body.get("stream"):
            return StreamingResponse(
                self._anthropic_stream(blocks, model, stop), media_type="text/event-stream"
            )
        return Response(
            msgspec.json.encode(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop,
                    "usage": {"input_tokens": 13, "output_tokens": 5},
                }
            ),
            media_type="application/json",
        )

    @staticmethod
    async def _anthropic_stream(
        blocks: list[dict[str, Any]], model: str, stop: str
    ) -> AsyncIterator[bytes]:
        def event(name: str, data: Any) -> bytes:
            return f"event: {name}\ndata: ".encode() + msgspec.json.encode(data) + b"\n\n"

        yield event(
            "message_start",
            {
                "type": "message_start",
                "message": {"model": model, "usage": {"input_tokens": 13, "output_tokens": 0}},
            },
        )
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                yield event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for word in _pieces(block["text"]):
                    yield event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": word},
                        },
                    )
            else:
                yield event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                data = msgspec.json.encode(block["input"]).decode()
                half = len(data) // 2
                for part in (data[:half], data[half:]):
                    yield event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
            yield event("content_block_stop", {"type": "content_block_stop", "index": index})
        yield event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 5},
            },
        )
        yield event("message_stop", {"type": "message_stop"})

    async def _models(self, request: Request) -> Response:
        self.probes += 1
        if self.down:
            return Response(b'{"error": {"message": "down"}}', status_code=503)
        return Response(
            msgspec.json.encode({"object": "list", "data": [{"id": "fake", "object": "model"}]}),
            media_type="application/json",
        )

    # -- embeddings (for mem0) ---------------------------------------------------------------

    async def _embeddings(self, request: Request) -> Response:
        body = msgspec.json.decode(await request.body())
        self.requests.append(
            Recorded(path=request.url.path, body=body, headers={}, at=trio.current_time())
        )
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _vector(text, self.embedding_dimensions),
            }
            for i, text in enumerate(inputs)
        ]
        return Response(
            msgspec.json.encode(
                {
                    "object": "list",
                    "data": data,
                    "model": body.get("model", "fake"),
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }
            ),
            media_type="application/json",
        )


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words) if word or i]


def _vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector from the text's words (similar texts, similar vectors)."""
    values = [0.0] * dimensions
    for word in str(text).lower().split():
        values[zlib.crc32(word.encode()) % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
