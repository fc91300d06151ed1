"""A person's iCalendar feed: fetched with limits, expanded into the events of a window.

Three pure building blocks, no actor and no store:

- ``validate_feed_url`` checks the address a person gives to ``/ors calendar``;
- ``fetch_feed`` downloads it (https only, size- and time-bounded, redirects checked);
- ``events_between`` parses the bytes and lists the events overlapping a window, recurrence
  included (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides), with ``icalendar`` and
  ``recurring-ical-events``.

Every failure is a ``FeedError`` whose message names the problem and at most the host. A feed
address carries a secret (Google's "secret address in iCal format" is
``https://calendar.google.com/calendar/ical/<who>/private-<token>/basic.ics``): it never
appears in an error message, and this module never logs it. (httpx itself logs each request's
URL at INFO; ``clara.logs.configure_logging`` holds its logger at WARNING unless the level is
DEBUG.)

``events_between`` is CPU-bound (about 0.2 ms per event where this was measured, so about
3 s for a 2 MB feed of 15,000 events): call it in a worker thread
(``trio.to_thread.run_sync``). Its work is bounded, see ``events_between``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
import httpx
import icalendar
import msgspec
import recurring_ical_events

from .._config.addresses import is_loopback
from ..errors import ClaraError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_URL_LENGTH",
    "Event",
    "FeedError",
    "events_between",
    "fetch_feed",
    "validate_feed_url",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 2_000_000
"""Largest feed accepted, in bytes (after content decoding): about 15,000 simple events."""

MAX_URL_LENGTH: Final = 2048
"""Longest feed address accepted, in characters."""

MAX_REDIRECTS: Final = 5
"""Redirects followed in one fetch; one more is an error."""

TEXT_LIMIT: Final = 200
"""Longest summary or location kept, in characters (longer ones are cut, ending in "…")."""

SERIES_BUDGET: Final = 100_000
"""Most expansion steps one recurring series may cost (estimated, see ``_series_cost``)."""

FEED_BUDGET: Final = 500_000
"""Most expansion steps all the recurring series of one feed may cost together.

