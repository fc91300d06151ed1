"""What the ``DiscordGateway`` actor needs of its connection to Discord."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from ..chat import ChatTransport, MessageReceived
from ._commands import CommandHandler

__all__ = ["Bridge"]


class Bridge(ChatTransport, Protocol):
    """A connection to Discord: runs while its actor runs, and is the channels' transport.

    ``DiscordBridge`` is the real one (discord.py through trio-asyncio);
    ``clara.testing.FakeBridge`` is the one in memory.
    """

    @property
    def ready(self) -> bool:
        """Connected, and Discord has said it is ready."""
        ...

    @property
    def received(self) -> int:
        """Messages handed to ``route`` so far."""
        ...

    @property
    def sent(self) -> int:
        """Messages posted so far."""
        ...

    async def run(
        self,
        route: Callable[[MessageReceived], Awaitable[None]],
        commands: CommandHandler | None = None,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect; report ``started`` once ready; hand each message to ``route``; stay until
        cancelled.

        Args:
            route: called (in trio) with every message someone else wrote.
            commands: runs the slash commands (none are registered without it).

        Raises:
            PlatformError: the connection was refused, or lost for good (the actor crashes
                and its supervisor restarts it with backoff).
        """
        ...

    async def history(
        self, channel_id: str, *, after: str | None, limit: int
    ) -> list[MessageReceived]:
        """What others wrote in ``channel_id`` after message ``after`` (None: the latest),
        oldest first, at most ``limit`` messages, Clara's own left out: what was said while
        Clara was away, which the gateway does not replay.

        Raises:
            ValueError: ``limit`` is below 1.
            PlatformError: not connected, or the platform refused (unknown channel, no
                access to its history).
        """
        ...
