"""What Clara says to a model and what it answers, independent of any provider's wire format."""

from __future__ import annotations

import enum
from typing import Any, Literal

import msgspec

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "Completion",
    "ImagePart",
    "Role",
    "TextPart",
    "Tier",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]


class Tier(enum.Enum):
    """How capable (and costly) a model a request needs."""

    HIGH = "high"
    MID = "mid"
    LOW = "low"


class TextPart(msgspec.Struct, frozen=True, tag="text", tag_field="type"):
    text: str


class ImagePart(msgspec.Struct, frozen=True, tag="image", tag_field="type"):
    """An image, as base64 data with its media type (``image/png``)."""

    media_type: str
    data: str


Part = TextPart | ImagePart


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """The model asks for a tool to be run."""

    id: str
    name: str
    arguments: dict[str, Any]


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of the conversation sent to the model.

    ``content`` is text, or parts (text and images) for a user turn. An assistant turn may
    carry ``tool_calls``; a ``tool`` turn answers one of them (``tool_call_id``).
    """

    role: Role
    content: str | list[Part] = ""
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A tool the model may call: its name, what it does, its JSON Schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[ChatMessage]
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    tier: Tier = Tier.MID
    max_tokens: int = 1024
    temperature: float | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    input_tokens: int = 0
    output_tokens: int = 0


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    """The model's answer: text, tool calls, or both."""

    text: str
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    finish_reason: str = "stop"
    provider: str = ""
    model: str = ""
    usage: Usage = msgspec.field(default_factory=Usage)