A step took 1.5 to 2 µs where this was measured: about 1 s of expansion at most."""

DEFAULT_MAX_EVENTS: Final = 1000
"""Most events ``events_between`` returns (the earliest ones)."""

_SCHEMES: Final = {"webcal": "https", "webcals": "https"}
"""Calendar-subscription schemes that mean "fetch this over HTTP": always fetched over https."""


class FeedError(ClaraError):
    """A calendar feed could not be used; the message names why, and at most the host.

    ``host`` is the host the problem concerns (``None`` when the address has none).
    """

    def __init__(self, message: str, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class Event(msgspec.Struct, frozen=True):
    """One occurrence of a calendar event.

    ``start`` and ``end`` are aware datetimes in UTC, ``end >= start``. An all-day event
    (``all_day``) runs from midnight to midnight in the person's zone, converted to UTC.
    ``summary`` and ``location`` are on one line, at most ``TEXT_LIMIT`` characters, ``""``
    when absent. ``uid`` is the event's UID (shared by every occurrence of a series).
    """

    uid: str
    summary: str
    start: datetime
    end: datetime
    all_day: bool
    location: str = ""


def _host_of(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def validate_feed_url(text: str) -> str:
    """The feed address ``text`` as it will be fetched, or ``FeedError`` naming the problem.

    Accepted: ``https://HOST/...``; ``webcal://`` and ``webcals://`` (what calendar apps
    offer for subscriptions) become ``https://``; ``http://`` only towards this machine
    (``localhost``, 127.0.0.0/8, ``::1``: the rule of Clara's own URL settings, for tests and
    local feeds). The address must be ASCII without spaces (percent-encoded, host names in
    punycode), hold a host and a valid port, and be at most ``MAX_URL_LENGTH`` characters.
    Surrounding blanks are removed. Messages never repeat the address (it holds a secret
    token); they name the host when there is one.
    """
    value = text.strip()
    if not value:
        raise FeedError("calendar feed: give the feed's address, an https:// URL")
    if len(value) > MAX_URL_LENGTH:
        raise FeedError(
            f"calendar feed: the address is {len(value)} characters long; "
            f"at most {MAX_URL_LENGTH} are accepted",
            _host_of(value),
        )
    if not value.isascii() or any(char.isspace() for char in value):
        raise FeedError(
            "calendar feed: the address must be in ASCII without spaces (percent-encode "
            "other characters; host names in punycode)",
            None,
        )
    scheme, separator, rest = value.partition("://")
    if separator and scheme.lower() in _SCHEMES:
        value = f"{_SCHEMES[scheme.lower()]}://{rest}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - reading it is the check: a bad port raises
    except ValueError:
        raise FeedError(
            "calendar feed: the address is not a valid URL (check the host and the port)",
            None,
        ) from None
    host = parts.hostname
    if parts.scheme not in ("https", "http"):
        shown = f"{parts.scheme}://" if parts.scheme and separator else "no scheme"
        raise FeedError(f"calendar feed: the address must start with https:// (got {shown})", host)
    if not host:
        raise FeedError("calendar feed: the address has no host (https://HOST/...)", None)
    if parts.scheme == "http" and not is_loopback(host):
        raise FeedError(
            f"calendar feed: the address for {host} must start with https://: http:// is "
            "accepted only for this machine (a loopback address), where no one can read "
            "or change what travels",
            host,
        )
    return value


def _failure(host: str | None, error: Exception, timeout: float) -> FeedError:
    """The ``FeedError`` for an HTTP-level failure, without the URL httpx errors may hold."""
    where = host or "the calendar server"
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        text = f"{where} did not deliver the feed within {timeout:g} s"
    elif isinstance(error, httpx.ConnectError):
        text = f"could not connect to {where} (name, network or TLS problem)"
    elif isinstance(error, httpx.DecodingError):
        text = f"{where} sent a body that could not be decoded"
    elif isinstance(error, httpx.ProtocolError):
        text = f"{where} broke the HTTP protocol"
    elif isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol):
        text = f"the address for {where} is not a valid URL"
    else:
        text = f"fetching from {where} failed ({type(error).__name__})"
    return FeedError(f"calendar feed: {text}", host)


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 15.0,
) -> bytes:
    """The body of the feed at ``url``, fetched with ``client``; ``FeedError`` on any failure.

    - ``url`` must pass ``validate_feed_url`` (https, or http to a loopback host).
    - Redirects (at most ``MAX_REDIRECTS``) are followed by hand: each target must pass the
      same check and keep the scheme (no https → http, no http → https), whatever the
      client's own ``follow_redirects``.
    - ``max_bytes`` caps the body after content decoding (so a compressed bomb is refused
      too), checked against ``Content-Length`` before reading and while streaming: a larger
      feed is an error, never truncated.
    - ``timeout``, in seconds, bounds the whole fetch, redirects and body included.
    - Any status other than 2xx (after redirects) is an error.

    Runs under trio or asyncio (httpx on anyio). Messages name the host, never the URL; the
    raised ``FeedError`` does not chain httpx's exception (which would hold the URL).
    """
    if max_bytes <= 0 or timeout <= 0:
        raise ValueError("fetch_feed: max_bytes and timeout must be positive")
    current = validate_feed_url(url)
    host: list[str | None] = [_host_of(current)]  # the host of the hop in progress
    try:
        with anyio.fail_after(timeout):
            return await _fetch(client, current, max_bytes, timeout, host)
    except FeedError:
        raise
    except Exception as error:  # httpx's, anyio's timeout, and anything unforeseen
        failure = _failure(host[0], error, timeout)
    raise failure  # outside the handler: httpx's error (and its URL) is not its context


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    max_bytes: int,
    timeout: float,
    host: list[str | None],
) -> bytes:
    scheme = urlsplit(url).scheme
    headers = {"Accept": "text/calendar, text/plain;q=0.5, */*;q=0.1"}
    for _ in range(MAX_REDIRECTS + 1):
        where = host[0]
        async with client.stream(
            "GET", url, headers=headers, follow_redirects=False, timeout=timeout
        ) as response:
            if response.is_redirect:
                location = response.headers.get("Location")
                if not location:
                    raise FeedError(
                        f"calendar feed: {where} answered a redirect without a Location", where
                    )
                try:
                    target = str(response.url.join(location))
                except (httpx.InvalidURL, ValueError):
                    raise FeedError(
                        f"calendar feed: {where} redirected to an invalid address", where
                    ) from None
                url = validate_feed_url(target)
                host[0] = _host_of(url)
                new_scheme = urlsplit(url).scheme
                if new_scheme != scheme:
                    raise FeedError(
                        f"calendar feed: {where} redirected from {scheme}:// to "
                        f"{new_scheme}:// ({host[0]}); a feed must keep its scheme",
                        host[0],
                    )
                continue
            if not response.is_success:
                raise FeedError(_status_text(where, response.status_code), where)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FeedError(_too_large(where, max_bytes), where)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FeedError(_too_large(where, max_bytes), where)
            return bytes(body)
    raise FeedError(
        f"calendar feed: more than {MAX_REDIRECTS} redirects starting at {host[0]}", host[0]
    )


def _too_large(host: str | None, max_bytes: int) -> str:
    return f"calendar feed: the feed from {host} is larger than {max_bytes:,} bytes"


def _status_text(host: str | None, status: int) -> str:
    hint = {
        401: "it asks for a login: use the feed's private address",
        403: "access refused: the address may have been revoked or reset",
        404: "no feed there: the address may be wrong or revoked",
        410: "the feed is gone: the address may have been revoked",
        429: "too many requests: try later",
    }.get(status, "the server failed" if status >= 500 else "unexpected answer")
    return f"calendar feed: {host} answered HTTP {status} ({hint})"


# --- Parsing and expansion ---------------------------------------------------------------

_PERIOD_SECONDS: Final = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86_400,
    "WEEKLY": 7 * 86_400,
    "MONTHLY": 2_629_746,  # an average Gregorian month
    "YEARLY": 31_556_952,  # an average Gregorian year
}
_DAYS_SCANNED: Final = {"WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}


def _to_utc(value: date | datetime, zone: tzinfo) -> datetime:
    """An aware UTC datetime: a date is its midnight in ``zone``, a floating time is in ``zone``."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(), tzinfo=zone)
    elif value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _cut(value: Any) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _rules(component: icalendar.cal.Component) -> list[Any]:
    rules = component.get("RRULE")
    if rules is None:
        return []
    return list(rules) if isinstance(rules, list) else [rules]


