"""Delivery: a claim posted once while in flight, a post that hangs given up on (the claim
stays open), an old claim expired rather than sent late."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
import trio
import trio.testing

from clara.actors.proactive import Delivery
from clara.store import Database
from clara.store._proactive import (
    Activity,
    CheckOutcome,
    Claim,
    ClaimRecord,
    note_activity,
    open_claims,
    save_check,
)
from clara.store.models import ProactiveMessage
from clara.testing import FakeTransport
from tests.actors.proactive.harness import START, wall

pytestmark = pytest.mark.trio


class SlowTransport(FakeTransport):
    """Posts after ``delay`` seconds (virtual), or never."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.started = 0

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        self.started += 1
        await trio.sleep(self.delay)
        return await super().send(channel_id, text, reply_to=reply_to, nonce=nonce, files=files)


def claimed(store: Database, at: dt.datetime) -> ClaimRecord:
    with store.unit_of_work() as session:
        note_activity(
            session,
            [Activity(platform="discord", user_id="42", channel_id="dm", message_id="m", at=at)],
            first_check=lambda key: at,
            reply_window=dt.timedelta(hours=1),
        )
        record = save_check(
            session,
            "discord",
            "42",
            CheckOutcome(
                at=at,
                decision="SPEAK",
                reason="why not",
                next_check_at=at + dt.timedelta(hours=1),
                claim=Claim(key="proactive:discord:42:1", channel_id="dm", text="Hello!"),
            ),
        )
    assert record is not None
    return record


def states(store: Database) -> list[tuple[str, int, str | None]]:
    with store.unit_of_work() as session:
        rows = session.query(ProactiveMessage).order_by(ProactiveMessage.id).all()
        return [(row.state, row.attempts, row.error) for row in rows]


async def test_a_claim_in_flight_is_not_posted_again_by_a_resume(
    store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    transport = SlowTransport(delay=5.0)
    delivery = Delivery(transport, store, wall(START))
    claim = claimed(store, START)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(delivery.deliver, claim)
        await trio.sleep(1.0)
        assert await delivery.resume() == 0  # the first post is still on its way
    assert transport.started == 1 and len(transport.sent) == 1
    assert states(store) == [("delivered", 1, None)]


async def test_a_post_that_hangs_is_given_up_on_and_the_claim_stays_open(
    store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    transport = SlowTransport(delay=3600.0)
    delivery = Delivery(transport, store, wall(START), send_timeout=60.0)
    claim = claimed(store, START)
    assert await delivery.deliver(claim) is False
    assert trio.current_time() == 60.0
    [(state, attempts, error)] = states(store)
    assert (state, attempts) == ("claimed", 1) and error == "no answer within 60 s"
    with store.unit_of_work() as session:
        assert [record.id for record in open_claims(session)] == [claim.id]


async def test_a_claim_older_than_the_resume_window_is_expired_not_sent(
    store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    transport = FakeTransport()
    claimed(store, START)
    later = Delivery(transport, store, wall(START + dt.timedelta(hours=2)))
    assert await later.resume() == 0
    assert transport.sent == []
    [(state, _, error)] = states(store)
    assert state == "expired" and error is not None and "resume window" in error
