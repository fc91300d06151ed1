"""``/ors``: each person's say, the server's opt-out for administrators, everything audited and
a calendar feed's secret URL shown nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import trio
import trio.testing
from cryptography.fernet import Fernet
from sqlalchemy import select

from clara.actors.proactive.admin import ProactiveAdmin
from clara.adapters.chat import Author
from clara.config import DiscordSettings, ProactiveSettings
from clara.store import Database
from clara.store._proactive import load_person, server_proactive_enabled
from clara.store._secrets import SecretBox
from clara.store.models import AuditLogEntry, ProactivePerson
from tests.actors.proactive.harness import START, wall

pytestmark = pytest.mark.trio

ADA = Author(id="42", name="Ada")
ADMIN = Author(id="7", name="Mod", is_admin=True)
FEED = "https://calendar.example/private-0123456789abcdef/basic.ics"


@pytest.fixture
def admin(store: Database) -> Iterator[ProactiveAdmin]:
    box = SecretBox([Fernet.generate_key().decode()])
    yield ProactiveAdmin(
        settings=ProactiveSettings(),
        discord=DiscordSettings(),
        database=store,
        box=box,
        clock=wall(START),
        resolve=resolver,
    )


#: What the fake resolver answers (an address in the documentation range is not global, so
#: the "internet" one is a well-known public address).
ADDRESSES = {"calendar.example": ["93.184.215.14"], "intranet.example": ["10.1.2.3"]}


async def resolver(host: str, port: int) -> list[str]:
    if host not in ADDRESSES:
        raise OSError(f"no such host {host}")
    return ADDRESSES[host]


async def ors(admin: ProactiveAdmin, name: str, author: Author = ADA, **options: object) -> str:
    return await admin.run(
        name, dict(options), author, platform="discord", channel_id="c1", guild_id="g1"
    )


def audit(store: Database) -> list[tuple[str, str, str]]:
    with store.unit_of_work() as session:
        rows = session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        return [(row.action, row.outcome, json.dumps(row.details)) for row in rows]


async def test_status_enable_disable_quiet_and_channel(
    admin: ProactiveAdmin, store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    first = await ors(admin, "status")
    assert "has not started looking out for you yet" in first
    assert "not reach out to you" in await ors(admin, "disable")
    with store.unit_of_work() as session:
        person = load_person(session, "discord", "42")
        assert person is not None and not person.enabled
    assert "may reach out to you on her own again" in await ors(admin, "enable")
    assert "Your quiet hours: 23-07" in await ors(admin, "quiet", hours="23-7")
    refused = await ors(admin, "quiet", hours="late at night")
    assert "quiet hours must be HH-HH" in refused
    assert "this channel" in await ors(admin, "channel", where="here")
    status = await ors(admin, "status")
    assert "Quiet hours: 23-07 (yours)" in status and "<#c1>" in status
    assert "your DMs" in await ors(admin, "channel", where="dm")
    actions = [(action, outcome) for action, outcome, _ in audit(store)]
    assert ("ors.quiet", "failed") in actions and ("ors.enable", "done") in actions


async def test_only_administrators_change_the_server_and_it_is_audited(
    admin: ProactiveAdmin, store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    refused = await ors(admin, "disable", scope="server")
    assert "Only server administrators" in refused
    assert "anyone in this server" in await ors(admin, "disable", ADMIN, scope="server")
    with store.unit_of_work() as session:
        assert server_proactive_enabled(session, "discord", "g1") is False
    assert "This server: Clara does not reach out here" in await ors(admin, "status")
    outcomes = [(action, outcome) for action, outcome, _ in audit(store)]
    assert outcomes[:2] == [("ors.disable", "refused"), ("ors.disable", "done")]


async def test_a_calendar_feed_is_checked_kept_encrypted_and_never_shown(
    admin: ProactiveAdmin, store: Database, autojump_clock: trio.testing.MockClock
) -> None:
    bad = await ors(admin, "calendar", feed="http://calendar.example/private-0123456789abcdef")
    assert "private-0123456789abcdef" not in bad and "calendar.example" in bad
    kept = await ors(admin, "calendar", feed=FEED)
    assert "kept (encrypted" in kept and FEED not in kept
    with store.unit_of_work() as session:
        sealed = session.scalars(select(ProactivePerson.calendar_url)).one()
    assert sealed is not None and FEED.encode() not in sealed
    assert admin.box is not None and admin.box.decrypt(sealed, "feed") == FEED
    assert "Calendar feed: set" in await ors(admin, "status")
    assert all("private-0123456789abcdef" not in details for *_, details in audit(store))
    assert "forgotten" in await ors(admin, "calendar", feed="off")
    assert "Calendar feed: none" in await ors(admin, "status")


async def test_too_many_commands_are_refused_for_a_moment(
    admin: ProactiveAdmin, autojump_clock: trio.testing.MockClock
) -> None:
    answers = [await ors(admin, "status") for _ in range(12)]
    assert "Too many /ors commands" in answers[-1]
    await trio.sleep(61)
    assert "Too many" not in await ors(admin, "status")


@pytest.mark.parametrize(
    ("feed", "why"),
    [
        ("https://10.0.0.7/cal.ics", "private network"),
        ("https://[::1]/cal.ics", "private network"),
        ("http://127.0.0.1:8080/cal.ics", "private network"),
        ("https://localhost/cal.ics", "private network"),
        ("https://printer.local/cal.ics", "private network"),
        ("https://intranet.example/cal.ics", "private network"),
        ("https://nowhere.example/cal.ics", "does not resolve"),
    ],
)
async def test_a_feed_near_clara_is_refused_unless_the_operator_allows_it(
    admin: ProactiveAdmin,
    store: Database,
    autojump_clock: trio.testing.MockClock,
    feed: str,
    why: str,
) -> None:
    answer = await ors(admin, "calendar", feed=feed)
    assert why in answer and "kept" not in answer
    with store.unit_of_work() as session:
        assert session.scalars(select(ProactivePerson.calendar_url)).one_or_none() is None
    admin.settings = ProactiveSettings(private_feeds=True)
    if "nowhere" not in feed:
        assert "kept (encrypted" in await ors(admin, "calendar", feed=feed)
