"""The decision rules: response rate, may_speak, backoff, decay, next_check, stagger."""

import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from clara.proactive.patterns import ActiveHours
from clara.proactive.rules import (
    Refusal,
    ResponseStats,
    SentRecord,
    archived,
    backoff_factor,
    may_speak,
    next_check,
    relevance,
    relevance_ends,
    stagger,
)
from clara.proactive.zones import QuietHours, zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")
H = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- response rate ------------------------------------------------------------------------


def test_response_stats_window_and_pending() -> None:
    now = utc(2024, 1, 10, 12)
    t = utc(2024, 1, 1, 12)
    history = [
        SentRecord(t, t + H),  # replied within the window
        SentRecord(t + DAY, t + 2 * DAY),  # replied exactly at the window's end: counts
        SentRecord(t + 2 * DAY, t + 3 * DAY + timedelta(seconds=1)),  # too late: ignored
        SentRecord(t + 3 * DAY),  # never replied: ignored
        SentRecord(now - DAY),  # window just over, no reply: ignored
        SentRecord(now - H),  # younger than the window, no reply yet: pending
        SentRecord(now - 2 * H, now - H),  # younger, but replied: counts
    ]
    stats = ResponseStats.from_history(random.Random(7).sample(history, 7), DAY, now)
    assert (stats.replied, stats.ignored, stats.pending) == (3, 3, 1)
    assert stats.counted == 6
    assert stats.rate == 0.5
    # Most recent first: pending (skipped), then the reply 2 h ago: no streak.
    assert stats.ignored_streak == 0


def test_ignored_streak_skips_pending_and_stops_at_a_reply() -> None:
    now = utc(2024, 1, 10, 12)
    history = [
        SentRecord(now - 5 * DAY, now - 5 * DAY + H),
        SentRecord(now - 4 * DAY),
        SentRecord(now - 3 * DAY, now - H),  # a reply days later is still ignored
        SentRecord(now - 2 * DAY),
        SentRecord(now - H),  # pending
    ]
    stats = ResponseStats.from_history(history, DAY, now)
    assert stats.ignored_streak == 3
    assert stats.rate == 0.25
    assert stats.pending == 1


