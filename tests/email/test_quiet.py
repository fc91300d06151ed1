"""The quiet-hours schedule: windows inside a day and across midnight, in the owner's zone
(one whose window crosses UTC midnight), across DST changes; only urgent breaks through."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from clara.actors.email.quiet import (
    QuietHours,
    breaks_through,
    is_quiet,
    parse_clock,
    quiet_ends_at,
)

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9, no DST: 22:00-08:00 local is 13:00-23:00 UTC
LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # 22:00-08:00 local crosses UTC midnight


def at(zone: dt.tzinfo, *fields: int) -> dt.datetime:
    """A local wall-clock moment in ``zone``, as UTC."""
    return dt.datetime(*fields, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


T22, T08 = dt.time(22), dt.time(8)


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        ((2026, 6, 1, 21, 59), False),
        ((2026, 6, 1, 22, 0), True),
        ((2026, 6, 1, 23, 59), True),
        ((2026, 6, 2, 0, 0), True),
        ((2026, 6, 2, 7, 59), True),
        ((2026, 6, 2, 8, 0), False),
        ((2026, 6, 2, 12, 0), False),
    ],
)
def test_a_window_across_midnight_is_quiet_from_its_start_up_to_its_end(
    local: tuple[int, ...], quiet: bool
) -> None:
    assert is_quiet(at(BERLIN, *local), BERLIN, T22, T08) is quiet


@pytest.mark.parametrize(
    ("local", "quiet"),
    [((2026, 6, 1, 12, 59), False), ((2026, 6, 1, 13, 0), True), ((2026, 6, 1, 15, 0), False)],
)
def test_a_window_inside_one_day_is_quiet_only_between_its_times(
    local: tuple[int, ...], quiet: bool
) -> None:
    assert is_quiet(at(BERLIN, *local), BERLIN, dt.time(13), dt.time(15)) is quiet


def test_a_window_whose_start_equals_its_end_is_never_quiet() -> None:
    moment = at(BERLIN, 2026, 6, 1, 22, 0)
    assert not is_quiet(moment, BERLIN, T22, T22)
    assert quiet_ends_at(moment, BERLIN, T22, T22) is None


def test_the_owners_zone_decides_not_utc() -> None:
    # 23:30 UTC is 08:30 in Tokyo (awake) and 15:30 in Los Angeles (awake); 14:00 UTC is
    # 23:00 in Tokyo (quiet) and 07:00 in Los Angeles (quiet).
    late = dt.datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    assert not is_quiet(late, TOKYO, T22, T08)
    assert not is_quiet(late, LOS_ANGELES, T22, T08)
    afternoon = dt.datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    assert is_quiet(afternoon, TOKYO, T22, T08)
    assert is_quiet(afternoon, LOS_ANGELES, T22, T08)


def test_a_window_crossing_utc_midnight_ends_at_the_owners_local_end() -> None:
    # Los Angeles in June is UTC-7: 22:00 local is 05:00 UTC, 08:00 local is 15:00 UTC.
    start = at(LOS_ANGELES, 2026, 6, 1, 22, 0)
    assert start == dt.datetime(2026, 6, 2, 5, 0, tzinfo=UTC)
    before_utc_midnight = dt.datetime(2026, 6, 1, 23, 0, tzinfo=UTC)  # 16:00 local
    assert quiet_ends_at(before_utc_midnight, LOS_ANGELES, T22, T08) is None
    for moment in (start, dt.datetime(2026, 6, 2, 10, tzinfo=UTC)):
        assert quiet_ends_at(moment, LOS_ANGELES, T22, T08) == dt.datetime(
            2026, 6, 2, 15, 0, tzinfo=UTC
        )


def test_in_the_evening_part_the_window_ends_the_next_morning() -> None:
    ends = quiet_ends_at(at(BERLIN, 2026, 6, 1, 23, 0), BERLIN, T22, T08)
    assert ends == at(BERLIN, 2026, 6, 2, 8, 0)


def test_in_the_morning_part_the_window_ends_the_same_morning() -> None:
    ends = quiet_ends_at(at(BERLIN, 2026, 6, 2, 3, 0), BERLIN, T22, T08)
    assert ends == at(BERLIN, 2026, 6, 2, 8, 0)


def test_a_night_with_a_spring_forward_is_an_hour_shorter_in_utc() -> None:
    # Berlin went to summer time at 02:00 on 29 March 2026: 22:00 CET to 08:00 CEST.
    start = at(BERLIN, 2026, 3, 28, 22, 0)
    ends = quiet_ends_at(start, BERLIN, T22, T08)
    assert ends == dt.datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert ends - start == dt.timedelta(hours=9)


def test_a_night_with_a_fall_back_is_an_hour_longer_in_utc() -> None:
    # Berlin went back to winter time at 03:00 on 25 October 2026.
    start = at(BERLIN, 2026, 10, 24, 22, 0)
    ends = quiet_ends_at(start, BERLIN, T22, T08)
    assert ends == dt.datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert ends - start == dt.timedelta(hours=11)


def test_an_end_skipped_by_the_spring_forward_ends_just_after_the_jump_never_before() -> None:
    start = dt.time(1, 0)
    end = dt.time(2, 30)  # never shown on Berlin's clocks on 29 March 2026
    moment = at(BERLIN, 2026, 3, 29, 1, 30)
    ends = quiet_ends_at(moment, BERLIN, start, end)
    assert ends == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert ends > moment


def test_an_end_shown_twice_by_the_fall_back_counts_the_one_still_ahead() -> None:
    start, end = dt.time(1, 0), dt.time(2, 30)
    first_pass = dt.datetime(2026, 10, 25, 0, 10, tzinfo=UTC)  # 02:10 CEST
    assert quiet_ends_at(first_pass, BERLIN, start, end) == dt.datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    second_pass = dt.datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, the repeat
    assert is_quiet(second_pass, BERLIN, start, end)
    assert quiet_ends_at(second_pass, BERLIN, start, end) == dt.datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )


def test_a_naive_moment_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="now_utc must be timezone-aware"):
        is_quiet(dt.datetime(2026, 6, 1, 12), BERLIN, T22, T08)


@pytest.mark.parametrize("text", ["24:00", "7:00", "07:60", "0700", "", "07:00 "])
def test_a_time_that_is_not_hh_mm_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValueError, match="quiet_start must be a 24-hour time HH:MM"):
        parse_clock(text, "quiet_start")


def test_an_unknown_zone_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="zone must be an IANA time zone name; got 'Mars/Base'"):
        QuietHours.parse("22:00", "08:00", "Mars/Base")


def test_quiet_hours_parse_and_answer_in_their_zone() -> None:
    hours = QuietHours.parse("22:00", "08:00", "Asia/Tokyo")
    moment = dt.datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo
    assert hours.is_quiet(moment)
    assert hours.ends_at(moment) == dt.datetime(2026, 6, 1, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("importance", "through"),
    [("urgent", True), ("high", False), ("normal", False), ("low", False)],
)
def test_only_urgent_alerts_break_through(importance: str, through: bool) -> None:
    assert breaks_through(importance) is through
