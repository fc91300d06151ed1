"""DiscordGateway: the actor that owns the Discord connection and routes messages to channels."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ...adapters.discord import Bridge, CommandHandler
from .. import Actor, ActorRef
from .intake import IntakeGate
from .routing import OrderedRouter

__all__ = ["DiscordGateway"]

logger = logging.getLogger(__name__)


class DiscordGateway(Actor):
    """Connects to Discord while it runs; every message goes to its channel's actor.

    discord.py reconnects by itself after a dropped connection; if it gives up (a bad
    token, Discord refusing), this actor crashes and its supervisor restarts it with
    backoff. ``describe()`` shows whether it is connected (and ``/readyz`` uses that).

    Args:
        bridge: the connection: ``DiscordBridge`` (discord.py), or a fake in tests (also
            the channels' transport).
        channel: returns the ref of the actor for a channel id, starting it if needed.
        commands: runs a slash command (none are registered without it).
        gate: what messages pass before the router: held until the ``intake`` child opens
            it (None: straight to the router).
    """

    def __init__(
        self,
        bridge: Bridge,
        channel: Callable[[str], Awaitable[ActorRef]],
        commands: CommandHandler | None = None,
        gate: IntakeGate | None = None,
    ) -> None:
        self.bridge = bridge
        self._channel = channel
        self._commands = commands
        self._gate = gate
        self.refused = 0

    async def on_start(self) -> None:
        # One router per incarnation: what it buffers belongs to the tasks this one starts.
        router = OrderedRouter(self._channel, self.context.start_task, self._refused)
        route: Callable[[Any], Awaitable[None]] = router
        if self._gate is not None:
            self._gate.attach(router)
            route = self._gate
        await self.context.start_service(self.bridge.run, route, self._commands, name="discord")

    def _refused(self) -> None:
        self.refused += 1

    async def on_receive(self, message: Any) -> Any:
        raise TypeError(f"DiscordGateway does not handle {type(message).__name__}")

    def describe(self) -> dict[str, Any] | None:
        return {
            "connected": self.bridge.ready,
            "received": self.bridge.received,
            "sent": self.bridge.sent,
            "refused": self.refused,
        }
