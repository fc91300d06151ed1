"""The ordered hand-off from the Discord connection to the channel actors.

The bridge calls ``OrderedRouter`` once per message, in the order Discord delivered them,
and the router never waits on one channel for another: a channel whose actor is known is
told at once (a deque append); a channel seen for the first time gets its actor started in
a task of the gateway actor, and what arrives for it meanwhile waits in a small buffer of
its own, told in order once the actor is there. So a burst into one channel reaches that
channel's actor in the order it was sent, and a channel whose first message makes its
actor read the store holds up no other channel.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from ...adapters.chat import MessageReceived
from ...errors import ActorDeadError, ActorError, ClaraError
from .. import ActorRef

__all__ = ["OrderedRouter"]

logger = logging.getLogger(__name__)

#: Channels whose ref is kept at hand (refs stay valid across restarts and passivation).
KNOWN_CHANNELS = 10_000
#: Messages one starting channel may gather before its actor is there; more are refused.
STARTING_BUFFER = 100


class OrderedRouter:
    """Hands each message to its channel's actor, in arrival order per channel.

    Args:
        channel: returns the actor of a channel id, starting (or restoring) it if needed.
        spawn: runs a coroutine function in the background (the gateway actor's
            ``context.start_task``), for starting a channel's actor.
        on_refused: called once for each message that could not be handed over (its
            channel's mailbox is full, or its actor could not start).
    """

    def __init__(
        self,
        channel: Callable[[str], Awaitable[ActorRef]],
        spawn: Callable[..., Any],
        on_refused: Callable[[], None],
        *,
        known_channels: int = KNOWN_CHANNELS,
        starting_buffer: int = STARTING_BUFFER,
    ) -> None:
        self._channel = channel
        self._spawn = spawn
        self._on_refused = on_refused
        self._known: OrderedDict[str, ActorRef] = OrderedDict()
        self._known_limit = known_channels
        self._starting: dict[str, list[MessageReceived]] = {}
        self._starting_limit = starting_buffer

    async def __call__(self, message: MessageReceived) -> None:
        """Hand ``message`` over, or buffer it behind its channel's start; never waits."""
        channel_id = message.channel_id
        waiting = self._starting.get(channel_id)
        if waiting is not None:
            if len(waiting) >= self._starting_limit:
                self._refuse(message, f"{len(waiting)} messages wait for the channel to start")
            else:
                waiting.append(message)
            return
        ref = self._known.get(channel_id)
        if ref is not None:
            self._known.move_to_end(channel_id)
            if self._tell(ref, message):
                return
            del self._known[channel_id]  # stopped for good: its next actor is a new one
        self._starting[channel_id] = [message]
        self._spawn(self._start, channel_id)

    async def _start(self, channel_id: str) -> None:
        ref: ActorRef | None = None
        try:
            ref = await self._channel(channel_id)
        except (ClaraError, RuntimeError) as error:
            # ClaraError: the actor failed to start, or the channels are at their bound;
            # RuntimeError: the channels' supervisor is not running (restarting, stopping).
            self._refuse_waiting(channel_id, f"its channel's actor cannot start: {error}")
            return
        finally:
            if ref is None and channel_id in self._starting:  # cancelled while starting
                self._refuse_waiting(channel_id, "the gateway stopped before its channel started")
        self._known[channel_id] = ref
        if len(self._known) > self._known_limit:
            self._known.popitem(last=False)
        for message in self._starting.pop(channel_id, []):  # no await: the order is kept
            if not self._tell(ref, message):
                self._refuse(message, "its channel's actor stopped")

    def _refuse_waiting(self, channel_id: str, why: str) -> None:
        for message in self._starting.pop(channel_id, []):
            self._refuse(message, why)

    def _tell(self, ref: ActorRef, message: MessageReceived) -> bool:
        """False when the actor is stopped for good (the caller starts a new one)."""
        try:
            ref.tell_nowait(message)
        except ActorDeadError:
            return False
        except ActorError as error:  # the channel's mailbox is full: dead-lettered, counted
            self._refuse(message, str(error))
        return True

    def _refuse(self, message: MessageReceived, why: str) -> None:
        self._on_refused()
        logger.info("discord message %s not delivered: %s", message.message_id, why)
