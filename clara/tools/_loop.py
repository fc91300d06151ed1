"""The tool loop: ask the model, run the tools it calls, give it the results, again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from ..adapters.llm import ChatMessage, ChatRequest, Completion
from ._registry import ToolFile, ToolRegistry

__all__ = ["LoopResult", "ToolProgress", "run_tool_loop"]

Complete = Callable[[ChatRequest], Awaitable[Completion]]


class ToolProgress(msgspec.Struct, frozen=True, kw_only=True):
    """One tool call, as the channel shows it (started, then finished or failed)."""

    round: int
    tool: str
    arguments: dict[str, Any]
    status: str
    """``started``, ``finished`` or ``failed``."""
    seconds: float = 0.0


class LoopResult(msgspec.Struct, frozen=True, kw_only=True):
    completion: Completion
    rounds: int
    """Model calls made."""
    tool_calls: int
    truncated: int
    """Tool results cut to ``max_result_chars``."""
    messages: list[ChatMessage]
    """The whole exchange, tool calls and results included."""
    files: list[ToolFile] = msgspec.field(default_factory=list)
    """Files the tools made, to send with the reply."""


def _truncate(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    note = f"\n[truncated: the first {limit} of {len(text)} characters are shown]"
    return text[:limit] + note, True


async def run_tool_loop(
    complete: Complete,
    request: ChatRequest,
    registry: ToolRegistry,
    *,
    max_rounds: int = 6,
    tool_timeout: float = 30.0,
    max_result_chars: int = 4000,
    on_progress: Callable[[ToolProgress], Awaitable[None]] | None = None,
) -> LoopResult:
    """Run the model with tools until it answers without calling one, or the rounds run out.

    Each tool call has ``tool_timeout`` seconds; a result longer than ``max_result_chars``
    is cut, with a note saying so, so one tool cannot fill the context. When ``max_rounds``
    model calls have all asked for tools, one last call without tools asks for an answer
    from what was gathered. Cancelling the caller's scope stops the loop wherever it is.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1; got {max_rounds!r}")
    messages = list(request.messages)
    tools = registry.specs()
    rounds = calls = truncated = 0
    files: list[ToolFile] = []
    while True:
        rounds += 1
        last_round = rounds > max_rounds
        if last_round:
            messages.append(
                ChatMessage(
                    role="system",
                    content="The tool budget for this reply is spent: answer now with what "
                    "you have, and say what you could not finish.",
                )
            )
        completion = await complete(
            msgspec.structs.replace(
                request, messages=list(messages), tools=[] if last_round else tools
            )
        )
        if not completion.tool_calls or last_round:
            return LoopResult(
                completion=completion,
                rounds=rounds,
                tool_calls=calls,
                truncated=truncated,
                messages=[*messages, ChatMessage(role="assistant", content=completion.text)],
                files=files,
            )
        messages.append(
            ChatMessage(role="assistant", content=completion.text, tool_calls=completion.tool_calls)
        )
        for call in completion.tool_calls:
            calls += 1
            if on_progress is not None:
                await on_progress(
                    ToolProgress(
                        round=rounds, tool=call.name, arguments=call.arguments, status="started"
                    )
                )
            started = trio.current_time()
            result = await registry.call(call.name, call.arguments, tool_timeout)
            files.extend(result.files)
            text, cut = _truncate(result.text, max_result_chars)
            if result.files:
                text += (
                    "\n[files attached to your reply: "
                    + ", ".join(f.name for f in result.files)
                    + "]"
                )
            truncated += cut
            if on_progress is not None:
                await on_progress(
                    ToolProgress(
                        round=rounds,
                        tool=call.name,
                        arguments=call.arguments,
                        status="failed" if result.error else "finished",
                        seconds=round(trio.current_time() - started, 3),
                    )
                )
            messages.append(
                ChatMessage(role="tool", tool_call_id=call.id, name=call.name, content=text)
            )