def _series_cost(component: icalendar.cal.Component, horizon: datetime, zone: tzinfo) -> float:
    """An upper estimate of the steps dateutil takes to expand ``component`` up to ``horizon``.

    dateutil walks a rule from DTSTART, one period (FREQ x INTERVAL) at a time, scanning
    every day of a week, month or year period and every BYHOUR x BYMINUTE x BYSECOND time;
    the walk stops at the horizon or at UNTIL. COUNT is ignored (an estimate from above).
    A series with no RRULE costs 0 (its RDATEs are bounded by the feed's size).
    """
    rules = _rules(component)
    if not rules:
        return 0.0
    start = _to_utc(component.decoded("DTSTART"), zone)
    cost = 0.0
    for rule in rules:
        frequency = str((rule.get("FREQ") or [""])[0]).upper()
        period = _PERIOD_SECONDS.get(frequency)
        if period is None:
            return float("inf")  # not a rule dateutil can walk: skip the series
        interval = max(1, int((rule.get("INTERVAL") or [1])[0]))
        stop = horizon
        until = rule.get("UNTIL")
        if until:
            stop = min(stop, _to_utc(until[0], zone))
        span = max(0.0, (stop - start).total_seconds())
        periods = span / (period * interval) + 1
        per_period = float(_DAYS_SCANNED.get(frequency, 1))
        for key in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            per_period *= max(1, len(rule.get(key) or []))
        cost += periods * per_period
    return cost


def _not_a_feed(reason: str) -> FeedError:
    return FeedError(f"calendar feed: the data is not an iCalendar feed ({reason})")


