"""The rolling summary: messages older than the history window, folded by the low tier."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ...adapters.llm import ChatMessage, ChatRequest, Completion, Tier
from ...errors import LlmError
from ...store import Database, save_summary, unsummarized

logger = logging.getLogger(__name__)

INSTRUCTION = (
    "Summarize this conversation for your own memory in at most 150 words: who said what "
    "that matters, facts, decisions, open questions."
)


async def fold_older_messages(
    database: Database,
    platform: str,
    channel_id: str,
    *,
    window: int,
    at_least: int,
    complete: Callable[[ChatRequest], Awaitable[Completion]],
) -> str | None:
    """Fold the unsummarized messages beyond the last ``window`` into the stored summary.

    Does nothing (returns None) until there are ``at_least`` of them, or when the model
    cannot answer; returns the new summary once it is stored.
    """
    # Through the writer: behind the exchanges queued a moment ago (they are not waited for).
    summary, older, until = await database.write(unsummarized, platform, channel_id, window)
    if until is None or len(older) < at_least:
        return None
    transcript = "\n".join(f"{entry.name or entry.role}: {entry.content}" for entry in older)
    request = ChatRequest(
        messages=[
            ChatMessage(role="system", content=INSTRUCTION),
            ChatMessage(
                role="user",
                content=(f"Summary so far: {summary}\n\n" if summary else "")
                + f"Then:\n{transcript}",
            ),
        ],
        tier=Tier.LOW,
        max_tokens=400,
    )
    try:
        completion = await complete(request)
    except LlmError as error:
        logger.info("channel %s: no summary this time: %s", channel_id, error)
        return None
    text = completion.text.strip()
    if not text:
        return None
    await database.write(save_summary, platform, channel_id, text, until)
    return text
