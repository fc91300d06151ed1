"""What the model is told before a channel's messages: who Clara is, the time where the
person is, the rolling summary, memories, then the recent history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..adapters.llm import ChatMessage
from ..store import HistoryEntry

PERSONA = (
    "You are Clara, a warm and thoughtful companion in a Discord community. You remember "
    "people, you are honest about what you do not know, and you keep replies as short as "
    "the question allows."
)


def system_prompt(
    author: str,
    zone_name: str,
    summary: str,
    memories: Iterable[str],
    now: dt.datetime | None = None,
) -> str:
    """The system message; an unknown ``zone_name`` falls back to UTC."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone, zone_name = ZoneInfo("UTC"), "UTC"
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    parts = [PERSONA, f"It is {local:%A %Y-%m-%d %H:%M} where {author} is ({zone_name})."]
    if summary:
        parts.append(f"Earlier in this conversation: {summary}")
    remembered = list(memories)
    if remembered:
        parts.append("What you remember:\n" + "\n".join(f"- {m}" for m in remembered))
    return "\n\n".join(parts)


def history_messages(history: Iterable[HistoryEntry]) -> list[ChatMessage]:
    """Stored history as chat messages; people's lines carry their names."""
    return [
        ChatMessage(role="assistant", content=entry.content)
        if entry.role == "assistant"
        else ChatMessage(role="user", content=f"{entry.name}: {entry.content}")
        for entry in history
    ]
