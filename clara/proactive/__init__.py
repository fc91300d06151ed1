"""The proactive engine's own rules, as plain functions: no actors, no store, no I/O.

- ``zones``: a person's IANA time zone, their local time and day, quiet hours ("22-08") in
  their own wall-clock time, right across daylight-saving changes;
- ``patterns``: the hours a person is usually active, learned from their messages;
- ``rules``: the response rate measured for real, the minimum gap and the per-day cap,
  backing off when ignored, note relevance decaying to archiving, the next check's time,
  and a stagger that spreads many people's checks;
- ``calendar``: a person's iCalendar feed, fetched within limits and expanded (recurrence
  included) into the events of a window;
- ``mood``: sentiment per message, the arc of a conversation, recurring topics.

``calendar`` and ``mood`` pull in their libraries (icalendar, VADER, YAKE) when imported:
import them where they are used, not from here.

Every instant in and out is an aware UTC ``datetime`` (a naive one is a ``ValueError``);
nothing here reads the clock: ``now`` is always given.
"""

from __future__ import annotations

from .patterns import ActiveHours
from .rules import (
    Refusal,
    ResponseStats,
    SentRecord,
    archived,
    backoff_factor,
    may_speak,
    next_check,
    relevance,
    stagger,
)
from .zones import (
    InvalidQuietHours,
    QuietHours,
    UnknownTimeZone,
    as_utc,
    local,
    local_day,
    zone,
)

__all__ = [
    "ActiveHours",
    "InvalidQuietHours",
    "QuietHours",
    "Refusal",
    "ResponseStats",
    "SentRecord",
    "UnknownTimeZone",
    "archived",
    "as_utc",
    "backoff_factor",
    "local",
    "local_day",
    "may_speak",
    "next_check",
    "relevance",
    "stagger",
    "zone",
]
