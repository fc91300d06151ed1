"""ChannelInbox: a channel's side of the durable inbox (``clara.store.claim_message`` & co.).

What a channel promised is in the store before it acts on it, and marked done after:

    arrival        claim (received)            the dedup key and the promise, in one row
    reply starts   replying, attempts + 1      a reply that crashes its actor 3 times is given up
    reply made     sending + the reply         (a reply of several pieces, before the first)
    piece posted   pieces_sent                 a resumed reply never posts a piece twice
    reply posted   answered + the exchange     one unit of work: the history and the mark
    a stop phrase  stopped                     the key stays; what was said is cleared

Writes go through ``Database.write`` (one writer thread; units queued together commit
together). The claim is started when a message arrives and waited for only before the first
piece of its reply is posted, so a reply does not wait for the disk.

Without a database (the console's tests, unit tests) every call does nothing, and nothing
survives a restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from ...adapters.chat import MessageReceived
from ...errors import StoreUnavailable
from ...store import (
    OPEN_STATES,
    Database,
    Exchange,
    InboxEntry,
    PendingWrite,
    claim_message,
    finish_messages,
    note_piece,
    open_messages,
    save_exchange,
    save_reply,
    start_replying,
)

__all__ = ["ChannelInbox", "Claim", "Draft", "Resumed"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A message whose reply crashed its actor this many times is given up on.
MAX_ATTEMPTS = 3


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A reply made and not yet fully posted: posted again from ``pieces_sent`` on resume."""

    text: str
    files: list[tuple[str, bytes]] = []
    covers: list[str] = []
    """The ids of every message this reply answers (several in active mode)."""


@dataclass
class Resumed:
    """An unfinished message found in the store when a channel starts."""

    message: MessageReceived
    draft: Draft | None
    pieces_sent: int
    first_piece_id: str | None
    attempts: int
    age: float
    """Seconds since it was sent (or received, when the platform did not say)."""


@dataclass
class Claim:
    """A claim started on arrival. ``is_new`` waits for it to be written and tells whether
    the message was new to the store (or there unfinished: a re-delivery of a message not
    answered); ``known_answered`` tells without waiting, when the write is done already."""

    message_id: str
    pending: PendingWrite[str | None] | None = None
    verdict: str | None = field(default=None)
    replying: bool = False
    """Claimed as ``replying`` already (its reply started at once): no second write."""

    async def is_new(self) -> bool:
        """Wait for the claim to be written: True unless the message was already finished.

        A store that is unavailable cannot say: the message is answered all the same (an
        outage must not silence Clara), without a record; only a re-delivery after a
        restart could then be answered a second time.
        """
        if self.pending is not None:
            try:
                existing = await self.pending.result()
            except StoreUnavailable as error:
                logger.warning(
                    "message %s: answered without a record, the store is unavailable (%s)",
                    self.message_id,
                    error,
                )
                existing = None
            self.pending = None
            self.verdict = "new" if existing is None else existing
        return self.verdict in (None, "new", *OPEN_STATES)

    def known_answered(self) -> bool:
        """True when the claim is written and found the message finished before; False
        when it was new, or is not written yet (then ``is_new`` decides later)."""
        if self.pending is not None and self.pending.done:
            try:
                existing = self.pending.result_now()
            except Exception:  # the claim failed: is_new raises it where it is awaited
                return False
            self.pending = None
            self.verdict = "new" if existing is None else existing
        return self.verdict not in (None, "new", *OPEN_STATES)


_payload_encoder = msgspec.msgpack.Encoder()
_payload_decoder = msgspec.msgpack.Decoder(MessageReceived)
_draft_decoder = msgspec.msgpack.Decoder(Draft)


