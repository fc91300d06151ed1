"""DiscordGateway: the actor that owns the Discord connection and routes messages to channels."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ...adapters.chat import MessageReceived
from ...adapters.discord import DiscordBridge
from ...errors import ActorError
from .. import Actor, ActorRef

__all__ = ["DiscordGateway", "router"]

logger = logging.getLogger(__name__)


class DiscordGateway(Actor):
    """Connects to Discord while it runs; every message goes to its channel's actor.

    discord.py reconnects by itself after a dropped connection; if it gives up (a bad
    token, Discord refusing), this actor crashes and its supervisor restarts it with
    backoff. ``describe()`` shows whether it is connected (and ``/readyz`` uses that).

    Args:
        bridge: the discord.py bridge (also the channels' transport).
        channel: returns the ref of the actor for a channel id, starting it if needed.
    """

    def __init__(
        self, bridge: DiscordBridge, channel: Callable[[str], Awaitable[ActorRef]]
    ) -> None:
        self.bridge = bridge
        self._channel = channel
        self.refused = 0

    async def on_start(self) -> None:
        await self.context.start_service(self.bridge.run, name="discord")

    async def on_receive(self, message: Any) -> Any:
        raise TypeError(f"DiscordGateway does not handle {type(message).__name__}")

    def describe(self) -> dict[str, Any] | None:
        return {
            "connected": self.bridge.ready,
            "received": self.bridge.received,
            "sent": self.bridge.sent,
            "refused": self.refused,
        }


def router(
    channels: Callable[[str], Awaitable[ActorRef]], on_refused: Callable[[], None]
) -> Callable[[MessageReceived], Awaitable[None]]:
    """What the bridge calls per message: hand it to its channel without waiting."""

    async def route(message: MessageReceived) -> None:
        try:
            ref = await channels(message.channel_id)
            ref.tell_nowait(message)
        except ActorError as error:  # the channel is full or gone: dead-lettered, counted
            on_refused()
            logger.info("discord message %s not delivered: %s", message.message_id, error)

    return route