def events_between(
    data: bytes,
    start: datetime,
    end: datetime,
    *,
    zone: tzinfo = UTC,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_events: int = DEFAULT_MAX_EVENTS,
) -> list[Event]:
    """The events of the feed ``data`` overlapping ``[start, end)``, earliest first.

    ``start`` and ``end`` must be aware (``ValueError`` otherwise). ``zone`` is the person's
    time zone: floating times (no TZID, no ``Z``) and all-day dates are taken in it (a
    calendar-wide ``X-WR-TIMEZONE``, as Google writes, takes precedence for floating times).
    Times with a TZID use it (the feed's VTIMEZONE or the IANA database); every returned
    time is in UTC. An event overlaps the window when it starts before ``end`` and ends after
    ``start``; an event of zero length counts when ``start <= event.start < end``.

    Recurrence: RRULE, RDATE, EXDATE and RECURRENCE-ID overrides (an override may move an
    occurrence in or out of the window). Cancelled events and cancelled occurrences
    (``STATUS:CANCELLED``) are left out; so are events without DTSTART or with a property
    icalendar could not read (the rest of the feed is kept).

    Bounded work, so a hostile or absurd feed cannot hang the caller:
    - ``data`` over ``max_bytes`` is refused (``FeedError``) before parsing;
    - a recurring series whose estimated expansion (``_series_cost``) exceeds
      ``SERIES_BUDGET`` steps is skipped (a per-second or per-minute rule running for
      years, or a rule with huge BYxxx lists); once the feed's series have spent
      ``FEED_BUDGET`` steps together, the remaining costly series are skipped too. A skip is
      logged at INFO as a count, without content;
    - at most ``max_events`` events are returned (the earliest).

    Anything that is not an iCalendar feed (HTML, garbage, a lone VEVENT, an empty body)
    raises ``FeedError("calendar feed: the data is not an iCalendar feed (...)")``, never
    another exception; the message holds no content of the feed.
    """
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("events_between: start and end must be aware datetimes")
    if len(data) > max_bytes:
        raise FeedError(f"calendar feed: the feed is larger than {max_bytes:,} bytes")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    try:
        calendar = icalendar.Calendar.from_ical(data.removeprefix(b"\xef\xbb\xbf"))
    except Exception as error:
        raise _not_a_feed(f"{type(error).__name__} while parsing") from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise _not_a_feed("no VCALENDAR")
    try:
        skipped = _drop_unusable(calendar, end + timedelta(days=2), zone)
        if skipped:
            log.info("calendar feed: skipped %d series too costly to expand", skipped)
        # The library compares floating and all-day times in its own way: ask it for a
        # window wide enough for any zone (UTC-12 to UTC+14) and filter exactly below.
        query = recurring_ical_events.of(calendar, skip_bad_series=True)
        components = query.between(start - timedelta(days=2), end + timedelta(days=2))
        events = list(_events(components, start, end, zone))
    except Exception as error:
        raise _not_a_feed(f"{type(error).__name__} while expanding") from None
    events.sort(key=lambda event: (event.start, event.end, event.uid))
    return events[:max_events]


def _drop_unusable(calendar: icalendar.Calendar, horizon: datetime, zone: tzinfo) -> int:
    """Remove unreadable and too costly series from ``calendar``; the number too costly."""
    unreadable: set[str] = set()
    costs: dict[str, float] = {}
    for component in calendar.walk("VEVENT"):
        uid = str(component.get("UID", ""))
        if component.errors or "DTSTART" not in component:
            unreadable.add(uid)
            continue
        try:
            cost = _series_cost(component, horizon, zone)
        except (ValueError, TypeError, OverflowError):
            unreadable.add(uid)
            continue
        costs[uid] = costs.get(uid, 0.0) + cost
    too_costly: set[str] = set()
    spent = 0.0
    for uid, cost in sorted(costs.items(), key=lambda item: item[1]):
        if cost > SERIES_BUDGET or spent + cost > FEED_BUDGET:
            too_costly.add(uid)
        else:
            spent += cost
    dropped = unreadable | too_costly
    if dropped:
        calendar.subcomponents = [
            component
            for component in calendar.subcomponents
            if not (component.name == "VEVENT" and str(component.get("UID", "")) in dropped)
        ]
    return len(too_costly)


def _events(
    components: Iterable[icalendar.cal.Component], start: datetime, end: datetime, zone: tzinfo
) -> Iterable[Event]:
    for component in components:
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            continue
        begin = component.decoded("DTSTART")
        all_day = not isinstance(begin, datetime)
        if "DTEND" in component:
            finish = component.decoded("DTEND")
        elif "DURATION" in component:
            finish = begin + component.decoded("DURATION")
        else:  # RFC 5545: a date lasts one day, a date-time no time at all
            finish = begin + timedelta(days=1) if all_day else begin
        event_start, event_end = _to_utc(begin, zone), _to_utc(finish, zone)
        event_end = max(event_end, event_start)
        overlaps = event_start < end and (
            event_end > start or (event_end == event_start and event_start >= start)
        )
        if overlaps:
            yield Event(
                uid=_cut(component.get("UID", "")),
                summary=_cut(component.get("SUMMARY")),
                start=event_start,
                end=event_end,
                all_day=all_day,
                location=_cut(component.get("LOCATION")),
            )
