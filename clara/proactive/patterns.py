"""Learned active hours: when, in their own wall-clock time, a person usually writes.

``ActiveHours`` keeps 24 weights, one per local hour (index 0 is 00:00-00:59). Each message
a person writes decays every weight by the same factor and adds 1 to its own hour, so the
weights are an exponentially weighted count of messages per hour: a message's weight halves
after ``HALF_LIFE_MESSAGES`` newer messages (a half-life counted in messages, not days, so a
quiet person's pattern does not fade just because they are away). The total weight is the
evidence; below ``MIN_EVIDENCE`` the default window ``DEFAULT_HOURS`` (09:00-21:00) is used.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec

from .zones import as_utc, at_local, local

__all__ = [
    "ACTIVE_SHARE",
    "DEFAULT_HOURS",
    "HALF_LIFE_MESSAGES",
    "MIN_EVIDENCE",
    "ActiveHours",
]

HALF_LIFE_MESSAGES = 100.0
"""A message's weight halves after this many newer messages."""

MIN_EVIDENCE = 10.0
"""Below this total weight (about ten recent messages) the default window is used."""

ACTIVE_SHARE = 0.5 / 24
"""An hour is active when it holds at least this share of the total weight: half of what
each hour would hold if messages were spread evenly over the day."""

DEFAULT_HOURS = range(9, 21)
"""The fallback active hours when little is known: 09:00 to 20:59 local time."""

_Weight = Annotated[float, msgspec.Meta(ge=0.0)]


def _zeros() -> list[float]:
    return [0.0] * 24


class ActiveHours(msgspec.Struct):
    """Decayed message counts per local hour (``weights``: 24 floats >= 0), JSON-serialisable.

    Store it with ``msgspec.json.encode(hours)`` and read it back with
    ``msgspec.json.decode(data, type=ActiveHours)`` (which checks 24 non-negative numbers).
    Mutable: ``record`` updates it in place.
    """

    weights: Annotated[list[_Weight], msgspec.Meta(min_length=24, max_length=24)] = msgspec.field(
        default_factory=_zeros
    )

    def __post_init__(self) -> None:
        if len(self.weights) != 24:
            raise ValueError(f"ActiveHours needs 24 weights; got {len(self.weights)}")
        for weight in self.weights:
            if not (math.isfinite(weight) and weight >= 0.0):
                raise ValueError(f"ActiveHours weights must be finite and >= 0; got {weight}")

    @property
    def evidence(self) -> float:
        """The total weight: roughly how many recent messages the pattern rests on."""
        return math.fsum(self.weights)

    @property
    def learned(self) -> bool:
        """True once the evidence reaches ``MIN_EVIDENCE`` (before that, defaults apply)."""
        return self.evidence >= MIN_EVIDENCE

    def record(self, local_dt: datetime, *, half_life: float = HALF_LIFE_MESSAGES) -> None:
        """Count one message written at ``local_dt``, a wall-clock time in the person's zone.

        Only ``local_dt.hour`` is used, so pass ``zones.local(sent_utc, zone)`` (an aware
        datetime in the person's zone; a naive wall-clock time is accepted too). Every weight
        is multiplied by ``0.5 ** (1 / half_life)`` first, then the hour's weight grows by 1.
        ``half_life`` is in messages and must be > 0; ``math.inf`` means no decay.
        """
        if not half_life > 0:
            raise ValueError(f"half_life must be > 0 messages; got {half_life}")
        factor = 0.5 ** (1.0 / half_life)
        self.weights = [weight * factor for weight in self.weights]
        self.weights[local_dt.hour] += 1.0

    def is_active(self, hour: int) -> bool:
        """True when the local ``hour`` (0-23) is one the person usually writes in.

        Learned: the hour holds at least ``ACTIVE_SHARE`` of the total weight. Not yet
        learned (evidence below ``MIN_EVIDENCE``): the hour is in ``DEFAULT_HOURS``.
        """
        if not 0 <= hour <= 23:
            raise ValueError(f"hour must be 0-23; got {hour}")
        total = self.evidence
        if total < MIN_EVIDENCE:
            return hour in DEFAULT_HOURS
        return self.weights[hour] >= ACTIVE_SHARE * total

    def likely_hours(self) -> list[int]:
        """The active local hours, ascending (e.g. ``[9, 10, ..., 20]`` by default)."""
        return [hour for hour in range(24) if self.is_active(hour)]

    def next_active(self, now_utc: datetime, tz: ZoneInfo) -> datetime:
        """The next UTC instant the person is usually active, from ``now_utc`` in zone ``tz``.

        ``now_utc`` itself when its local hour is active; otherwise the start (``HH:00``
        wall-clock, daylight-saving jumps resolved as in ``zones.at_local``) of the next active
        local hour. There is always one within 24 hours: a learned pattern has at least one
        active hour and the default window is not empty.
        """
        now = as_utc(now_utc, "now_utc")
        here = local(now, tz)
        if self.is_active(here.hour):
            return now
        hours = self.likely_hours()
        for days in range(3):
            day = here.date() + timedelta(days=days)
            for hour in hours:
                start = at_local(day, hour, tz)
                if start > now:
                    return start
        return now  # pragma: no cover - unreachable: some hour is always active
