"""The hand-off from conversations to the proactive engine never disturbs a conversation, and
a restart's overdue checks are spread, not fired at once."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from sqlalchemy import select, update

from clara.actors.channel import Converse
from clara.actors.proactive import ActivitySink
from clara.actors.proactive.context import MailHint
from clara.proactive import stagger
from clara.store import Database
from clara.store._proactive import Activity, due_people, note_activity, spread_overdue
from clara.store.models import ProactivePerson
from clara.testing import incoming
from tests.actors.channel.test_with_fakes import channel
from tests.actors.proactive.harness import START, proactive_running

Clock = trio.testing.MockClock


@pytest.mark.trio
async def test_a_raising_hand_off_leaves_the_conversation_as_it_was(
    autojump_clock: Clock, store: Database
) -> None:
    def broken(message: Any) -> None:
        raise RuntimeError("the proactive engine is gone")

    async with channel(store, activity=broken) as c:
        message = incoming("hello", mention=True)
        assert await c.ref.ask(Converse(message=message)) == "Hello from Clara."
        assert c.ref.statistics().failed == 0


@pytest.mark.trio
async def test_every_message_is_handed_over_not_only_those_clara_answers(
    autojump_clock: Clock, store: Database
) -> None:
    seen: list[str] = []
    async with channel(store, activity=lambda message: seen.append(message.message_id)) as c:
        await c.ref.ask(Converse(message=incoming("just chatting", message_id="1")))
        await c.ref.ask(Converse(message=incoming("hi Clara", mention=True, message_id="2")))
    assert seen == ["1", "2"]


def test_a_full_sink_drops_and_counts_and_never_raises() -> None:
    sink = ActivitySink(capacity=2)
    at = START
    for index in range(5):
        sink.offer(
            Activity(platform="discord", user_id="1", channel_id="c", message_id=str(index), at=at)
        )
    assert (len(sink.buffer), sink.dropped, sink.offered) == (2, 3, 5)
    for _ in range(1005):
        sink.offer_mail("discord:1", MailHint(sender="a", subject="b", importance="high", at=at))
    assert len(sink.mail) == 1000


@pytest.mark.trio
async def test_a_stopped_engine_takes_offers_and_drops_nothing_of_the_conversation(
    tmp_path: Path, store: Database, autojump_clock: Clock
) -> None:
    async with proactive_running(tmp_path, store) as running:
        system = running.system
    # The subtree stopped; a channel still holding its offer loses nothing by calling it.
    system.offer(incoming("after the stop", message_id="9"))
    assert system.sink.offered >= 1


def test_ten_thousand_overdue_checks_are_spread_evenly_after_a_restart(store: Database) -> None:
    now = START
    with store.unit_of_work() as session:
        note_activity(
            session,
            [
                Activity(platform="discord", user_id=str(n), channel_id="c", message_id="m", at=now)
                for n in range(10_000)
            ],
            first_check=lambda key: now - dt.timedelta(hours=5),  # all overdue
            reply_window=dt.timedelta(hours=12),
        )
    period = dt.timedelta(minutes=30)
    with store.unit_of_work() as session:
        moved = spread_overdue(session, now, lambda key: stagger(key, period))
        assert moved == 10_000
        assert due_people(session, now, 100) == []
        times = [row.next_check_at for row in session.scalars(select(ProactivePerson)).all()]
    minutes = Counter(int((moment - now).total_seconds() // 60) for moment in times)
    assert set(minutes) == set(range(30))
    # 10,000 over 30 minutes: about 333 a minute, none far above.
    assert max(minutes.values()) < 1.25 * 10_000 / 30
    with store.unit_of_work() as session:
        session.execute(update(ProactivePerson).values(enabled=False))
        assert due_people(session, now + period, 10) == []  # opted out: never due