def test_response_stats_edges() -> None:
    now = utc(2024, 1, 10, 12)
    empty = ResponseStats.from_history([], DAY, now)
    assert (empty.rate, empty.ignored_streak, empty.counted) == (None, 0, 0)
    only_pending = ResponseStats.from_history([SentRecord(now)], DAY, now)
    assert (only_pending.rate, only_pending.pending) == (None, 1)
    # A reply recorded before the send is no reply.
    before = ResponseStats.from_history([SentRecord(now - 2 * DAY, now - 3 * DAY)], DAY, now)
    assert (before.ignored, before.ignored_streak) == (1, 1)
    with pytest.raises(ValueError, match="window"):
        ResponseStats.from_history([], timedelta(0), now)
    with pytest.raises(ValueError, match="timezone-aware"):
        ResponseStats.from_history([], DAY, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        ResponseStats.from_history([SentRecord(datetime(2024, 1, 1))], DAY, now)


# -- may_speak ----------------------------------------------------------------------------


def test_may_speak_gap() -> None:
    now = utc(2024, 1, 15, 12)
    rules = {"min_gap": 2 * H, "max_per_day": 3}
    assert may_speak(now, BERLIN, [], **rules) is None  # type: ignore[arg-type]
    refusal = may_speak(now, BERLIN, [now - H], **rules)  # type: ignore[arg-type]
    assert isinstance(refusal, Refusal)
    assert (refusal.code, refusal.retry_at) == ("gap", now + H)
    assert "minimum gap 2:00:00" in refusal.reason
    assert may_speak(now, BERLIN, [now - 2 * H], **rules) is None  # type: ignore[arg-type]


def test_may_speak_cap_counts_the_persons_local_day() -> None:
    # Berlin (UTC+1): 23:30 UTC on the 14th is 00:30 on the 15th, 22:30 UTC is still the 14th.
    now = utc(2024, 1, 15, 12)
    sent = [utc(2024, 1, 14, 22, 30), utc(2024, 1, 14, 23, 30), utc(2024, 1, 15, 6)]
    assert may_speak(now, BERLIN, sent, min_gap=H, max_per_day=3) is None
    refusal = may_speak(now, BERLIN, [*sent, utc(2024, 1, 15, 9)], min_gap=H, max_per_day=3)
    assert refusal is not None
    assert refusal.code == "cap"
    assert refusal.retry_at == utc(2024, 1, 15, 23)  # midnight in Berlin
    assert refusal.reason == "3 proactive messages today (Europe/Berlin), cap 3"
    # In New York (UTC-5) they are 17:30 and 18:30 on the 14th, 01:00 and 04:00 on the 15th:
    # two today, under the cap.
    assert may_speak(now, NEW_YORK, [*sent, utc(2024, 1, 15, 9)], min_gap=H, max_per_day=3) is None


def test_may_speak_cap_zero_and_validation() -> None:
    now = utc(2024, 3, 30, 12)
    refusal = may_speak(now, BERLIN, [], min_gap=H, max_per_day=0)
    assert refusal is not None
    # The next local midnight, on the spring-forward day, is still CET: 23:00 UTC.
    assert (refusal.code, refusal.retry_at) == ("cap", utc(2024, 3, 30, 23))
    with pytest.raises(ValueError):
        may_speak(now, BERLIN, [], min_gap=-H, max_per_day=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        may_speak(now, BERLIN, [datetime(2024, 1, 1)], min_gap=H, max_per_day=1)


def test_may_speak_quiet_comes_first() -> None:
    now = utc(2024, 1, 15, 22)  # 23:00 in Berlin
    quiet = QuietHours.parse("22-08")
    refusal = may_speak(now, BERLIN, [now - H / 2], min_gap=H, max_per_day=0, quiet=quiet)
    assert refusal is not None
    assert (refusal.code, refusal.retry_at) == ("quiet", utc(2024, 1, 16, 7))
    assert refusal.reason == "inside quiet hours 22-08 (Europe/Berlin)"
    daytime = utc(2024, 1, 15, 12)
    assert may_speak(daytime, BERLIN, [], min_gap=H, max_per_day=1, quiet=quiet) is None


# -- backoff ------------------------------------------------------------------------------


def test_backoff_factor() -> None:
    assert [backoff_factor(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [backoff_factor(n, base=3, cap=10) for n in range(4)] == [1.0, 3.0, 9.0, 10.0]
    assert backoff_factor(10**9) == 8.0
    assert backoff_factor(10**9, base=1) == 1.0
    with pytest.raises(ValueError):
        backoff_factor(-1)
    with pytest.raises(ValueError):
        backoff_factor(1, cap=0.5)


# -- relevance decay ----------------------------------------------------------------------


def test_linear_decay_reaches_zero_and_archives() -> None:
    created = utc(2024, 1, 1)
    values = [
        relevance(1.0, created, created + offset, per_day=0.25)
        for offset in (timedelta(0), H * 12, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY)
    ]
    assert values == [1.0, 0.875, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert relevance_ends(1.0, created, per_day=0.25) == created + 4 * DAY
    assert not archived(1.0, created, created + 4 * DAY - timedelta(microseconds=1), per_day=0.25)
    assert archived(1.0, created, created + 4 * DAY, per_day=0.25)
    # A note from the future keeps its initial relevance.
    assert relevance(0.5, created, created - DAY, per_day=0.25) == 0.5


def test_decay_zero_is_exact_despite_floats() -> None:
    created = utc(2024, 1, 1)
    # 0.3 - 0.1 * 3 is not 0 in floating point; the end instant is rounded to the microsecond.
    assert relevance_ends(0.3, created, per_day=0.1) == created + 3 * DAY
    assert relevance(0.3, created, created + 3 * DAY, per_day=0.1) == 0.0
    assert archived(0.3, created, created + 3 * DAY, per_day=0.1)
    assert relevance(0.0, created, created, per_day=0.1) == 0.0
    assert archived(0.0, created, created, per_day=0.0)


def test_no_decay_and_expiry() -> None:
    created = utc(2024, 1, 1)
    assert relevance_ends(0.8, created, per_day=0.0) is None
    assert relevance(0.8, created, created + 1000 * DAY, per_day=0.0) == 0.8
    assert not archived(0.8, created, created + 1000 * DAY, per_day=0.0)
    expires = created + 2 * DAY
    assert not archived(
        0.8, created, expires - timedelta(seconds=1), per_day=0.0, expires_at=expires
    )
    assert archived(0.8, created, expires, per_day=0.0, expires_at=expires)
    assert relevance_ends(1.0, created, per_day=1e-300) is None  # beyond datetime's range
    with pytest.raises(ValueError):
        relevance(-1.0, created, created, per_day=0.1)
    with pytest.raises(ValueError):
        relevance(1.0, created, created, per_day=-0.1)


# -- next_check ---------------------------------------------------------------------------

NOW = utc(2024, 1, 15, 10)  # 11:00 in Berlin, a Monday in winter (UTC+1)


def check(now: datetime = NOW, tz: object = BERLIN, **overrides: object) -> datetime:
    arguments: dict[str, object] = {
        "base": H,
        "active": ActiveHours(),  # default window 09-21 local
        "quiet": QuietHours.parse("22-08"),
        "ignored_streak": 0,
        "urgent_due": None,
        "next_event": None,
        "suggested": None,
        "minimum": timedelta(minutes=5),
        "maximum": DAY,
    }
    arguments.update(overrides)
    return next_check(now, tz, **arguments)  # type: ignore[arg-type]


def test_base_and_backoff() -> None:
    assert check() == NOW + H
    assert check(ignored_streak=2) == NOW + 4 * H  # 15:00 local
    assert check(ignored_streak=3) == NOW + 8 * H  # 19:00 local, still active


def test_suggestion_replaces_base_and_is_backed_off() -> None:
    assert check(suggested=timedelta(minutes=30)) == NOW + timedelta(minutes=30)
    assert check(suggested=timedelta(minutes=30), ignored_streak=1) == NOW + H


def test_outside_active_hours_wakes_at_the_next_active_hour() -> None:
    # 10 h from 11:00 is 21:00 local, outside 09-21: tomorrow 09:00 local (08:00 UTC).
    assert check(suggested=10 * H) == utc(2024, 1, 16, 8)


def test_urgent_note_and_event_come_sooner() -> None:
    assert check(ignored_streak=3, urgent_due=NOW + timedelta(minutes=20)) == NOW + timedelta(
        minutes=20
    )
    assert check(base=8 * H, next_event=utc(2024, 1, 15, 13)) == utc(2024, 1, 15, 12)
    # The earlier of the two wins; a later one changes nothing.
    assert check(base=8 * H, urgent_due=NOW + 2 * H, next_event=NOW + 2 * H) == NOW + H
    assert check(urgent_due=NOW + 5 * H, next_event=NOW + 9 * H) == NOW + H
    # An event half an hour away is checked at once (its lead time has begun).
    assert check(next_event=NOW + timedelta(minutes=30)) == NOW + timedelta(minutes=5)
    # An event that has started is ignored; a past urgent note means "now", then minimum.
    assert check(next_event=NOW - timedelta(minutes=10)) == NOW + H
    assert check(urgent_due=NOW - DAY) == NOW + timedelta(minutes=5)
    # Urgency beats inactivity: an event at 07:00 local tomorrow is checked at 06:00 local...
    # ...unless that is inside quiet hours: then at their end, 08:00 local (07:00 UTC).
    assert check(base=20 * H, next_event=utc(2024, 1, 16, 6), quiet=QuietHours()) == utc(
        2024, 1, 16, 5
    )
    assert check(base=20 * H, next_event=utc(2024, 1, 16, 6)) == utc(2024, 1, 16, 7)


def test_never_inside_quiet_hours() -> None:
    owl = ActiveHours([1.0] * 24)  # active at every hour
    for _ in range(10):
        owl.record(datetime(2024, 1, 1, 23), half_life=float("inf"))
    # 12 h from 11:00 is 23:00 local: quiet until 08:00 local (07:00 UTC).
    assert check(base=12 * H, active=owl) == utc(2024, 1, 16, 7)
    assert check(base=12 * H, active=owl, quiet=QuietHours()) == NOW + 12 * H


def test_clamped_to_minimum_and_maximum() -> None:
    assert check(suggested=timedelta(minutes=1)) == NOW + timedelta(minutes=5)
    assert check(suggested=-H) == NOW + timedelta(minutes=5)
    assert check(ignored_streak=3, maximum=2 * H) == NOW + 2 * H
    # The clamp wins over everything, even quiet hours (22:00 UTC is 23:00 local).
    late = utc(2024, 1, 15, 21, 30)
    assert check(late, maximum=H / 2) == late + H / 2
    assert check(late) == utc(2024, 1, 16, 8)  # without it: tomorrow's first active hour


def test_next_check_across_new_yorks_spring_forward() -> None:
    # 15:00 EST + 12 h = 04:00 EDT (the night lost an hour): inactive until 09:00 EDT.
    assert check(utc(2024, 3, 9, 20), NEW_YORK, base=12 * H) == utc(2024, 3, 10, 13)


def test_next_check_validation() -> None:
    with pytest.raises(ValueError):
        check(minimum=2 * H, maximum=H)
    with pytest.raises(ValueError):
        check(base=timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        check(datetime(2024, 1, 15, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        check(urgent_due=datetime(2024, 1, 15, 10))


# -- stagger ------------------------------------------------------------------------------


def test_stagger_is_deterministic_and_documented() -> None:
    period = timedelta(seconds=100)
    digest = hashlib.sha256(b"alice").digest()
    expected = (int.from_bytes(digest[:8], "big") * 100_000_000) >> 64
    assert stagger("alice", period) == timedelta(microseconds=expected)
    assert stagger("alice", period) == stagger("alice", period)
    assert stagger("alice", period) != stagger("bob", period)
    assert stagger("anyone", timedelta(microseconds=1)) == timedelta(0)
    with pytest.raises(ValueError):
        stagger("alice", timedelta(0))


def test_stagger_spreads_ten_thousand_people_evenly() -> None:
    period = timedelta(hours=1)
    offsets = [stagger(f"person-{i}", period) for i in range(10_000)]
    assert all(timedelta(0) <= offset < period for offset in offsets)
    buckets = [0] * 10
    for offset in offsets:
        buckets[offset * 10 // period] += 1
    assert all(800 <= count <= 1200 for count in buckets), buckets
    # No thundering herd at a finer grain either: at most 1% in any one 36-second slice.
    slices = [0] * 100
    for offset in offsets:
        slices[offset * 100 // period] += 1
    assert max(slices) <= 160, max(slices)