class ChannelInbox:
    """One channel's reads and writes of the inbox.

    Args:
        database: the store; None: nothing is recorded.
        platform: ``discord``, ``console``.
        channel_id: the channel.
        background: runs a coroutine function beside the actor (``context.start_task``):
            writes nobody waits for are watched there, so a failure is logged.
    """

    def __init__(
        self,
        database: Database | None,
        platform: str,
        channel_id: str,
        background: Callable[..., Any],
    ) -> None:
        self.database = database
        self.platform = platform
        self.channel_id = channel_id
        self._background = background

    # -- arrival ------------------------------------------------------------------------------

    def claim(self, message: MessageReceived, *, replying: bool = False) -> Claim:
        """Record ``message`` as received, or as ``replying`` when its reply starts at once
        (one write, not two); started now, not waited for."""
        if self.database is None:
            return Claim(message.message_id)
        pending = self.database.write_soon(
            claim_message,
            self.platform,
            message.message_id,
            self.channel_id,
            _payload_encoder.encode(message),
            state="replying" if replying else "received",
        )
        return Claim(message.message_id, pending=pending, replying=replying)

    # -- a reply's way ------------------------------------------------------------------------

    def replying(self, message_ids: Sequence[str]) -> None:
        """A reply to these begins (one more attempt each)."""
        if self.database is None or not message_ids:
            return
        pending = self.database.write_soon(start_replying, self.platform, list(message_ids))
        self._watch(pending.result, "record a reply's start")

    async def made(self, trigger_id: str, draft: Draft) -> None:
        """The reply is made: stored before its first piece is posted (waited for)."""
        if self.database is None:
            return
        try:
            await self.database.write(
                save_reply, self.platform, trigger_id, msgspec.msgpack.encode(draft)
            )
        except StoreUnavailable as error:  # posted all the same: an outage must not silence
            logger.warning(
                "channel %s: the reply to %s is posted without a record (%s)",
                self.channel_id,
                trigger_id,
                error,
            )

    def posted(self, trigger_id: str, pieces_sent: int, first_piece_id: str | None) -> None:
        """The first ``pieces_sent`` pieces of the reply are posted."""
        if self.database is None:
            return
        pending = self.database.write_soon(
            note_piece, self.platform, trigger_id, pieces_sent, first_piece_id
        )
        self._watch(pending.result, "record a posted piece")

    def answered_soon(self, exchange: Exchange) -> None:
        """The reply is posted: the exchange stored and the messages it answered marked
        ``answered``, in one unit of work (queued behind this channel's earlier writes, not
        waited for)."""
        if self.database is None:
            return
        pending = self.database.write_soon(save_exchange, exchange)
        self._watch(pending.result, f"record the answer to {len(exchange.answered)} message(s)")

    def finish(self, message_ids: Sequence[str], state: str) -> None:
        """These messages are done with, unanswered (``stopped``, ``expired``, ``failed``)."""
        if self.database is None or not message_ids:
            return
        pending = self.database.write_soon(finish_messages, self.platform, list(message_ids), state)
        self._watch(pending.result, f"record {len(message_ids)} message(s) as {state}")

    # -- resuming -----------------------------------------------------------------------------

    async def unfinished(self, also: Callable[[Any], T]) -> tuple[list[Resumed], T | None]:
        """What this channel left unfinished, in the order it arrived, and what ``also(session)``
        reads in the same unit of work (the channel's settings: one hop for a start). A record
        that cannot be read is logged (by id, not content), marked ``failed``, and left out.
        """
        if self.database is None:
            return [], None
        platform, channel_id = self.platform, self.channel_id

        def read(session: Any) -> tuple[list[InboxEntry], T]:
            return open_messages(session, platform, channel_id), also(session)

        # Read through the writer: behind every write already queued (an "answered" mark a
        # moment ago, by this channel's previous incarnation), so nothing answered comes back.
        entries, extra = await self.database.write(read)
        resumed: list[Resumed] = []
        unreadable: list[str] = []
        now = time.time()
        for entry in entries:
            try:
                message = _payload_decoder.decode(entry.payload or b"")
                draft = _draft_decoder.decode(entry.reply) if entry.reply is not None else None
            except msgspec.DecodeError as error:
                logger.warning(
                    "channel %s: inbox record of message %s cannot be read (%s); giving it up",
                    self.channel_id,
                    entry.message_id,
                    error,
                )
                unreadable.append(entry.message_id)
                continue
            received = entry.received_at
            if received.tzinfo is None:
                received = received.replace(tzinfo=dt.UTC)
            sent = message.sent_at or received.timestamp()
            resumed.append(
                Resumed(
                    message=message,
                    draft=draft,
                    pieces_sent=entry.pieces_sent,
                    first_piece_id=entry.first_piece_id,
                    attempts=entry.attempts,
                    age=max(0.0, now - sent),
                )
            )
        self.finish(unreadable, "failed")
        return resumed, extra

    # -- internals ----------------------------------------------------------------------------

    def _watch(self, result: Callable[[], Any], what: str) -> None:
        async def watch() -> None:
            try:
                await result()
            except StoreUnavailable as error:  # an outage: known and reported elsewhere
                logger.warning("channel %s: could not %s: %s", self.channel_id, what, error)
            except Exception as error:  # a write nobody waits for: say it failed
                logger.error(
                    "channel %s: could not %s: %s: %s",
                    self.channel_id,
                    what,
                    type(error).__name__,
                    error,
                )

        # When the actor is stopping no task can start: the write still happens, unwatched.
        with contextlib.suppress(RuntimeError):
            self._background(watch, name="inbox")
