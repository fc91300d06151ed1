"""A person's own time: IANA zones, local wall-clock time, local days and quiet hours.

Every instant given to or returned by this module is a timezone-aware ``datetime`` in UTC
(an aware datetime in another zone is accepted and converted; a naive one is a
``ValueError``). Local wall-clock values (``local``, ``local_day``) are the only exceptions,
and say so.

Daylight-saving rules, used everywhere here:

- a wall-clock time that does not exist (the hour skipped when clocks spring forward) stands
  for the first instant at or after it, i.e. the moment the clocks jump;
- a wall-clock time that happens twice (the hour repeated when clocks fall back) stands for
  its first occurrence.
"""

from __future__ import annotations

import difflib
import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import msgspec

__all__ = [
    "InvalidQuietHours",
    "QuietHours",
    "UnknownTimeZone",
    "as_utc",
    "at_local",
    "local",
    "local_day",
    "zone",
]

_HOURS = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")


class UnknownTimeZone(ValueError):
    """A time zone name that is not in the IANA database (the message names the value)."""


class InvalidQuietHours(ValueError):
    """Quiet hours not of the form ``HH-HH`` with hours 0-23 (the message names the value)."""


def as_utc(moment: datetime, what: str = "datetime") -> datetime:
    """``moment`` as an aware UTC datetime; ``what`` names it in the error.

    Raises ``ValueError`` if ``moment`` is naive (no ``tzinfo``): an instant must say which.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC); got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@functools.cache
def _known_zones() -> frozenset[str]:
    # The system's tz database, read once; "localtime" (the server's own zone) is no IANA name.
    return frozenset(available_timezones() - {"localtime"})


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name`` (e.g. ``"Europe/Paris"``), exactly as spelled.

    Only names in the tz database's list count (``zoneinfo.available_timezones()``), so paths,
    ``posix/...``, ``right/...`` and the server's ``localtime`` are refused.

    Raises ``UnknownTimeZone`` (a ``ValueError``) naming the value and suggesting the closest
    known name, e.g. ``"Europe/Pariss is not an IANA time zone; e.g. Europe/Paris"``.
    """
    candidate = name.strip()
    known = _known_zones()
    if candidate == name and name in known:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    by_lower = {key.lower(): key for key in sorted(known)}
    close = difflib.get_close_matches(candidate.lower(), list(by_lower), n=1, cutoff=0.6)
    example = by_lower[close[0]] if close else "Europe/Paris"
    shown = name if candidate and candidate == name else repr(name)
    raise UnknownTimeZone(f"{shown} is not an IANA time zone; e.g. {example}")


def local(now_utc: datetime, tz: ZoneInfo) -> datetime:
    """The wall-clock time in ``tz`` at the instant ``now_utc`` (aware, in ``tz``).

    In a repeated hour the result's ``fold`` is 1 for the second occurrence.
    """
    return as_utc(now_utc, "now_utc").astimezone(tz)


def local_day(now_utc: datetime, tz: ZoneInfo) -> date:
    """The calendar date in ``tz`` at the instant ``now_utc`` (per-day caps count this day)."""
    return local(now_utc, tz).date()


def at_local(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock in ``tz`` first reads ``day`` ``hour``:00.

    ``hour`` is 0-23. A skipped wall time gives the instant the clocks jump over it (the first
    instant whose wall time is at or after it); a repeated one gives its first occurrence.
    """
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0-23; got {hour}")
    wall = datetime.combine(day, time(hour))
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if early.astimezone(tz).replace(tzinfo=None) == wall:
        return early
    # The wall time is in a gap: fold=1 maps it before the jump, fold=0 after. Find the jump
    # (to the second) by bisection: the first instant whose wall time is >= ``wall``.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(before, early), max(before, early)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


class QuietHours(msgspec.Struct, frozen=True):
    """A daily window of whole local hours in which Clara does not speak.

    ``start`` is the first quiet hour, ``end`` the first hour that is no longer quiet, both
    0-23 in the person's wall-clock time. ``start > end`` crosses midnight (``22-08`` is
    22:00 to 08:00 the next morning); ``start == end`` means no quiet hours at all.
    Immutable, hashable, and a msgspec Struct (``{"start": 22, "end": 8}`` in JSON).
    """

    start: Annotated[int, msgspec.Meta(ge=0, le=23)] = 0
    end: Annotated[int, msgspec.Meta(ge=0, le=23)] = 0

    def __post_init__(self) -> None:
        if not (0 <= self.start <= 23 and 0 <= self.end <= 23):
            raise InvalidQuietHours(f"quiet hours must be 0-23; got {self.start}-{self.end}")

    def __str__(self) -> str:
        return f"{self.start:02d}-{self.end:02d}"

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Parse ``"HH-HH"`` (``"22-08"``, ``"1-3"``); ``""`` or equal hours (``"0-0"``) = none.

        Raises ``InvalidQuietHours`` (a ``ValueError``) naming the text otherwise.
        """
        if not text.strip():
            return cls(0, 0)
        match = _HOURS.match(text)
        if match is None or int(match[1]) > 23 or int(match[2]) > 23:
            raise InvalidQuietHours(
                f"quiet hours must be HH-HH with hours 0-23 (e.g. 22-08); got {text!r}"
            )
        return cls(int(match[1]), int(match[2]))

    @property
    def none(self) -> bool:
        """True when there are no quiet hours (``start == end``)."""
        return self.start == self.end

    def covers_hour(self, hour: int) -> bool:
        """True when the local wall-clock ``hour`` (0-23) is quiet."""
        if self.start <= self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    def contains(self, now_utc: datetime, tz: ZoneInfo) -> bool:
        """True when the wall clock in ``tz`` at ``now_utc`` shows a quiet hour.

        Judged by the wall clock only, so on a fall-back night a quiet 01-02 lasts two real
        hours and on a spring-forward night a quiet 02-03 in a zone skipping 02:xx lasts none.
        """
        return self.covers_hour(local(now_utc, tz).hour)

    def quiet_until(self, now_utc: datetime, tz: ZoneInfo) -> datetime | None:
        """The UTC instant these quiet hours end, or None when ``now_utc`` is not quiet.

        That is the first instant the wall clock reads ``end``:00 after ``now_utc``; if that
        wall time is skipped by a daylight-saving jump, the instant of the jump.
        """
        if not self.contains(now_utc, tz):
            return None
        here = local(now_utc, tz)
        day = here.date()
        if self.start > self.end and here.hour >= self.start:
            day += timedelta(days=1)
        return at_local(day, self.end, tz)
