"""Zones, local days, quiet hours: exact instants, including daylight-saving nights.

Transitions used (2024): Europe/Berlin springs forward 31 March 02:00 CET -> 03:00 CEST
(01:00 UTC) and falls back 27 October 03:00 CEST -> 02:00 CET (01:00 UTC); America/New_York
springs forward 10 March 02:00 EST -> 03:00 EDT (07:00 UTC) and falls back 3 November
02:00 EDT -> 01:00 EST (06:00 UTC).
"""

from datetime import UTC, date, datetime

import msgspec
import pytest

from clara.proactive.zones import (
    InvalidQuietHours,
    QuietHours,
    UnknownTimeZone,
    as_utc,
    at_local,
    local,
    local_day,
    zone,
)

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_zone_accepts_iana_names() -> None:
    assert zone("Europe/Paris").key == "Europe/Paris"
    assert zone("UTC").key == "UTC"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Europe/Pariss", "Europe/Pariss is not an IANA time zone; e.g. Europe/Paris"),
        ("europe/paris", "europe/paris is not an IANA time zone; e.g. Europe/Paris"),
        ("America/New_Yrok", "America/New_Yrok is not an IANA time zone; e.g. America/New_York"),
        ("Mars/Olympus", "Mars/Olympus is not an IANA time zone; e.g. Europe/Paris"),
        ("", "'' is not an IANA time zone; e.g. Europe/Paris"),
        (" Europe/Paris", "' Europe/Paris' is not an IANA time zone; e.g. Europe/Paris"),
    ],
)
def test_zone_rejects_unknown_names_with_a_clear_message(name: str, message: str) -> None:
    with pytest.raises(UnknownTimeZone) as caught:
        zone(name)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/usr/share/zoneinfo/UTC", "Europe/", "posix/Europe/Paris", "localtime"],
)
def test_zone_rejects_paths(name: str) -> None:
    with pytest.raises(UnknownTimeZone):
        zone(name)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="now_utc must be timezone-aware"):
        local(datetime(2024, 1, 1, 12), BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        QuietHours.parse("22-08").contains(datetime(2024, 1, 1, 12), BERLIN)


def test_aware_non_utc_input_is_converted() -> None:
    assert as_utc(datetime(2024, 1, 1, 12, tzinfo=BERLIN)) == utc(2024, 1, 1, 11)
    assert as_utc(datetime(2024, 1, 1, 12, tzinfo=BERLIN)).tzinfo is UTC


def test_local_and_local_day() -> None:
    assert local(utc(2024, 7, 1, 12), BERLIN).replace(tzinfo=None) == datetime(2024, 7, 1, 14)
    # 23:30 UTC on 1 January is already 2 January in Berlin, still 1 January in New York.
    assert local_day(utc(2024, 1, 1, 23, 30), BERLIN) == date(2024, 1, 2)
    assert local_day(utc(2024, 1, 1, 23, 30), NEW_YORK) == date(2024, 1, 1)
    assert local_day(utc(2024, 1, 2, 4, 59), NEW_YORK) == date(2024, 1, 1)
    assert local_day(utc(2024, 1, 2, 5), NEW_YORK) == date(2024, 1, 2)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("22-08", 22, 8),
        ("1-3", 1, 3),
        (" 7 - 9 ", 7, 9),
        ("00-00", 0, 0),
        ("0-0", 0, 0),
        ("", 0, 0),
    ],
)
def test_parse(text: str, start: int, end: int) -> None:
    quiet = QuietHours.parse(text)
    assert (quiet.start, quiet.end) == (start, end)


@pytest.mark.parametrize("text", ["24-08", "22", "a-b", "22-08-01", "-1-3", "22:00-08:00"])
def test_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InvalidQuietHours, match="quiet hours must be HH-HH"):
        QuietHours.parse(text)


def test_quiet_hours_value_semantics() -> None:
    quiet = QuietHours.parse("22-8")
    assert str(quiet) == "22-08"
    assert quiet == QuietHours(22, 8)
    assert hash(quiet) == hash(QuietHours(22, 8))
    assert msgspec.json.decode(msgspec.json.encode(quiet), type=QuietHours) == quiet
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"start": 24, "end": 8}', type=QuietHours)
    with pytest.raises(InvalidQuietHours):
        QuietHours(3, 24)


def test_no_quiet_hours() -> None:
    for text in ("", "0-0", "08-08"):
        quiet = QuietHours.parse(text)
        assert quiet.none
        assert not any(quiet.contains(utc(2024, 1, 1, hour), BERLIN) for hour in range(24))
        assert quiet.quiet_until(utc(2024, 1, 1, 3), BERLIN) is None


def test_window_crossing_midnight() -> None:
    quiet = QuietHours.parse("22-08")
    # Berlin in January is UTC+1.
    assert not quiet.contains(utc(2024, 1, 15, 20, 59), BERLIN)  # 21:59
    assert quiet.contains(utc(2024, 1, 15, 21), BERLIN)  # 22:00
    assert quiet.contains(utc(2024, 1, 16, 2), BERLIN)  # 03:00
    assert quiet.contains(utc(2024, 1, 16, 6, 59), BERLIN)  # 07:59
    assert not quiet.contains(utc(2024, 1, 16, 7), BERLIN)  # 08:00
    # Before midnight the end is tomorrow morning; after midnight, this morning.
    assert quiet.quiet_until(utc(2024, 1, 15, 22), BERLIN) == utc(2024, 1, 16, 7)
    assert quiet.quiet_until(utc(2024, 1, 16, 2), BERLIN) == utc(2024, 1, 16, 7)
    assert quiet.quiet_until(utc(2024, 1, 16, 7), BERLIN) is None


