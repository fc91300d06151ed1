"""The proactive engine's pure decision rules: response rate, may-I-speak, backoff, note decay,
when to check next, and a per-person stagger.

No I/O and no clock: every function takes ``now`` explicitly. Instants in and out are aware
UTC datetimes (a naive one is a ``ValueError``); durations are ``timedelta``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from .patterns import ActiveHours
from .zones import QuietHours, as_utc, at_local, local_day

__all__ = [
    "EVENT_LEAD",
    "Refusal",
    "ResponseStats",
    "SentRecord",
    "archived",
    "backoff_factor",
    "may_speak",
    "next_check",
    "relevance",
    "relevance_ends",
    "stagger",
]

EVENT_LEAD = timedelta(hours=1)
"""How long before an upcoming event ``next_check`` wakes (by default)."""

_DAY = timedelta(days=1)


class SentRecord(msgspec.Struct, frozen=True):
    """One proactive message: when it was sent and when the person replied (None: not yet)."""

    sent_at: datetime
    replied_at: datetime | None = None


class ResponseStats(msgspec.Struct, frozen=True):
    """How a person answered proactive messages, measured against a reply window.

    ``replied``: replies within the window; ``ignored``: no reply within it (a late reply is
    still ignored); ``pending``: younger than the window and not replied yet, not counted;
    ``ignored_streak``: counted messages ignored in a row, most recent first (pending skipped).
    """

    replied: int
    ignored: int
    pending: int
    ignored_streak: int

    @property
    def counted(self) -> int:
        """Messages that count towards the rate: ``replied + ignored``."""
        return self.replied + self.ignored

    @property
    def rate(self) -> float | None:
        """``replied / counted`` in [0, 1], or None when nothing counts yet."""
        return self.replied / self.counted if self.counted else None

    @classmethod
    def from_history(
        cls, sent: Sequence[SentRecord], window: timedelta, now: datetime
    ) -> ResponseStats:
        """Measure ``sent`` (any order) at ``now``: a reply at ``sent_at <= replied_at <=
        sent_at + window`` counts (both ends inclusive); an unreplied message is pending while
        ``now < sent_at + window`` and ignored from then on. ``window`` must be > 0.
        """
        if window <= timedelta(0):
            raise ValueError(f"window must be > 0; got {window}")
        now = as_utc(now, "now")
        outcomes: list[bool | None] = []  # True replied, False ignored, None pending
        for record in sorted(sent, key=lambda r: as_utc(r.sent_at, "sent_at")):
            sent_at = as_utc(record.sent_at, "sent_at")
            replied = record.replied_at
            if replied is not None and sent_at <= as_utc(replied, "replied_at") <= sent_at + window:
                outcomes.append(True)
            elif now < sent_at + window:
                outcomes.append(None)
            else:
                outcomes.append(False)
        streak = 0
        for outcome in reversed(outcomes):
            if outcome is True:
                break
            if outcome is False:
                streak += 1
        return cls(
            replied=outcomes.count(True),
            ignored=outcomes.count(False),
            pending=outcomes.count(None),
            ignored_streak=streak,
        )


class Refusal(msgspec.Struct, frozen=True):
    """Why Clara may not speak now: a short ``code``, a sentence, and ``retry_at``, the
    earliest instant (UTC) this rule stops refusing (another rule may still refuse then)."""

    code: Literal["quiet", "cap", "gap"]
    reason: str
    retry_at: datetime


def may_speak(
    now_utc: datetime,
    tz: ZoneInfo,
    sent_times: Sequence[datetime],
    *,
    min_gap: timedelta,
    max_per_day: int,
    quiet: QuietHours | None = None,
) -> Refusal | None:
    """None when a proactive message may be sent at ``now_utc``, else the first refusal.

    ``sent_times``: when earlier proactive messages were sent (UTC). Rules, in this order:
    ``quiet`` (inside ``quiet`` hours, if given); ``cap`` (``max_per_day`` already sent in the
    person's local day in ``tz``; 0 forbids all); ``gap`` (the last one less than ``min_gap``
    ago; a gap of exactly ``min_gap`` is allowed).
    """
    if min_gap < timedelta(0) or max_per_day < 0:
        raise ValueError(f"min_gap and max_per_day must be >= 0; got {min_gap}, {max_per_day}")
    now = as_utc(now_utc, "now_utc")
    times = [as_utc(moment, "sent_times") for moment in sent_times]
    if quiet is not None:
        until = quiet.quiet_until(now, tz)
        if until is not None:
            return Refusal("quiet", f"inside quiet hours {quiet} ({tz.key})", until)
    today = local_day(now, tz)
    count = sum(1 for moment in times if local_day(moment, tz) == today)
    if count >= max_per_day:
        tomorrow = at_local(today + _DAY, 0, tz)
        text = f"{count} proactive messages today ({tz.key}), cap {max_per_day}"
        return Refusal("cap", text, tomorrow)
    if times and now - max(times) < min_gap:
        last = max(times)
        text = f"last proactive message {now - last} ago, minimum gap {min_gap}"
        return Refusal("gap", text, last + min_gap)
    return None


def backoff_factor(ignored_streak: int, *, base: float = 2.0, cap: float = 8.0) -> float:
    """How much longer to wait after ``ignored_streak`` ignored messages in a row.

    ``min(cap, base ** ignored_streak)``: 1, 2, 4, 8, 8, ... by default. ``base`` and ``cap``
    must be >= 1; a negative streak is a ``ValueError``.
    """
    if ignored_streak < 0 or base < 1 or cap < 1:
        raise ValueError(f"need ignored_streak >= 0, base >= 1, cap >= 1; got {ignored_streak}")
    factor = 1.0
    for _ in range(ignored_streak if base > 1 else 0):
        factor *= base
        if factor >= cap:
            return cap
    return factor


def _check_decay(initial: float, per_day: float) -> None:
    if not (math.isfinite(initial) and initial >= 0 and math.isfinite(per_day) and per_day >= 0):
        raise ValueError(f"initial and per_day must be finite and >= 0; got {initial}, {per_day}")


def relevance_ends(initial: float, created_at: datetime, *, per_day: float) -> datetime | None:
    """The UTC instant a note's relevance reaches 0: ``created_at + initial / per_day`` days
    (rounded to the microsecond), or None if it never does (``per_day == 0``, or too far)."""
    _check_decay(initial, per_day)
    created = as_utc(created_at, "created_at")
    if initial == 0:
        return created
    if per_day == 0:
        return None
    try:
        return created + timedelta(days=initial / per_day)
    except OverflowError:
        return None


def relevance(initial: float, created_at: datetime, now: datetime, *, per_day: float) -> float:
    """A note's relevance at ``now``: linear decay, ``initial - per_day * age_in_days``.

    Clamped to [0, initial]: a note from the future has its ``initial``, and from
    ``relevance_ends(...)`` on it is exactly 0.0. ``per_day`` is relevance lost per 24 hours.
    """
    ends = relevance_ends(initial, created_at, per_day=per_day)
    now = as_utc(now, "now")
    created = as_utc(created_at, "created_at")
    if ends is not None and now >= ends:
        return 0.0
    age_days = max(now - created, timedelta(0)) / _DAY
    return max(0.0, initial - per_day * age_days)


def archived(
    initial: float,
    created_at: datetime,
    now: datetime,
    *,
    per_day: float,
    expires_at: datetime | None = None,
) -> bool:
    """True when a note is done: its relevance is 0 at ``now``, or ``now >= expires_at``."""
    if expires_at is not None and as_utc(now, "now") >= as_utc(expires_at, "expires_at"):
        return True
    return relevance(initial, created_at, now, per_day=per_day) <= 0.0


def next_check(
    now_utc: datetime,
    tz: ZoneInfo,
    *,
    base: timedelta,
    active: ActiveHours,
    quiet: QuietHours,
    ignored_streak: int,
    urgent_due: datetime | None,
    next_event: datetime | None,
    suggested: timedelta | None,
    minimum: timedelta,
    maximum: timedelta,
    event_lead: timedelta = EVENT_LEAD,
) -> datetime:
    """The UTC instant of a person's next check. Precedence, each step overriding the last:

    1. interval: ``suggested`` (the model's) if given, else ``base``; times
       ``backoff_factor(ignored_streak)``; from ``now_utc``.
    2. inactive: if that lands outside ``active`` hours, move it to ``active.next_active``.
    3. soon: the earliest of ``urgent_due`` and ``next_event - event_lead``, if earlier than
       step 2 (never before now): urgency beats backoff, the suggestion and inactivity.
       An event that has started (``next_event <= now``) is ignored; a past ``urgent_due``
       means "now" (then ``minimum``) until the caller clears it.
    4. quiet: inside ``quiet`` hours, moved to their end (``quiet_until``).
    5. clamp to [now + minimum, now + maximum]; this always wins, so a short ``maximum`` can
       place a check inside quiet hours (``may_speak(quiet=...)`` still refuses to speak).
    """
    if not timedelta(0) <= minimum <= maximum or base <= timedelta(0):
        raise ValueError(f"need 0 <= minimum <= maximum and base > 0; got {minimum}, {maximum}")
    now = as_utc(now_utc, "now_utc")
    interval = suggested if suggested is not None else base
    at = now + max(interval, timedelta(0)) * backoff_factor(ignored_streak)
    at = active.next_active(at, tz)
    soon = [as_utc(urgent_due, "urgent_due")] if urgent_due is not None else []
    if next_event is not None and as_utc(next_event, "next_event") > now:
        soon.append(as_utc(next_event, "next_event") - event_lead)
    if soon and min(soon) < at:
        at = max(min(soon), now)
    at = quiet.quiet_until(at, tz) or at
    return min(max(at, now + minimum), now + maximum)


def stagger(key: str, period: timedelta) -> timedelta:
    """A deterministic offset in [0, period) for ``key`` (e.g. a person's id), to the
    microsecond: the first 8 bytes of SHA-256(key, UTF-8) scaled onto ``period``. Stable across
    processes and restarts (unlike ``hash()``); keys spread uniformly. ``period`` must be > 0.
    """
    span = period // timedelta(microseconds=1)
    if span <= 0:
        raise ValueError(f"period must be at least 1 microsecond; got {period}")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return timedelta(microseconds=(int.from_bytes(digest[:8], "big") * span) >> 64)
