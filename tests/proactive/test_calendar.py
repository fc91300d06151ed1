"""The calendar feed: fetched from real servers on loopback, parsed with recurrence and zones.

The servers are ``ThreadingHTTPServer``s in threads (plain HTTP, and HTTPS with a
self-signed certificate the client is told to trust). No test reaches beyond loopback: the
redirect towards ``calendar.example.org`` is refused before any connection.
"""

from __future__ import annotations

import gzip
import logging
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from clara.proactive.calendar import (
    FEED_BUDGET,
    SERIES_BUDGET,
    Event,
    FeedError,
    events_between,
    fetch_feed,
    validate_feed_url,
)
from tests.mailroom.smtp_server import certificate

SECRET = "private-5f1c0ffee5ec7e7a11"
FEED_PATH = f"/calendar/ical/someone%40example.org/{SECRET}/basic.ics"
PARIS = ZoneInfo("Europe/Paris")


def calendar(*events: str, extra: str = "") -> bytes:
    """A VCALENDAR around ``events`` (each the lines inside one VEVENT), CRLF-terminated."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//clara tests//EN"]
    if extra:
        lines.append(extra)
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(line.strip() for line in lines) + "\r\n").encode()


# A weekly stand-up at 09:00 Paris time across the 2026-03-29 change to summer time:
# 03-23 is excluded, 03-30 is moved to Tuesday 03-31 10:00, 04-06 is cancelled.
STANDUP = calendar(
    """
    UID:standup@test
    DTSTART;TZID=Europe/Paris:20260316T090000
    DTEND;TZID=Europe/Paris:20260316T093000
    RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6
    EXDATE;TZID=Europe/Paris:20260323T090000
    SUMMARY:Stand-up
    LOCATION:Room 4
    """,
    """
    UID:standup@test
    RECURRENCE-ID;TZID=Europe/Paris:20260330T090000
    DTSTART;TZID=Europe/Paris:20260331T100000
    DTEND;TZID=Europe/Paris:20260331T103000
    SUMMARY:Stand-up (moved)
    """,
    """
    UID:standup@test
    RECURRENCE-ID;TZID=Europe/Paris:20260406T090000
    DTSTART;TZID=Europe/Paris:20260406T090000
    DTEND;TZID=Europe/Paris:20260406T093000
    STATUS:CANCELLED
    SUMMARY:Stand-up
    """,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- Parsing ---------------------------------------------------------------------------


def test_weekly_recurrence_with_an_exception_and_an_override_across_dst() -> None:
    events = events_between(STANDUP, utc(2026, 3, 15), utc(2026, 4, 30), zone=PARIS)
    assert [(e.summary, e.start, e.end) for e in events] == [
        ("Stand-up", utc(2026, 3, 16, 8), utc(2026, 3, 16, 8, 30)),  # 09:00 CET
        ("Stand-up (moved)", utc(2026, 3, 31, 8), utc(2026, 3, 31, 8, 30)),  # 10:00 CEST
        ("Stand-up", utc(2026, 4, 13, 7), utc(2026, 4, 13, 7, 30)),  # 09:00 CEST
        ("Stand-up", utc(2026, 4, 20, 7), utc(2026, 4, 20, 7, 30)),
    ]
    assert {e.uid for e in events} == {"standup@test"}
    assert events[0].location == "Room 4"
    assert not any(e.all_day for e in events)
    assert all(e.start.tzinfo is UTC and e.end.tzinfo is UTC for e in events)


def test_an_override_moved_out_of_the_window_leaves_it() -> None:
    # Only Monday 03-30 is in the window; its occurrence moved to Tuesday.
    events = events_between(STANDUP, utc(2026, 3, 30), utc(2026, 3, 30, 23), zone=PARIS)
    assert events == []


def test_all_day_floating_utc_and_duration_events_in_the_persons_zone() -> None:
    data = calendar(
        "UID:holiday\nDTSTART;VALUE=DATE:20260401\nDTEND;VALUE=DATE:20260403\nSUMMARY:Trip",
        "UID:birthday\nDTSTART;VALUE=DATE:20260401\nSUMMARY:Birthday",
        "UID:floating\nDTSTART:20260401T180000\nDTEND:20260401T190000\nSUMMARY:Dinner",
        "UID:utc\nDTSTART:20260401T120000Z\nDURATION:PT45M\nSUMMARY:Call",
        "UID:gone\nDTSTART:20260401T130000Z\nDTEND:20260401T140000Z\nSTATUS:CANCELLED",
    )
    new_york = ZoneInfo("America/New_York")  # UTC-4 in April
    events = {
        e.uid: e for e in events_between(data, utc(2026, 4, 1), utc(2026, 4, 2), zone=new_york)
    }
    assert set(events) == {"holiday", "birthday", "floating", "utc"}
    assert events["holiday"] == Event(
        uid="holiday",
        summary="Trip",
        start=utc(2026, 4, 1, 4),
        end=utc(2026, 4, 3, 4),
        all_day=True,
        location="",
    )
    assert (events["birthday"].start, events["birthday"].end) == (
        utc(2026, 4, 1, 4),
        utc(2026, 4, 2, 4),
    )
    assert events["birthday"].all_day
    assert (events["floating"].start, events["floating"].end) == (
        utc(2026, 4, 1, 22),
        utc(2026, 4, 1, 23),
    )
    assert (events["utc"].start, events["utc"].end) == (
        utc(2026, 4, 1, 12),
        utc(2026, 4, 1, 12, 45),
    )
    # The same floating dinner for a person in Tokyo (UTC+9) is at 09:00 UTC.
    tokyo = events_between(data, utc(2026, 4, 1), utc(2026, 4, 2), zone=ZoneInfo("Asia/Tokyo"))
    assert next(e for e in tokyo if e.uid == "floating").start == utc(2026, 4, 1, 9)


def test_google_style_x_wr_timezone_applies_to_utc_times() -> None:
    data = calendar(
        "UID:g\nDTSTART:20260401T090000Z\nDTEND:20260401T100000Z\nRRULE:FREQ=DAILY;COUNT=3",
        extra="X-WR-TIMEZONE:Europe/Paris",
    )
    events = events_between(data, utc(2026, 4, 1), utc(2026, 4, 4))
    assert [e.start for e in events] == [utc(2026, 4, d, 9) for d in (1, 2, 3)]


def test_window_edges_summary_cut_and_result_cap() -> None:
    data = calendar(
        "UID:before\nDTSTART:20260401T080000Z\nDTEND:20260401T090000Z",
        "UID:long\nDTSTART:20260401T090000Z\nDTEND:20260401T100000Z\nSUMMARY:" + "x" * 500,
        "UID:point\nDTSTART:20260401T090000Z",
        "UID:after\nDTSTART:20260401T100000Z\nDTEND:20260401T110000Z",
    )
    events = events_between(data, utc(2026, 4, 1, 9), utc(2026, 4, 1, 10))
    assert [e.uid for e in events] == ["point", "long"]  # by start, then end
    assert len(events[1].summary) == 200 and events[1].summary.endswith("…")
    assert (
        events_between(data, utc(2026, 4, 1), utc(2026, 4, 2), max_events=2)
        == events_between(data, utc(2026, 4, 1), utc(2026, 4, 2))[:2]
    )
    with pytest.raises(ValueError, match="aware"):
        events_between(data, datetime(2026, 4, 1), utc(2026, 4, 2))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"<!doctype html><html><body>Sign in</body></html>",
        b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe",
        b"BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260401T090000Z\r\nEND:VEVENT\r\n",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n",
        b"BEGIN:VCALENDAR\r\nCALSCALE:CHINESE\r\nEND:VCALENDAR\r\n",
    ],
    ids=["empty", "text", "html", "binary", "lone-vevent", "unterminated", "calscale"],
)
def test_data_that_is_not_a_calendar_is_a_feed_error(data: bytes) -> None:
    with pytest.raises(FeedError, match="not an iCalendar feed") as caught:
        events_between(data, utc(2026, 4, 1), utc(2026, 4, 2))
    assert caught.value.__cause__ is None


def test_a_broken_event_is_skipped_and_the_rest_kept() -> None:
    data = calendar(
        "UID:broken\nDTSTART:garbage\nSUMMARY:broken",
        "UID:nostart\nSUMMARY:no start",
        "UID:good\nDTSTART:20260401T090000Z\nDTEND:20260401T100000Z",
    )
    assert [e.uid for e in events_between(data, utc(2026, 4, 1), utc(2026, 4, 2))] == ["good"]


def test_absurd_rules_are_skipped_quickly() -> None:
    full = ",".join(str(n) for n in range(60))
    data = calendar(
        "UID:secondly\nDTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY",
        "UID:minutely\nDTSTART:19700101T000000Z\nRRULE:FREQ=MINUTELY;INTERVAL=1",
        f"UID:expanded\nDTSTART:20200101T000000Z\nRRULE:FREQ=YEARLY;BYMINUTE={full};BYSECOND={full}",
        "UID:ancient\nDTSTART:00010101T090000Z\nRRULE:FREQ=DAILY",
        "UID:daily\nDTSTART:20260101T090000Z\nDTEND:20260101T100000Z\nRRULE:FREQ=DAILY",
    )
    began = time.perf_counter()
    events = events_between(data, utc(2026, 4, 1), utc(2026, 4, 2))
    assert time.perf_counter() - began < 2.0
    assert [e.uid for e in events] == ["daily"]


def test_many_costly_series_share_one_budget() -> None:
    # Each daily series since 1900 costs ~46,000 steps: under SERIES_BUDGET, but 60 of them
    # exceed FEED_BUDGET, so the feed keeps as many as fit and skips the rest.
    per_series = (2026 - 1900) * 366
    assert per_series < SERIES_BUDGET < FEED_BUDGET < 60 * per_series
    data = calendar(
        *(f"UID:s{n}\nDTSTART:19000101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY" for n in range(60))
    )
    began = time.perf_counter()
    events = events_between(data, utc(2026, 4, 1), utc(2026, 4, 2))
    assert time.perf_counter() - began < 10.0
    assert 0 < len(events) <= FEED_BUDGET // per_series


def test_a_huge_feed_is_refused_before_parsing() -> None:
    one = (
        "BEGIN:VEVENT\r\nUID:{n}\r\nDTSTART:20260401T090000Z\r\nSUMMARY:event {n}\r\nEND:VEVENT\r\n"
    )
    body = "".join(one.format(n=n) for n in range(100_000))
    data = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n".encode()
    began = time.perf_counter()
    with pytest.raises(FeedError, match="larger than 2,000,000 bytes"):
        events_between(data, utc(2026, 4, 1), utc(2026, 4, 2))
    assert time.perf_counter() - began < 0.5


# --- Addresses -----------------------------------------------------------------------------


def test_valid_addresses() -> None:
    google = f"https://calendar.google.com{FEED_PATH}"
    assert validate_feed_url(f"  {google}\n") == google
    assert (
        validate_feed_url(f"webcal://p01.icloud.com{FEED_PATH}")
        == f"https://p01.icloud.com{FEED_PATH}"
    )
    assert validate_feed_url("http://127.0.0.1:8080/feed.ics") == "http://127.0.0.1:8080/feed.ics"
    assert validate_feed_url("http://localhost/feed.ics") == "http://localhost/feed.ics"
    assert validate_feed_url("http://[::1]:99/feed.ics") == "http://[::1]:99/feed.ics"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "give the feed's address"),
        (
            f"http://calendar.example.org{FEED_PATH}",
            "calendar.example.org must start with https://",
        ),
        (f"ftp://calendar.example.org{FEED_PATH}", r"must start with https:// \(got ftp://\)"),
        (f"calendar.example.org{FEED_PATH}", r"must start with https:// \(got no scheme\)"),
        (f"https://calendar.example.org:99999{FEED_PATH}", "not a valid URL"),
        (f"https://{FEED_PATH}", "has no host"),
        (f"https://calendar.example.org{FEED_PATH} x", "ASCII without spaces"),
        (f"https://calendrier.exemple.fr/é{SECRET}", "ASCII without spaces"),
        (f"https://calendar.example.org/{SECRET}/" + "a" * 3000, "at most 2048"),
    ],
)
def test_invalid_addresses_name_the_problem_not_the_secret(text: str, expected: str) -> None:
    with pytest.raises(FeedError, match=expected) as caught:
        validate_feed_url(text)
    assert SECRET not in str(caught.value)


# --- Fetching from real servers on loopback -------------------------------------------------


Route = Callable[[BaseHTTPRequestHandler], None]


class Server(ThreadingHTTPServer):
    """Serves ``routes`` (path → handler); ``release`` ends the handlers that wait."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.routes: dict[str, Route] = {}
        self.release = threading.Event()
        self.scheme = "https" if context else "http"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeouts, refused bodies) is expected here."""


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def send(body: bytes, *, length: bool = True, headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/calendar; charset=utf-8")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def trickle(handler: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte every 50 ms until released: no single read is slow."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.end_headers()
    handler.wfile.write(b"BEGIN:VCALENDAR\r\n")
    handler.wfile.flush()
    while not handler.server.release.wait(0.05):  # type: ignore[attr-defined]
        handler.wfile.write(b"X")
        handler.wfile.flush()


def serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return certificate(tmp_path_factory.mktemp("calendar-tls"))


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    yield from serve(context)


def client(cert: tuple[Path, Path] | None = None) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = True
    if cert is not None:
        verify = ssl.create_default_context(cafile=str(cert[0]))
    return httpx.AsyncClient(verify=verify, trust_env=False)


async def refused(url: str, **kwargs: Any) -> FeedError:
    """The ``FeedError`` fetching ``url`` raises, checked never to show the secret."""
    async with client(kwargs.pop("cert", None)) as http:
        with pytest.raises(FeedError) as caught:
            await fetch_feed(http, url, **kwargs)
    error = caught.value
    assert SECRET not in "".join(traceback.format_exception(error))
    return error


@pytest.mark.trio
async def test_a_feed_is_fetched_and_parsed(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes[FEED_PATH] = send(STANDUP)
    caplog.set_level(logging.DEBUG, logger="clara")
    async with client() as http:
        data = await fetch_feed(http, server.base + FEED_PATH)
    assert data == STANDUP
    assert len(events_between(data, utc(2026, 3, 15), utc(2026, 4, 30), zone=PARIS)) == 4
    assert SECRET not in caplog.text


@pytest.mark.trio
async def test_a_feed_is_fetched_over_https_and_a_same_host_redirect_followed(
    tls_server: Server, cert: tuple[Path, Path]
) -> None:
    tls_server.routes["/old.ics"] = redirect(FEED_PATH)
    tls_server.routes[FEED_PATH] = send(
        gzip.compress(STANDUP), headers={"Content-Encoding": "gzip"}
    )
    async with client(cert) as http:
        assert await fetch_feed(http, tls_server.base + "/old.ics") == STANDUP


@pytest.mark.trio
async def test_oversized_feeds_are_refused_not_truncated(server: Server) -> None:
    big = STANDUP + b"X" * 5000
    server.routes["/declared/" + SECRET] = send(big)
    server.routes["/streamed/" + SECRET] = send(big, length=False)
    bomb = gzip.compress(b"BEGIN:VCALENDAR\r\n" + b" " * 3_000_000)
    server.routes["/bomb/" + SECRET] = send(bomb, headers={"Content-Encoding": "gzip"})
    for path in ("/declared/", "/streamed/"):
        error = await refused(f"{server.base}{path}{SECRET}", max_bytes=4096)
        assert str(error) == "calendar feed: the feed from 127.0.0.1 is larger than 4,096 bytes"
        assert error.host == "127.0.0.1"
    assert len(bomb) < 100_000
    error = await refused(f"{server.base}/bomb/{SECRET}")
    assert "larger than 2,000,000 bytes" in str(error)


@pytest.mark.trio
async def test_a_slow_server_hits_the_whole_fetch_timeout(server: Server) -> None:
    server.routes[FEED_PATH] = trickle
    began = time.monotonic()
    error = await refused(server.base + FEED_PATH, timeout=0.5)
    assert 0.4 < time.monotonic() - began < 3
    assert str(error) == "calendar feed: 127.0.0.1 did not deliver the feed within 0.5 s"


@pytest.mark.trio
async def test_a_redirect_to_another_host_over_http_is_refused(server: Server) -> None:
    server.routes[FEED_PATH] = redirect(f"http://calendar.example.org{FEED_PATH}")
    error = await refused(server.base + FEED_PATH)
    assert "calendar.example.org must start with https://" in str(error)
    assert error.host == "calendar.example.org"


@pytest.mark.trio
async def test_a_redirect_to_another_scheme_is_refused(
    server: Server, tls_server: Server, cert: tuple[Path, Path]
) -> None:
    server.routes[FEED_PATH] = send(STANDUP)
    tls_server.routes[FEED_PATH] = redirect(server.base + FEED_PATH)  # https → http loopback
    error = await refused(tls_server.base + FEED_PATH, cert=cert)
    assert "redirected from https:// to http://" in str(error)
    server.routes["/up/" + SECRET] = redirect(tls_server.base + FEED_PATH)  # http → https
    error = await refused(f"{server.base}/up/{SECRET}", cert=cert)
    assert "redirected from http:// to https://" in str(error)


@pytest.mark.trio
async def test_redirect_loops_statuses_and_closed_ports_are_feed_errors(server: Server) -> None:
    server.routes["/loop/" + SECRET] = redirect("/loop/" + SECRET)
    assert "more than 5 redirects" in str(await refused(f"{server.base}/loop/{SECRET}"))
    error = await refused(f"{server.base}/missing/{SECRET}")
    assert str(error).startswith("calendar feed: 127.0.0.1 answered HTTP 404")
    error = await refused(f"http://127.0.0.1:{closed_port()}/{SECRET}")
    assert str(error).startswith("calendar feed: could not connect to 127.0.0.1")
    error = await refused(f"https://calendar.example.org:0x/{SECRET}")
    assert "not a valid URL" in str(error)


@pytest.mark.trio
async def test_untrusted_certificate_is_refused(tls_server: Server) -> None:
    tls_server.routes[FEED_PATH] = send(STANDUP)
    error = await refused(tls_server.base + FEED_PATH)  # the client does not trust it
    assert "could not connect to 127.0.0.1" in str(error)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_events_are_plain_msgspec_structs() -> None:
    event = Event("u", "s", utc(2026, 4, 1), utc(2026, 4, 1, 1), False, "")
    assert msgspec.json.decode(msgspec.json.encode(event), type=Event) == event
    assert date(2026, 4, 1) == event.start.date()
    assert event.end - event.start == timedelta(hours=1)
