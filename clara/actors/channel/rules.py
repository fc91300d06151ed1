"""The rules of a channel, apart from the actor that applies them: whether a message is for
Clara, whether its author may be answered here, whether it is a stop phrase, and what a stop
ends. Pure functions of the message and the settings, so they are tested alone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ...adapters.chat import Author, MessageReceived
from ...config import DiscordSettings
from ...store import ChannelConfig, GuildConfig

__all__ = ["StopPlan", "addressed", "allowed", "is_stop", "plan_stop", "without_mention"]

W = TypeVar("W")  # what waits with a queued message (the ask to answer, if any)


def addressed(message: MessageReceived, config: ChannelConfig) -> bool:
    """For Clara: a DM, any message in active mode, a mention in mention mode; none when off."""
    mode = config.reply_mode
    if mode == "off":
        return False
    if message.is_dm or mode == "active":
        return True
    return message.mentions_clara


def allowed(
    message: MessageReceived, settings: DiscordSettings, guild: GuildConfig, config: ChannelConfig
) -> bool:
    """Its author may be answered here: the server, the channel and the author's roles are on
    their allow-lists (an empty list allows all). A DM always is."""
    if message.is_dm:
        return True
    allowed_guilds = settings.allowed_guilds
    if allowed_guilds and (message.guild_id is None or int(message.guild_id) not in allowed_guilds):
        return False
    if guild.allowed_channels and message.channel_id not in guild.allowed_channels:
        return False
    return not config.allowed_roles or bool(set(config.allowed_roles) & set(message.author.roles))


def without_mention(text: str) -> str:
    """``text`` without the ``<@id>`` mentions in it."""
    words = [w for w in text.split() if not (w.startswith("<@") and w.endswith(">"))]
    return " ".join(words)


def is_stop(text: str, phrases: Sequence[str]) -> bool:
    """``text`` (mentions removed) is one of the stop phrases, whatever its case and a final
    ``!`` or ``.``."""
    normalized = text.strip().lower().rstrip("!.")
    return normalized in {phrase.lower() for phrase in phrases}


@dataclass
class StopPlan(Generic[W]):
    """What a stop ends: the running reply or not, and which queued messages stay."""

    cancel_running: bool
    kept: deque[tuple[MessageReceived, W]]
    ended: list[tuple[MessageReceived, W]]
    stopped: dict[str, MessageReceived]
    """Whose reply or queued message was ended, with their latest such message."""


def plan_stop(
    speaker: Author,
    everyone: bool,
    running: Sequence[tuple[MessageReceived, W]] | None,
    pending: Sequence[tuple[MessageReceived, W]],
) -> StopPlan[W]:
    """Stop means mine: the speaker's running reply (when it answers only them) and their
    queued messages; with ``everyone`` (an administrator), all of it.

    Args:
        running: what the running reply answers; None when no reply runs.
        pending: the queued messages, in order.
    """
    stopped: dict[str, MessageReceived] = {}
    cancel = False
    if running is not None:
        authors = {message.author.id for message, _ in running}
        cancel = everyone or authors == {speaker.id}
        if cancel:
            for message, _ in running:
                stopped[message.author.id] = message
    kept: deque[tuple[MessageReceived, W]] = deque()
    ended: list[tuple[MessageReceived, W]] = []
    for message, waiting in pending:
        if everyone or message.author.id == speaker.id:
            stopped[message.author.id] = message
            ended.append((message, waiting))
        else:
            kept.append((message, waiting))
    return StopPlan(cancel_running=cancel, kept=kept, ended=ended, stopped=stopped)
