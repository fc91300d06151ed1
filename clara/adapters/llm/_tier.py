"""Choosing a model tier for a message by asking a low-tier model (optional, off by default)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ...errors import LlmError
from ._types import ChatMessage, ChatRequest, Completion, Tier

__all__ = ["CLASSIFIER_PROMPT", "choose_tier"]

logger = logging.getLogger(__name__)

CLASSIFIER_PROMPT = (
    "Classify how demanding it is to answer the user's message well. Answer with one word: "
    "high (careful reasoning, code, maths, long or delicate answers), mid (ordinary "
    "questions and conversation), or low (greetings, thanks, one-line small talk)."
)


async def choose_tier(
    complete: Callable[[ChatRequest], Awaitable[Completion]], text: str, default: Tier
) -> Tier:
    """The tier a low-tier model picks for ``text``; ``default`` if it fails or rambles."""
    request = ChatRequest(
        messages=[
            ChatMessage(role="system", content=CLASSIFIER_PROMPT),
            ChatMessage(role="user", content=text[:2000]),
        ],
        tier=Tier.LOW,
        max_tokens=3,
        temperature=0.0,
    )
    try:
        completion = await complete(request)
    except LlmError as error:
        logger.info("tier choice failed (%s); using %s", error, default.value)
        return default
    words = completion.text.strip().lower().replace(".", " ").split()
    for tier in Tier:
        if words and words[0] == tier.value:
            return tier
    return default
