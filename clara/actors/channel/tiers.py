"""Which model tier answers a message.

In this order: a tier the message names (``!high``, ``!mid``, ``!low``); with automatic tiers
on (``CLARA_LLM_AUTO_TIER``, or ``/model auto`` for one server), the one a quick call to the
low tier chooses (``clara.adapters.llm.choose_tier``), within ``AUTO_TIER_TIMEOUT``; else the
channel's default, the server's, and Clara's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from ...adapters.llm import ChatRequest, Completion, Tier
from ...adapters.llm import choose_tier as ask_the_low_tier
from ...errors import ClaraError

__all__ = ["AUTO_TIER_TIMEOUT", "choose_tier", "default_tier"]

logger = logging.getLogger(__name__)

#: Seconds the choosing call may take; past it, the default tier answers.
AUTO_TIER_TIMEOUT = 5.0


def default_tier(*choices: str | None, fallback: str) -> Tier:
    """The first of ``choices`` that names a tier (channel, then server), else ``fallback``."""
    for choice in choices:
        if choice in ("high", "mid", "low"):
            return Tier(choice)
    return Tier(fallback)


async def choose_tier(
    complete: Callable[[ChatRequest], Awaitable[Completion]],
    text: str,
    default: Tier,
    *,
    timeout: float = AUTO_TIER_TIMEOUT,
) -> Tier:
    """The tier the low tier picks for ``text``; ``default`` when it cannot tell in time (an
    error, a timeout, an answer naming no tier)."""
    with trio.move_on_after(timeout):
        try:
            return await ask_the_low_tier(complete, text, default)
        except ClaraError as error:  # the gateway itself (stopped, refusing): not the model
            logger.info("choosing a tier failed (%s); using %s", error, default.value)
            return default
    logger.info("choosing a tier took over %ss; using %s", timeout, default.value)
    return default
