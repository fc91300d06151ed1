"""Discord as the ``DiscordGateway`` actor sees it, in memory: no gateway, no socket.

The actor runs it like the real bridge; the test delivers messages (which go through the
actor's router to the channel actors), reads what Clara posted, and drops the connection::

    bridge = FakeBridge()
    gateway = await kit.spawn(lambda: DiscordGateway(bridge, channels.get_or_start))
    await bridge.wait_ready()
    await bridge.deliver(incoming("hello", mention=True))
    await bridge.wait_for(1)                       # one message posted
    bridge.disconnect()                            # the actor crashes, and is restarted
    bridge.remember(incoming("while you were away"))   # in the history, never delivered
    bridge.allow_reading("ada", "c1")              # what can_read answers
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from ..adapters.chat import MessageReceived
from ..errors import PlatformError
from ._fake_chat import FakeTransport, Sent

if TYPE_CHECKING:
    from ..adapters.discord import Bridge, CommandHandler

__all__ = ["FakeBridge"]

Route = Callable[[MessageReceived], Awaitable[None]]


class FakeBridge:
    """A ``Bridge`` in memory: ``run`` connects at once, ``deliver`` plays a gateway event.

    Sends are recorded as ``Sent`` (as ``FakeTransport`` records them), deduplicated by
    nonce as Discord's ``enforce_nonce`` does. Every message delivered or ``remember``-ed is
    in its channel's history, which ``history`` reads back; ``can_read`` answers what
    ``allow_reading`` allowed (nothing at first).

    Args:
        connect_delay: seconds (trio time) each connection takes to become ready.
    """

    def __init__(self, *, connect_delay: float = 0.0) -> None:
        self.connect_delay = connect_delay
        self.ready = False
        self.received = 0
        self.sent = 0
        self.connections = 0
        """How many times ``run`` has started (one per incarnation of its actor)."""
        self.commands: CommandHandler | None = None
        """What the current connection runs slash commands with."""
        self._outbox = FakeTransport()
        self._route: Route | None = None
        self._refusal: str | None = None
        self._lost: str | None = None
        self._history_refusal: str | None = None
        self._histories: dict[str, list[MessageReceived]] = {}
        self._changed = trio.Event()

    # -- what the test does ---------------------------------------------------------------------

    async def deliver(self, message: MessageReceived) -> None:
        """Hand ``message`` to the router, as a gateway event would (returns once routed).

        Raises:
            RuntimeError: not connected (a real gateway delivers nothing then).
        """
        if not self.ready or self._route is None:
            raise RuntimeError("the fake bridge is not connected: nothing can be delivered")
        self.remember(message)
        self.received += 1
        await self._route(message)

    def remember(self, message: MessageReceived) -> None:
        """Put ``message`` in its channel's history without delivering it: someone wrote
        while Clara was away (connected or not)."""
        self._histories.setdefault(message.channel_id, []).append(message)

    def allow_reading(self, user_id: str, *channel_ids: str) -> None:
        """Let ``user_id`` read the history of ``channel_ids`` (what ``can_read`` answers)."""
        self._outbox.allow_reading(user_id, *channel_ids)

    def refuse_history(
        self, reason: str | None = "reading the channel failed (403): Missing Access"
    ) -> None:
        """Make ``history`` raise ``PlatformError`` with ``reason`` (None: answer again)."""
        self._history_refusal = reason

    def disconnect(self, reason: str = "the gateway closed the connection") -> None:
        """Lose the connection for good: ``run`` raises ``PlatformError`` with ``reason``."""
        self._lost = reason
        self._wake()

    def refuse(self, reason: str | None = "login refused: improper token") -> None:
        """Make the next connections fail with ``PlatformError`` (None: accept them again)."""
        self._refusal = reason

    async def wait_ready(self) -> None:
        """Wait until a connection is ready."""
        while not self.ready:
            await self._changed.wait()

    @property
    def posted(self) -> list[Sent]:
        """Every message Clara posted, in order."""
        return self._outbox.sent

    @property
    def typing_calls(self) -> int:
        return self._outbox.typing_calls

    @property
    def reactions(self) -> list[tuple[str, str, str, float]]:
        """(channel id, message id, emoji, virtual time) of each reaction Clara added."""
        return self._outbox.reactions

    def texts(self, channel_id: str | None = None) -> list[str]:
        """The text of every message posted (in one channel, or all)."""
        return self._outbox.texts(channel_id)

    async def wait_for(self, count: int) -> None:
        """Wait until ``count`` messages have been posted in all."""
        await self._outbox.wait_for(count)

    # -- the Bridge protocol --------------------------------------------------------------------

    async def run(
        self,
        route: Route,
        commands: CommandHandler | None = None,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect (after ``connect_delay``), report started, stay until cancelled.

        Raises:
            PlatformError: ``refuse`` was called (before started), or ``disconnect`` (after).
        """
        self.connections += 1
        if self._refusal is not None:
            raise PlatformError("discord", self._refusal)
        await trio.sleep(self.connect_delay)
        self._route, self.commands, self._lost = route, commands, None
        self.ready = True
        self._wake()
        try:
            task_status.started(self)
            while self._lost is None:
                await self._changed.wait()
            raise PlatformError("discord", self._lost)
        finally:
            self.ready = False
            self._route = None
            self._wake()

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        """Record the message; a ``PlatformError`` when not connected, as the real one."""
        if not self.ready:
            raise PlatformError("discord", "not connected")
        message_id = await self._outbox.send(
            channel_id, text, reply_to=reply_to, nonce=nonce, files=files
        )
        self.sent += 1
        return message_id

    async def typing(self, channel_id: str) -> None:
        if self.ready:
            await self._outbox.typing(channel_id)

    async def react(self, channel_id: str, message_id: str, emoji: str) -> None:
        """Record the reaction (in ``outbox.reactions``); ``PlatformError`` when not connected."""
        if not self.ready:
            raise PlatformError("discord", "not connected")
        await self._outbox.react(channel_id, message_id, emoji)

    async def history(
        self, channel_id: str, *, after: str | None, limit: int
    ) -> list[MessageReceived]:
        """The channel's messages recorded after the one with id ``after`` (an id never
        recorded, or None: from the start), oldest first, the last ``limit`` of them when
        ``after`` is None and the first ``limit`` otherwise, as the real one.

        Raises:
            ValueError: ``limit`` is below 1.
            PlatformError: not connected, or ``refuse_history`` was called.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit!r}")
        if not self.ready:
            raise PlatformError("discord", "not connected")
        if self._history_refusal is not None:
            raise PlatformError("discord", self._history_refusal)
        await trio.lowlevel.checkpoint()
        messages = self._histories.get(channel_id, [])
        ids = [message.message_id for message in messages]
        if after is None:
            return list(messages[-limit:])
        start = ids.index(after) + 1 if after in ids else 0
        return list(messages[start : start + limit])

    async def can_read(self, user_id: str, channel_id: str) -> bool:
        """What ``allow_reading`` allowed; ``PlatformError`` when not connected, as the real
        one."""
        if not self.ready:
            raise PlatformError("discord", "not connected")
        return await self._outbox.can_read(user_id, channel_id)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


if TYPE_CHECKING:  # mypy checks that the fake keeps up with the protocol

    def _is_a_bridge(fake: FakeBridge) -> Bridge:
        return fake
