"""What the model is told before a channel's messages: who Clara is, the time where the
person is, the rolling summary, memories, then the recent history."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...adapters.chat import MessageReceived
from ...adapters.llm import ChatMessage
from ...adapters.memory import memory_user_id
from ...errors import ClaraError
from ...store import HistoryEntry
from .. import ActorRef
from ..memory import Recall

logger = logging.getLogger(__name__)

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
    *,
    continuity: str = "",
) -> str:
    """The system message; an unknown ``zone_name`` falls back to UTC. ``continuity``: how
    the person's last conversation went and what they keep coming back to (or '')."""
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
    if continuity:
        parts.append(f"About {author}: {continuity}")
    return "\n\n".join(parts)


def history_messages(history: Iterable[HistoryEntry]) -> list[ChatMessage]:
    """Stored history as chat messages; people's lines carry their names."""
    return [
        ChatMessage(role="assistant", content=entry.content)
        if entry.role == "assistant"
        else ChatMessage(role="user", content=f"{entry.name}: {entry.content}")
        for entry in history
    ]


async def recall_about(
    memory: ActorRef, platform: str, messages: list[MessageReceived], query: str
) -> list[str]:
    """What memory holds about each author of ``messages`` that matches ``query``."""
    if not query.strip():
        return []
    found: list[str] = []
    for author_id in dict.fromkeys(m.author.id for m in messages):
        try:
            found += await memory.ask(
                Recall(user_id=memory_user_id(platform, author_id), query=query), timeout=None
            )
        except ClaraError as error:
            logger.info("memory search failed: %s", error)
    return found
