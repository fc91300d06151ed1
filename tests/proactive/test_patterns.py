"""Learned active hours: decay arithmetic, the default window, next active instant."""

import math
from datetime import UTC, datetime

import msgspec
import pytest

from clara.proactive.patterns import ACTIVE_SHARE, MIN_EVIDENCE, ActiveHours
from clara.proactive.zones import local, zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def at_hour(hour: int) -> datetime:
    return datetime(2024, 1, 15, hour, 30, tzinfo=BERLIN)


def night_owl() -> ActiveHours:
    hours = ActiveHours()
    for hour in (22, 23, 0, 1):
        for _ in range(12):
            hours.record(at_hour(hour), half_life=math.inf)
    return hours


def test_default_window_when_little_is_known() -> None:
    hours = ActiveHours()
    assert hours.weights == [0.0] * 24
    assert not hours.learned
    assert hours.likely_hours() == list(range(9, 21))
    assert not hours.is_active(8)
    assert hours.is_active(9)
    assert hours.is_active(20)
    assert not hours.is_active(21)
    # Nine messages at 03:00 are not yet enough to replace the default.
    for _ in range(9):
        hours.record(at_hour(3), half_life=math.inf)
    assert hours.evidence == 9.0 < MIN_EVIDENCE
    assert hours.likely_hours() == list(range(9, 21))
    hours.record(at_hour(3), half_life=math.inf)
    assert hours.learned
    assert hours.likely_hours() == [3]


def test_record_decays_exactly() -> None:
    hours = ActiveHours()
    hours.record(at_hour(10), half_life=1)
    hours.record(at_hour(11), half_life=1)
    hours.record(at_hour(10), half_life=1)
    assert hours.weights[10] == 0.25 + 1.0
    assert hours.weights[11] == 0.5
    assert hours.evidence == 1.75


def test_default_half_life_is_one_hundred_messages() -> None:
    hours = ActiveHours()
    hours.record(at_hour(3))
    for _ in range(100):
        hours.record(at_hour(10))
    assert hours.weights[3] == pytest.approx(0.5, rel=1e-12)


def test_record_uses_the_local_wall_clock_hour() -> None:
    hours = ActiveHours()
    hours.record(local(utc(2024, 7, 1, 22, 15), BERLIN))  # 00:15 CEST
    assert hours.weights[0] == 1.0
    hours.record(datetime(2024, 7, 1, 5, 0))  # a naive wall-clock time is fine too
    assert hours.weights[5] == 1.0
    with pytest.raises(ValueError, match="half_life"):
        hours.record(at_hour(1), half_life=0)


def test_learned_hours_and_the_share_threshold() -> None:
    hours = night_owl()
    assert hours.likely_hours() == [0, 1, 22, 23]
    # One message out of 48 is exactly ACTIVE_SHARE of the total: active (>=).
    almost = ActiveHours([12.0, 12.0, *[0.0] * 20, 12.0, 11.0])
    almost.weights[12] = 1.0
    assert almost.evidence * ACTIVE_SHARE == 1.0
    assert almost.is_active(12)
    almost.weights[12] = 0.99
    assert not almost.is_active(12)
    with pytest.raises(ValueError, match="hour must be 0-23"):
        hours.is_active(24)


def test_json_round_trip_and_validation() -> None:
    hours = night_owl()
    data = msgspec.json.encode(hours)
    assert msgspec.json.decode(data, type=ActiveHours) == hours
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"weights": [1.0]}', type=ActiveHours)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({"weights": [-1.0] * 24}), type=ActiveHours)
    with pytest.raises(ValueError, match="24 weights"):
        ActiveHours([0.0] * 3)
    with pytest.raises(ValueError, match="finite"):
        ActiveHours([math.nan] * 24)
    assert msgspec.json.decode(b"{}", type=ActiveHours) == ActiveHours()


def test_next_active_default_window() -> None:
    hours = ActiveHours()
    # Berlin in January is UTC+1: 07:00 local wakes at 09:00 local.
    assert hours.next_active(utc(2024, 1, 15, 6), BERLIN) == utc(2024, 1, 15, 8)
    # Already active: now.
    assert hours.next_active(utc(2024, 1, 15, 12, 17), BERLIN) == utc(2024, 1, 15, 12, 17)
    # 22:30 local: tomorrow 09:00.
    assert hours.next_active(utc(2024, 1, 15, 21, 30), BERLIN) == utc(2024, 1, 16, 8)
    # New York's spring-forward night: 00:00 EST wakes at 09:00 EDT (13:00 UTC).
    assert hours.next_active(utc(2024, 3, 10, 5), NEW_YORK) == utc(2024, 3, 10, 13)


def test_next_active_learned_night_owl() -> None:
    hours = night_owl()
    # 10:00 EST: the next active hour is 22:00 EST (03:00 UTC tomorrow).
    assert hours.next_active(utc(2024, 1, 15, 15), NEW_YORK) == utc(2024, 1, 16, 3)
    # 02:00 EST is just after the window: tonight again.
    assert hours.next_active(utc(2024, 1, 16, 7), NEW_YORK) == utc(2024, 1, 17, 3)
    with pytest.raises(ValueError, match="timezone-aware"):
        hours.next_active(datetime(2024, 1, 15, 15), NEW_YORK)
