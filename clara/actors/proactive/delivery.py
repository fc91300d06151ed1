"""Sending what a check decided to say: once, even across a crash.

A SPEAK is a promise. ``save_check`` records it (``claimed``, with its idempotency key) in the
same transaction as the check, before anything is sent; ``Delivery.deliver`` then posts it
with a nonce derived from that key and marks it ``delivered`` with the posted message's id.
A crash between the two leaves the claim open; at start (and on every scheduler tick) the
open claims are delivered again with the same nonce, which a platform that enforces nonces
(Discord) drops if the first post went out after all. A claim older than the resume window
is not sent any more (``expired``: untimely, and past the nonce's memory a repeat could no
longer be told from a first post); one the platform keeps refusing is ``failed`` after
``attempts`` tries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import trio

from ...adapters.chat import ChatTransport, nonce_for
from ...errors import ClaraError, StoreUnavailable
from ...store import Database
from ...store._proactive import ClaimRecord, mark_claim, open_claims

__all__ = ["Delivery"]

logger = logging.getLogger(__name__)


class Delivery:
    """Posts claims through ``transport`` and records how each went.

    Args:
        transport: where messages go (the Discord adapter, the console, a fake).
        database: where claims are recorded.
        clock: the wall clock (aware UTC).
        resume_window: a claim older than this is expired, not sent.
        attempts: tries before a claim the platform refuses is failed.
        send_timeout: seconds one post may take before it counts as a failed attempt (the
            claim stays open; the nonce keeps a late first post from doubling).
    """

    def __init__(
        self,
        transport: ChatTransport,
        database: Database,
        clock: Callable[[], dt.datetime],
        *,
        resume_window: dt.timedelta = dt.timedelta(minutes=10),
        attempts: int = 5,
        send_timeout: float = 60.0,
    ) -> None:
        self.transport = transport
        self.database = database
        self.clock = clock
        self.resume_window = resume_window
        self.attempts = attempts
        self.send_timeout = send_timeout
        self.delivered = 0
        self.failed = 0
        self.expired = 0
        self._in_flight: set[int] = set()
        """Claims being posted now: a resume leaves them to the send in progress."""

    async def dm_channel(self, user_id: str) -> str | None:
        """The person's DM channel, where the transport can open one; None otherwise."""
        opener: Any = getattr(self.transport, "dm_channel", None)
        if opener is None:
            return None
        try:
            channel: str = await opener(user_id)
        except ClaraError as error:
            logger.warning("proactive: could not open a DM with %s: %s", user_id, error)
            return None
        return channel

    async def deliver(self, claim: ClaimRecord) -> bool:
        """Post ``claim`` and record how it went; True when it is delivered (now, or before:
        the platform dropped the repeat and answered with the first post). A claim already
        being posted is left to that post (False)."""
        if claim.id in self._in_flight:
            return False
        self._in_flight.add(claim.id)
        try:
            return await self._deliver(claim)
        finally:
            self._in_flight.discard(claim.id)

    async def _deliver(self, claim: ClaimRecord) -> bool:
        now = self.clock()
        if now - claim.claimed_at > self.resume_window:
            await self._mark(claim, "expired", error="not sent: older than the resume window")
            self.expired += 1
            logger.warning(
                "proactive: message %s for %s:%s expired unsent",
                claim.id,
                claim.platform,
                claim.user_id,
            )
            return False
        try:
            with trio.fail_after(self.send_timeout):
                message_id = await self.transport.send(
                    claim.channel_id, claim.text, reply_to=None, nonce=nonce_for(claim.key, 0)
                )
        except (ClaraError, trio.TooSlowError) as error:
            final = claim.attempts + 1 >= self.attempts
            why = str(error) or f"no answer within {self.send_timeout:g} s"
            await self._mark(claim, "failed" if final else "claimed", error=why)
            if final:
                self.failed += 1
            logger.warning(
                "proactive: message %s for %s:%s not sent (attempt %d): %s",
                claim.id,
                claim.platform,
                claim.user_id,
                claim.attempts + 1,
                why,
            )
            return False
        await self._mark(claim, "delivered", platform_message_id=message_id)
        self.delivered += 1
        logger.info(
            "proactive: message %s delivered to %s:%s", claim.id, claim.platform, claim.user_id
        )
        return True

    async def resume(self) -> int:
        """Deliver every open claim (after a crash, or a platform that refused); how many
        went out."""
        try:
            claims = await self.database.run(open_claims)
        except StoreUnavailable as error:
            logger.warning("proactive: open messages not read: %s", error)
            return 0
        sent = 0
        for claim in claims:
            sent += await self.deliver(claim)
        return sent

    async def _mark(
        self,
        claim: ClaimRecord,
        state: str,
        *,
        platform_message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        try:
            await self.database.write(
                mark_claim,
                claim.id,
                state,
                at=self.clock(),
                platform_message_id=platform_message_id,
                error=error,
            )
        except StoreUnavailable as failure:
            # Still claimed in the store: the next resume posts it again with the same nonce.
            logger.warning("proactive: message %s not marked %s: %s", claim.id, state, failure)
