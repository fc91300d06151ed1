"""The proactive engine's variables (``CLARA_PROACTIVE_*``, docs/proactive.md): when and how
often Clara may reach out on her own, and the engine's own beat and bounds."""

from __future__ import annotations

from .values import boolean, choice, integer, text
from .var import SECONDS, Var

__all__ = ["PROACTIVE_VARIABLES"]

_SECONDS = SECONDS

PROACTIVE_VARIABLES: tuple[Var, ...] = (
    Var(
        "CLARA_PROACTIVE_ENABLED",
        "proactive",
        "enabled",
        boolean,
        "Clara reaching out on its own",
        "true",
    ),
    Var(
        "CLARA_PROACTIVE_CHECK_MINUTES",
        "proactive",
        "check_minutes",
        integer(1),
        "how often each user's proactive state is reconsidered",
        "30",
    ),
    Var(
        "CLARA_PROACTIVE_QUIET_HOURS",
        "proactive",
        "quiet_hours",
        text,
        "hours (in each user's time zone) when Clara never reaches out, HH-HH",
        "22-08",
    ),
    Var(
        "CLARA_PROACTIVE_MAX_PER_DAY",
        "proactive",
        "max_per_day",
        integer(0),
        "proactive messages per user per day at most",
        "3",
    ),
    Var(
        "CLARA_PROACTIVE_MIN_GAP_MINUTES",
        "proactive",
        "min_gap_minutes",
        integer(0, 10_080),
        "minutes at least between two proactive messages to one person",
        "240",
    ),
    Var(
        "CLARA_PROACTIVE_MIN_CHECK_MINUTES",
        "proactive",
        "min_check_minutes",
        integer(1, 1440),
        "the shortest time between two checks of one person",
        "10",
    ),
    Var(
        "CLARA_PROACTIVE_MAX_CHECK_HOURS",
        "proactive",
        "max_check_hours",
        integer(1, 168),
        "the longest time between two checks of one person",
        "24",
    ),
    Var(
        "CLARA_PROACTIVE_REPLY_WINDOW_HOURS",
        "proactive",
        "reply_window_hours",
        integer(1, 168),
        "a person's message this soon after a proactive one counts as its reply",
        "12",
    ),
    Var(
        "CLARA_PROACTIVE_NOTE_DAYS",
        "proactive",
        "note_days",
        integer(1, 365),
        "days a fully relevant note takes to fade to nothing (then it is archived)",
        "10",
    ),
    Var(
        "CLARA_PROACTIVE_SPREAD_MINUTES",
        "proactive",
        "spread_minutes",
        integer(1, 1440),
        "after a restart, the checks missed meanwhile are spread over this long",
        "30",
    ),
    Var(
        "CLARA_PROACTIVE_IDLE_SECONDS",
        "proactive",
        "idle_seconds",
        _SECONDS,
        "a person's proactive actor idle this long is passivated (its state kept in the store)",
        "300",
    ),
    Var(
        "CLARA_PROACTIVE_MAX_PEOPLE",
        "proactive",
        "max_people",
        integer(1, 1_000_000),
        "person actors live at once (the least recently idle makes room)",
        "10000",
    ),
    Var(
        "CLARA_PROACTIVE_TIER",
        "proactive",
        "tier",
        choice("high", "mid", "low"),
        "the model tier a check asks",
        "low",
    ),
    Var(
        "CLARA_PROACTIVE_CALENDAR_MINUTES",
        "proactive",
        "calendar_minutes",
        integer(5, 1440),
        "how often a person's calendar feed is read at most",
        "60",
    ),
    Var(
        "CLARA_PROACTIVE_ACTIVE_DAYS",
        "proactive",
        "active_days",
        integer(1, 3650),
        "only people who wrote within this many days are checked (they are again once they write)",
        "30",
    ),
    Var(
        "CLARA_PROACTIVE_PRIVATE_FEEDS",
        "proactive",
        "private_feeds",
        boolean,
        "allow calendar feeds on this machine or a private network (off: internet only)",
        "false",
    ),
    Var(
        "CLARA_PROACTIVE_TICK_SECONDS",
        "proactive",
        "tick_seconds",
        _SECONDS,
        "how often the scheduler looks for people due (and resends open messages)",
        "30",
    ),
    Var(
        "CLARA_PROACTIVE_OPS_PER_MINUTE",
        "proactive",
        "ops_per_minute",
        integer(1, 600),
        "/ors commands one person may run a minute",
        "10",
    ),
)
