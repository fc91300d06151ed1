"""A few days in one person's life, in virtual time: activity and silence, quiet hours in
their own zone across a daylight-saving change, an ignored streak, and an upcoming event from
their calendar feed served on loopback."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import trio
import trio.testing
from cryptography.fernet import Fernet

from clara.adapters.llm import ChatRequest
from clara.proactive import QuietHours
from clara.store import Database
from clara.store._proactive import save_person_choice
from clara.store._secrets import SecretBox
from clara.store.models import ProactiveMessage
from tests.actors.proactive.harness import ScriptedModel, proactive_running, speak

pytestmark = pytest.mark.trio

NEW_YORK = ZoneInfo("America/New_York")
#: Saturday 7 March 2026, 09:00 in New York (EST); clocks go forward on Sunday 8 March 02:00.
START = dt.datetime(2026, 3, 7, 14, 0, tzinfo=dt.UTC)
DAY = 24 * 3600.0

FEED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:dentist-1\r\nSUMMARY:Dentist appointment\r\n"
    "DTSTART;TZID=America/New_York:20260309T150000\r\n"
    "DTEND;TZID=America/New_York:20260309T160000\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


async def serve_feed(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """The feed over plain HTTP on loopback, from this trio run (one response per connection)."""

    async def answer(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            request += chunk
        body = FEED.encode()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        await stream.send_all(head + body)
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(answer, listeners)


async def test_a_few_days_of_one_persons_life(
    tmp_path: Path, store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    asked_at: list[dt.datetime] = []
    holder: dict[str, object] = {}

    def always_speak(request: ChatRequest) -> str:
        clock = holder["clock"]
        assert callable(clock)
        asked_at.append(clock())
        return speak(f"Thinking of you ({len(asked_at)})")

    model = ScriptedModel([always_speak])
    env = {
        "CLARA_PROACTIVE_MAX_PER_DAY": "2",
        "CLARA_PROACTIVE_MIN_GAP_MINUTES": "180",
        "CLARA_PROACTIVE_CHECK_MINUTES": "60",
    }
    box = SecretBox([Fernet.generate_key().decode()])
    async with trio.open_nursery() as servers:
        port = await servers.start(serve_feed)
        async with (
            httpx.AsyncClient() as http,
            proactive_running(
                tmp_path, store, model, env=env, start=START, box=box, http=http, flush=60.0
            ) as running,
        ):
            holder["clock"] = running.clock
            # Saturday morning: they write, in New York.
            running.write("Big week ahead, dentist on Monday", message_id="m1")
            await running.flush()
            running.set_zone("America/New_York")
            with store.unit_of_work() as session:
                save_person_choice(
                    session,
                    "discord",
                    "42",
                    calendar_url=box.encrypt(f"http://127.0.0.1:{port}/private-feed.ics"),
                )
            # Three days pass in silence: Clara's messages go unanswered.
            await trio.sleep(3 * DAY)
        servers.cancel_scope.cancel()

    quiet = QuietHours.parse("22-08")
    local_times = [moment.astimezone(NEW_YORK) for moment in asked_at]
    assert local_times, "the model was never asked"
    # Never in quiet hours, judged by the New York wall clock, before and after the change.
    assert all(not quiet.covers_hour(moment.hour) for moment in local_times), local_times
    assert any(moment.utcoffset() == dt.timedelta(hours=-5) for moment in local_times)
    assert any(moment.utcoffset() == dt.timedelta(hours=-4) for moment in local_times)
    # At most two a day in their own day, and at least three hours apart.
    sent = [row for row in running.rows(ProactiveMessage) if row.state == "delivered"]
    days: dict[dt.date, int] = {}
    for row in sent:
        day = row.sent_at.astimezone(NEW_YORK).date()
        days[day] = days.get(day, 0) + 1
    assert sent and max(days.values()) <= 2
    times = sorted(row.sent_at for row in sent)
    assert all(b - a >= dt.timedelta(hours=3) for a, b in itertools.pairwise(times))
    # Ignored, Clara holds back: the checks grow further apart.
    gaps = [b - a for a, b in itertools.pairwise(asked_at)]
    assert max(gaps) >= dt.timedelta(hours=4)
    # The dentist: a check within the hour before it, with the event in its context.
    dentist = dt.datetime(2026, 3, 9, 15, 0, tzinfo=NEW_YORK)
    before = [m for m in asked_at if dentist - dt.timedelta(hours=1) <= m <= dentist]
    assert before, [m.astimezone(NEW_YORK) for m in asked_at]
    assert any("Dentist appointment" in request.messages[-1].text() for request in model.requests)
