"""The messages a ``ChannelActor`` takes and tells, and the tier prefixes it reads."""

from __future__ import annotations

import msgspec

from ...adapters.chat import MessageReceived
from ...adapters.llm import Tier

TIER_PREFIXES = {
    "!high": Tier.HIGH,
    "!h": Tier.HIGH,
    "!best": Tier.HIGH,
    "!mid": Tier.MID,
    "!m": Tier.MID,
    "!normal": Tier.MID,
    "!low": Tier.LOW,
    "!l": Tier.LOW,
    "!fast": Tier.LOW,
}


class Converse(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: handle ``message`` like any other, and answer with the reply's text once sent.

    For the console's ``--once`` and for tests; the platform adapters ``tell`` plain
    ``MessageReceived`` messages.
    """

    message: MessageReceived


class ReplyDone(msgspec.Struct, frozen=True, kw_only=True):
    """From the reply task to its actor: the reply it was running is over."""

    generation: int


class SettingsChanged(msgspec.Struct, frozen=True):
    """Tell: reload this channel's and its server's settings from the store."""


def parse_tier(text: str) -> tuple[Tier | None, str]:
    """A leading ``!high`` / ``!mid`` / ``!low`` (or alias), and the text without it."""
    stripped = text.lstrip()
    word, _, rest = stripped.partition(" ")
    tier = TIER_PREFIXES.get(word.lower())
    if tier is None:
        return None, text
    return tier, rest.lstrip()
