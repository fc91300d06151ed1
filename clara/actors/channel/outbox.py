"""ChannelOutbox: everything a channel posts, and how each post is kept from doubling.

A reply goes out in pieces of at most 2,000 characters, each with a nonce of its own that is
the same on every retry and in every process (Discord's ``enforce_nonce`` posts a repeat
once); a reply of several pieces is stored in the inbox before its first piece and each piece
noted as it goes, so a resumed reply posts the rest, not a piece twice. Notices (busy, rate,
queued, stop, stopped, failed, expired, and each progress line of a reply: ``progress-1``,
``progress-2``…) have nonces of their message and kind: every one distinct, so none is taken
for a repeat of another, and the same in every process (never ``hash()``, which Python
randomises per process), so one posted before a restart is not posted again after it. The ⏳
reactions on queued messages go out in order, from one task per burst; the typing indicator
is renewed while a reply is made.
"""

from __future__ import annotations

import logging
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from ...adapters.chat import ChatTransport, MessageReceived, nonce_for, split_message
from ...errors import ClaraError
from .inbox import ChannelInbox, Draft

__all__ = ["QUEUED", "ChannelOutbox"]

# The channel actor's logger: what a channel logs reads as one log, whichever part says it.
logger = logging.getLogger(f"{__package__}.actor")

#: The reaction a queued message gets (:hourglass_flowing_sand: on Discord).
QUEUED = "\N{HOURGLASS WITH FLOWING SAND}"


class ChannelOutbox:
    """One channel's posts.

    Args:
        transport: where they go.
        channel_id: the channel.
        inbox: where a reply of several pieces is stored and its pieces noted.
        spawn: runs a coroutine function beside the actor (``context.start_task``).
    """

    def __init__(
        self,
        transport: ChatTransport,
        channel_id: str,
        inbox: Callable[[], ChannelInbox],
        spawn: Callable[..., Any],
    ) -> None:
        self.transport = transport
        self.channel_id = channel_id
        self._inbox = inbox
        self._spawn = spawn
        self._to_react: deque[str] = deque()  # queued messages still to get their ⏳
        self._reacting = False

    async def reply(
        self, trigger: MessageReceived, draft: Draft, posted: int, first_id: str | None
    ) -> str | None:
        """Post the reply's pieces from ``posted`` on (the ones before are out already); the
        files go with the last.

        Returns:
            the platform's id of the first piece.
        """
        inbox = self._inbox()
        chunks = split_message(draft.text) or [""]
        several = len(chunks) > 1
        if several and posted == 0:
            await inbox.made(trigger.message_id, draft)
        for index in range(posted, len(chunks)):
            piece_id = await self.transport.send(
                self.channel_id,
                chunks[index],
                reply_to=trigger.message_id if index == 0 else None,
                nonce=nonce_for(trigger.message_id, index),
                files=draft.files if index == len(chunks) - 1 else (),
            )
            if index == 0:
                first_id = piece_id
            if several:
                inbox.posted(trigger.message_id, index + 1, piece_id if index == 0 else None)
        return first_id

    async def notice(
        self, message: MessageReceived, text: str, kind: str, *, reply: bool = True
    ) -> None:
        """A notice about ``message``: its nonce is the message's and the kind's (the same in
        every process, so a notice retried after a restart is posted once). A failure is
        logged, not raised: a notice is never worth a crash."""
        try:
            await self.transport.send(
                self.channel_id,
                text,
                reply_to=message.message_id if reply else None,
                nonce=nonce_for(message.message_id, f"{kind}:{zlib.crc32(kind.encode())}"),
            )
        except ClaraError as error:
            logger.info("channel %s: could not send a %s notice: %s", self.channel_id, kind, error)

    def mark_queued(self, message_id: str) -> None:
        """⏳ on a queued message: in the order they came, one at a time (a burst makes one
        task, not one per message)."""
        self._to_react.append(message_id)
        if not self._reacting:
            self._reacting = True
            self._spawn(self._react_in_order, name="queued")

    async def _react_in_order(self) -> None:
        try:
            while self._to_react:
                message_id = self._to_react.popleft()
                try:
                    await self.transport.react(self.channel_id, message_id, QUEUED)
                except ClaraError as error:
                    logger.info("channel %s: could not react: %s", self.channel_id, error)
        finally:
            self._reacting = False

    async def keep_typing(self) -> None:
        """Show the typing indicator until cancelled (Discord's lasts about ten seconds)."""
        while True:
            try:
                await self.transport.typing(self.channel_id)
            except ClaraError as error:
                logger.debug("typing indicator failed: %s", error)
            await trio.sleep(8)
