"""Which model tier answers a message.

In this order: a tier the message names (``!high``, ``!mid``, ``!low``); with automatic tiers
on (``CLARA_LLM_AUTO_TIER``, or ``/model auto`` for one server), the one a quick call to the
low tier chooses; else the channel's default, the server's, and Clara's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import trio

from ...adapters.llm import ChatMessage, ChatRequest, Completion, Tier
from ...errors import ClaraError

__all__ = ["AUTO_TIER_TIMEOUT", "choose_tier", "default_tier"]

logger = logging.getLogger(__name__)

#: Seconds the choosing call may take; past it, the default tier answers.
AUTO_TIER_TIMEOUT = 5.0

CHOOSE = (
    "You route chat messages to a model. Answer with exactly one word: high, mid or low.\n"
    "high: hard reasoning, careful writing, code, maths, planning, or anything important.\n"
    "mid: an ordinary question or conversation.\n"
    "low: a greeting, thanks, a one-line fact, small talk."
)
_WORD = re.compile(r"\b(high|mid|low)\b")


def default_tier(*choices: str | None, fallback: str) -> Tier:
    """The first of ``choices`` that names a tier (channel, then server), else ``fallback``."""
    for choice in choices:
        if choice in ("high", "mid", "low"):
            return Tier(choice)
    return Tier(fallback)


async def choose_tier(
    complete: Callable[[ChatRequest], Awaitable[Completion]],
    text: str,
    *,
    timeout: float = AUTO_TIER_TIMEOUT,
) -> Tier | None:
    """Ask the low tier which tier should answer ``text``.

    Returns:
        The tier it named, or None when it could not tell in time (an error, a timeout, an
        answer naming no tier): the caller then uses the default.
    """
    request = ChatRequest(
        messages=[
            ChatMessage(role="system", content=CHOOSE),
            ChatMessage(role="user", content=text[:2000]),
        ],
        tier=Tier.LOW,
        max_tokens=4,
        temperature=0.0,
    )
    with trio.move_on_after(timeout):
        try:
            completion = await complete(request)
        except ClaraError as error:
            logger.info("choosing a tier failed: %s", error)
            return None
        found = _WORD.search(completion.text.lower())
        return Tier(found.group(1)) if found else None
    logger.info("choosing a tier took over %ss; the default answers", timeout)
    return None
