"""Per-person token buckets: spend, refill, one notice per interval, forgetting the quiet."""

from __future__ import annotations

import pytest

from clara.actors.policy import UserRates


def test_a_person_may_send_the_rate_then_gets_one_notice_until_refilled() -> None:
    rates = UserRates()
    take = lambda now: rates.take("ada", now, per_minute=3, notice_interval=30.0)  # noqa: E731
    assert [take(0.0) for _ in range(3)] == ["ok", "ok", "ok"]
    assert take(0.0) == "notice"
    assert take(1.0) == "quiet"
    assert take(20.0) == "ok"  # 20 s at 3 a minute refills one token
    assert take(31.0) == "notice"  # the next notice only after the interval
    assert rates.take("bob", 31.0, per_minute=3, notice_interval=30.0) == "ok"


def test_quiet_people_are_forgotten_past_the_limit() -> None:
    rates = UserRates(keep=2)
    for n in range(3):
        rates.take(f"p{n}", 0.0, per_minute=60, notice_interval=30.0)
    rates.take("p3", 120.0, per_minute=60, notice_interval=30.0)
    assert len(rates._buckets) <= 2


def test_the_wait_until_the_next_message_is_counted_from_the_refill() -> None:
    rates = UserRates()
    assert rates.seconds_until_next("ada", 0.0, per_minute=2) == 0.0  # never seen: no wait
    assert rates.take("ada", 0.0, per_minute=2, notice_interval=30) == "ok"
    assert rates.take("ada", 0.0, per_minute=2, notice_interval=30) == "ok"
    assert rates.seconds_until_next("ada", 0.0, per_minute=2) == 30.0
    assert rates.seconds_until_next("ada", 20.0, per_minute=2) == pytest.approx(10.0)
    assert rates.seconds_until_next("ada", 30.0, per_minute=2) == 0.0
