"""Quiet hours: when an account's alerts wait, worked out in its owner's own time zone.

Quiet hours are two wall-clock times, ``start`` and ``end`` (``22:00`` to ``08:00``), read in
the owner's IANA time zone. A window whose start is after its end crosses midnight; a window
whose start equals its end is empty (never quiet), so "off" needs no third value. Only
``urgent`` alerts break through; the rest are held and go out as one digest when the
window ends (see docs/email.md, "Quiet hours").

Everything here is pure (the current moment comes in as an argument), so the schedule is
tested without clocks; the account actor turns ``quiet_ends_at`` into a timer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "QuietHours",
    "breaks_through",
    "is_quiet",
    "parse_clock",
    "quiet_ends_at",
]

_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")

#: The importance that is posted at once even in quiet hours.
BREAKS_THROUGH = "urgent"


def parse_clock(text: str, field: str = "time") -> dt.time:
    """``"HH:MM"`` (24-hour) as a time.

    Raises:
        ValueError: ``text`` is not ``HH:MM``; the message names ``field``.
    """
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{field} must be a 24-hour time HH:MM (e.g. 22:00); got {text!r}")
    return dt.time(int(match.group(1)), int(match.group(2)))


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware (UTC); got a naive datetime")
    return moment.astimezone(dt.UTC)


def is_quiet(now_utc: dt.datetime, tz: dt.tzinfo, start: dt.time, end: dt.time) -> bool:
    """Whether ``now_utc`` falls in the window ``[start, end)`` of local time in ``tz``."""
    local = _utc(now_utc).astimezone(tz).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_ends_at(
    now_utc: dt.datetime, tz: dt.tzinfo, start: dt.time, end: dt.time
) -> dt.datetime | None:
    """When the quiet window around ``now_utc`` ends (in UTC); None when it is not quiet.

    The end is the next ``end`` wall-clock time in ``tz``. Should a DST jump skip that
    time (02:30 on a spring-forward night), the end is read with the offset before the
    jump, which lands just after it: the window never ends early. Should one come twice
    (a fall-back), the first that is still ahead counts.
    """
    if not is_quiet(now_utc, tz, start, end):
        return None
    local = _utc(now_utc).astimezone(tz)
    day = local.date()
    if local.time().replace(tzinfo=None) >= end:  # in the evening part: ends tomorrow
        day += dt.timedelta(days=1)
    ends = dt.datetime.combine(day, end, tzinfo=tz)
    if ends.astimezone(dt.UTC) <= _utc(now_utc):
        # The end's wall time comes twice (a DST fall-back) and now is in the repeat.
        ends = ends.replace(fold=1)
    return max(ends.astimezone(dt.UTC), _utc(now_utc))


def breaks_through(importance: str) -> bool:
    """Whether an alert of ``importance`` is posted at once even in quiet hours."""
    return importance == BREAKS_THROUGH


@dataclass(frozen=True, slots=True)
class QuietHours:
    """One account's quiet hours in its owner's zone.

    Args:
        start: local time the window opens (``"22:00"``).
        end: local time it closes (``"08:00"``); equal to ``start``: never quiet.
        zone: the owner's IANA zone name (``"Europe/Berlin"``).

    Raises:
        ValueError: a time is not ``HH:MM`` or the zone is unknown.
    """

    start: dt.time
    end: dt.time
    zone: dt.tzinfo

    @classmethod
    def parse(cls, start: str, end: str, zone: str) -> QuietHours:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"zone must be an IANA time zone name; got {zone!r}") from error
        return cls(parse_clock(start, "quiet_start"), parse_clock(end, "quiet_end"), tz)

    def is_quiet(self, now_utc: dt.datetime) -> bool:
        return is_quiet(now_utc, self.zone, self.start, self.end)

    def ends_at(self, now_utc: dt.datetime) -> dt.datetime | None:
        return quiet_ends_at(now_utc, self.zone, self.start, self.end)