def test_window_within_a_day() -> None:
    quiet = QuietHours.parse("13-15")
    assert quiet.contains(utc(2024, 1, 15, 12), BERLIN)  # 13:00
    assert not quiet.contains(utc(2024, 1, 15, 14), BERLIN)  # 15:00
    assert quiet.quiet_until(utc(2024, 1, 15, 13, 30), BERLIN) == utc(2024, 1, 15, 14)


def test_berlin_spring_forward() -> None:
    # 01-03 on the night 02:xx does not exist: quiet from 01:00 CET to 03:00 CEST, one hour.
    quiet = QuietHours.parse("01-03")
    assert not quiet.contains(utc(2024, 3, 30, 23, 59), BERLIN)  # 00:59 CET
    assert quiet.contains(utc(2024, 3, 31, 0), BERLIN)  # 01:00 CET
    assert quiet.quiet_until(utc(2024, 3, 31, 0, 30), BERLIN) == utc(2024, 3, 31, 1)
    assert not quiet.contains(utc(2024, 3, 31, 1), BERLIN)  # 03:00 CEST
    # An end hour that is skipped ends at the jump.
    assert QuietHours.parse("01-02").quiet_until(utc(2024, 3, 31, 0, 30), BERLIN) == utc(
        2024, 3, 31, 1
    )
    # A window made only of the skipped hour is never quiet that night.
    skipped = QuietHours.parse("02-03")
    assert not skipped.contains(utc(2024, 3, 31, 0, 59, 59), BERLIN)
    assert not skipped.contains(utc(2024, 3, 31, 1), BERLIN)
    # 22-08 across the night: 22:00 CET to 08:00 CEST is 9 real hours.
    night = QuietHours.parse("22-08")
    assert night.quiet_until(utc(2024, 3, 30, 21), BERLIN) == utc(2024, 3, 31, 6)


def test_berlin_fall_back() -> None:
    # 02:xx happens twice (00:00-01:00 UTC in CEST, then 01:00-02:00 UTC in CET).
    quiet = QuietHours.parse("02-03")
    assert not quiet.contains(utc(2024, 10, 26, 23, 59), BERLIN)  # 01:59 CEST
    assert quiet.contains(utc(2024, 10, 27, 0, 30), BERLIN)  # 02:30 CEST
    assert quiet.contains(utc(2024, 10, 27, 1, 30), BERLIN)  # 02:30 CET
    assert not quiet.contains(utc(2024, 10, 27, 2), BERLIN)  # 03:00 CET
    assert quiet.quiet_until(utc(2024, 10, 27, 0, 30), BERLIN) == utc(2024, 10, 27, 2)
    # 22-08 across the night: 22:00 CEST to 08:00 CET is 11 real hours.
    night = QuietHours.parse("22-08")
    assert night.quiet_until(utc(2024, 10, 26, 20), BERLIN) == utc(2024, 10, 27, 7)


def test_new_york_spring_forward() -> None:
    night = QuietHours.parse("22-08")
    assert night.quiet_until(utc(2024, 3, 10, 3), NEW_YORK) == utc(2024, 3, 10, 12)  # 22:00 EST
    quiet = QuietHours.parse("01-03")
    assert quiet.quiet_until(utc(2024, 3, 10, 6, 30), NEW_YORK) == utc(2024, 3, 10, 7)
    later = QuietHours.parse("02-04")
    assert not later.contains(utc(2024, 3, 10, 6, 59), NEW_YORK)  # 01:59 EST
    assert later.contains(utc(2024, 3, 10, 7), NEW_YORK)  # 03:00 EDT
    assert later.quiet_until(utc(2024, 3, 10, 7), NEW_YORK) == utc(2024, 3, 10, 8)


def test_new_york_fall_back() -> None:
    # 00-02: 00:00 EDT to 02:00 EST is three real hours; the repeated 01:xx is quiet twice.
    quiet = QuietHours.parse("00-02")
    assert quiet.contains(utc(2024, 11, 3, 5, 30), NEW_YORK)  # 01:30 EDT
    assert quiet.contains(utc(2024, 11, 3, 6, 30), NEW_YORK)  # 01:30 EST
    assert quiet.quiet_until(utc(2024, 11, 3, 4, 30), NEW_YORK) == utc(2024, 11, 3, 7)
    assert quiet.quiet_until(utc(2024, 11, 3, 6, 30), NEW_YORK) == utc(2024, 11, 3, 7)
    # 22-01 ends at the first 01:00 (EDT); the second 01:xx is not quiet.
    short = QuietHours.parse("22-01")
    assert short.quiet_until(utc(2024, 11, 3, 4, 59), NEW_YORK) == utc(2024, 11, 3, 5)
    assert not short.contains(utc(2024, 11, 3, 6, 30), NEW_YORK)


def test_at_local() -> None:
    assert at_local(date(2024, 3, 31), 2, BERLIN) == utc(2024, 3, 31, 1)  # skipped: the jump
    assert at_local(date(2024, 3, 10), 2, NEW_YORK) == utc(2024, 3, 10, 7)
    assert at_local(date(2024, 11, 3), 1, NEW_YORK) == utc(2024, 11, 3, 5)  # first of two
    assert at_local(date(2024, 1, 15), 9, BERLIN) == utc(2024, 1, 15, 8)
    # Samoa skipped 30 December 2011 entirely: any hour of it is the jump (10:00 UTC).
    apia = zone("Pacific/Apia")
    assert at_local(date(2011, 12, 30), 12, apia) == utc(2011, 12, 30, 10)
    with pytest.raises(ValueError, match="hour must be 0-23"):
        at_local(date(2024, 1, 1), 24, BERLIN)
