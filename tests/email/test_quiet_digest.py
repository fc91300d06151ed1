"""Quiet hours end to end on virtual time: the account actor holds what is not urgent,
posts the held alerts as one digest when the owner's window ends (a ``send_after`` timer),
digests at start what waited through a restart, and never posts a digest twice.

The actor's IMAP side stays out of it: ``connect`` blocks in its worker thread for the
whole test (the real IMAP path needs real time; see test_account.py), so what runs is the
start-up delivery path (pending alerts resent, held ones released) and the timer. The
store is a real SQLite database in the trio thread, so the clock's jumps are exact.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from trio.abc import Clock

from clara.actors.email import AccountOptions, EmailAccountActor, EmbedAlertSink
from clara.actors.email.alerts import Alert, Digest, digest_embed, digest_key, digest_text
from clara.adapters.email import ImapEndpoint, ImapSession, ImapUnavailable
from clara.store import (
    Database,
    EmailAlertDraft,
    SecretBox,
    add_email_account,
    ensure_user,
    record_email_alerts,
)
from clara.store._email import hold_email_alert, set_email_quiet_hours, start_email_digest
from clara.store.models import EmailAlert
from clara.testing import ActorTestKit, FakeTransport, throwaway_database

OWNER = "owner-1"
NINE_HOURS = 9 * 3600.0
# Tokyo is UTC+9: its 22:00-08:00 window runs 13:00-23:00 UTC, across Tokyo's midnight
# (15:00 UTC). 14:00 UTC is 23:00 there: the window ends nine hours later.
IN_QUIET = dt.datetime(2026, 6, 1, 14, 0, tzinfo=dt.UTC)
AFTER_QUIET = dt.datetime(2026, 6, 2, 0, 30, tzinfo=dt.UTC)  # 09:30 in Tokyo


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    with throwaway_database(tmp_path) as db:  # units of work in the trio thread
        yield db


@pytest.fixture
def blocked_connect() -> Iterator[object]:
    """A connect that never returns while the test runs (released at its end)."""
    release = threading.Event()

    def connect(endpoint: ImapEndpoint) -> ImapSession:
        release.wait()
        raise ImapUnavailable(f"test over ({endpoint.host})")

    yield connect
    release.set()


def seed(database: Database, box: SecretBox, importances: list[str], *, hold: bool) -> int:
    """An account of a Tokyo owner with quiet hours 22:00-08:00 and one recorded alert per
    importance (held, or still pending as after a crash before sending)."""
    with database.unit_of_work() as session:
        owner = ensure_user(session, "discord", OWNER, "Owner")
        owner.time_zone = "Asia/Tokyo"
        session.flush()
        account = add_email_account(
            session,
            box,
            user_id=owner.id,
            address="ann@test.local",
            imap_host="127.0.0.1",
            imap_port=9,
            username="ann",
            password="secret",
            use_tls=False,
        )
        account.alert_channel_id = "alerts"
        account.uidvalidity, account.last_uid = 7, 0
        session.flush()
        account_id: int = account.id
        set_email_quiet_hours(session, account_id, "22:00", "08:00")
        drafts = [
            EmailAlertDraft(
                uid=uid,
                subject=f"{importance} news",
                sender="bank@example.org",
                importance=importance,
                rule_name="bank",
                message_key=f"<{uid}@example.org>",
                received_at=IN_QUIET,
            )
            for uid, importance in enumerate(importances, start=1)
        ]
        recorded = record_email_alerts(session, account_id, 7, drafts, last_uid=len(drafts))
        if hold:
            for alert in recorded:
                hold_email_alert(session, alert.id)
    return account_id


def states(database: Database) -> list[tuple[str, str, str | None]]:
    with database.unit_of_work() as session:
        return [
            (row.importance, row.state, row.posted_message_id)
            for row in session.query(EmailAlert).order_by(EmailAlert.id)
        ]


async def spawn(
    kit: ActorTestKit,
    account_id: int,
    database: Database,
    box: SecretBox,
    transport: FakeTransport,
    connect: object,
    start: dt.datetime,
) -> None:
    origin = trio.current_time()

    def now() -> dt.datetime:  # wall time that moves with the virtual clock
        return start + dt.timedelta(seconds=trio.current_time() - origin)

    await kit.spawn(
        lambda: EmailAccountActor(
            account_id,
            database=database,
            secrets=box,
            sink=EmbedAlertSink(transport),
            limiter=trio.CapacityLimiter(2),
            options=AccountOptions(),
            connect=connect,  # type: ignore[arg-type]
            now=now,
        ),
        name=f"account-{account_id}",
    )


@pytest.mark.trio
async def test_in_quiet_hours_urgent_breaks_through_and_the_rest_arrive_as_one_digest_at_the_end(
    autojump_clock: Clock, database: Database, box: SecretBox, blocked_connect: object
) -> None:
    account_id = seed(database, box, ["high", "urgent", "low"], hold=False)
    transport = FakeTransport()
    origin = trio.current_time()
    async with ActorTestKit() as kit:
        await spawn(kit, account_id, database, box, transport, blocked_connect, IN_QUIET)
        await trio.sleep(NINE_HOURS - 1)
        assert [sent.embed.title for sent in transport.embeds] == ["🚨 urgent news"]
        assert [state for _, state, _ in states(database)] == ["held", "delivered", "held"]
        await trio.sleep(2)
        assert len(transport.embeds) == 2
        digest = transport.embeds[1]
        assert digest.at == pytest.approx(origin + NINE_HOURS)  # 08:00 in Tokyo, exactly
        assert digest.embed.title.startswith("📬 2 new mails for ann@test.local")
        assert "high news" in digest.embed.description
        assert "low news" in digest.embed.description
        assert "urgent news" not in digest.embed.description
        assert digest.channel_id == "alerts" and digest.content == ""
        high, urgent, low = states(database)
        assert high[1] == low[1] == "delivered" and high[2] == low[2] is not None
        assert urgent[1] == "delivered" and urgent[2] != high[2]
        await trio.sleep(NINE_HOURS * 4)  # nothing more: the digest is not posted again
        assert len(transport.embeds) == 2


@pytest.mark.trio
async def test_alerts_held_through_a_restart_are_digested_at_start_and_never_posted_twice(
    autojump_clock: Clock, database: Database, box: SecretBox, blocked_connect: object
) -> None:
    account_id = seed(database, box, ["normal", "high"], hold=True)
    transport = FakeTransport()
    sink = EmbedAlertSink(transport)
    with database.unit_of_work() as session:
        ids = [row.id for row in session.query(EmailAlert).order_by(EmailAlert.id)]
    # The last life posted the digest, then crashed before marking the alerts delivered.
    posted_before = await sink.deliver_digest(digest_of(account_id, ids))
    async with ActorTestKit() as kit:
        await spawn(kit, account_id, database, box, transport, blocked_connect, AFTER_QUIET)
        await trio.sleep(1)
        assert len(transport.embeds) == 1  # the retry carried the same nonce: dropped
        assert [state for _, state, _ in states(database)] == ["delivered", "delivered"]
    assert posted_before is not None


@pytest.mark.trio
async def test_held_alerts_still_in_quiet_hours_at_start_wait_for_the_windows_end(
    autojump_clock: Clock, database: Database, box: SecretBox, blocked_connect: object
) -> None:
    account_id = seed(database, box, ["normal"], hold=True)
    transport = FakeTransport()
    origin = trio.current_time()
    async with ActorTestKit() as kit:
        await spawn(kit, account_id, database, box, transport, blocked_connect, IN_QUIET)
        await trio.sleep(NINE_HOURS + 1)
        assert [sent.at for sent in transport.embeds] == [pytest.approx(origin + NINE_HOURS)]
        assert [state for _, state, _ in states(database)] == ["delivered"]


@pytest.mark.trio
async def test_a_digest_cut_off_by_a_crash_is_posted_again_alone_not_merged_with_later_alerts(
    autojump_clock: Clock, database: Database, box: SecretBox, blocked_connect: object
) -> None:
    account_id = seed(database, box, ["normal", "high"], hold=True)
    transport = FakeTransport()
    sink = EmbedAlertSink(transport)
    with database.unit_of_work() as session:
        ids = [row.id for row in session.query(EmailAlert).order_by(EmailAlert.id)]
    # The last life gave the held alerts to a digest, posted it, and died before marking them
    # delivered. Clara stayed down into the next night, when one more alert was held.
    key = digest_key(digest_of(account_id, ids).alerts)
    with database.unit_of_work() as session:
        start_email_digest(session, ids, key)
    await sink.deliver_digest(digest_of(account_id, ids, key=key))
    with database.unit_of_work() as session:
        [later] = record_email_alerts(
            session,
            account_id,
            7,
            [
                EmailAlertDraft(
                    uid=3,
                    subject="later news",
                    sender="shop@example.org",
                    importance="normal",
                    rule_name=None,
                    message_key="<3@example.org>",
                    received_at=IN_QUIET,
                )
            ],
            last_uid=3,
        )
        hold_email_alert(session, later.id)
    origin = trio.current_time()
    async with ActorTestKit() as kit:
        await spawn(kit, account_id, database, box, transport, blocked_connect, IN_QUIET)
        await trio.sleep(NINE_HOURS + 1)
    # At the window's end: the cut-off digest again with its own nonce (dropped as a repeat),
    # and the later alert in a digest of its own.
    assert len(transport.embeds) == 2
    fresh = transport.embeds[1]
    assert fresh.at == pytest.approx(origin + NINE_HOURS)
    assert "later news" in fresh.embed.description
    assert "normal news" not in fresh.embed.description
    assert "high news" not in fresh.embed.description
    assert fresh.embed.title.startswith("📬 1 new mail")
    assert [state for _, state, _ in states(database)] == ["delivered"] * 3


def digest_of(account_id: int, ids: list[int], **changes: object) -> Digest:
    alerts = tuple(
        Alert(
            alert_id=alert_id,
            account_id=account_id,
            address="ann@test.local",
            owner_platform_user_id=OWNER,
            channel_id="alerts",
            uidvalidity=7,
            uid=alert_id,
            sender="bank@example.org",
            subject=f"subject {alert_id}",
            importance=importance,
            rule_name=None,
            received_at=None,
        )
        for alert_id, importance in zip(ids, ["normal", "high", "low"], strict=False)
    )
    fields: dict[str, object] = {
        "account_id": account_id,
        "address": "ann@test.local",
        "owner_platform_user_id": OWNER,
        "channel_id": "alerts",
        "alerts": alerts,
    }
    fields.update(changes)
    return Digest(**fields)  # type: ignore[arg-type]


def test_a_digests_nonce_follows_its_held_alerts_ids() -> None:
    assert digest_of(1, [3, 4]).nonce == digest_of(1, [3, 4]).nonce
    assert digest_of(1, [3, 4]).nonce != digest_of(1, [3, 5]).nonce
    assert digest_of(1, [3, 4]).nonce != digest_of(2, [3, 4]).nonce
    assert digest_of(1, [3, 4]).nonce != digest_of(1, [3, 4]).alerts[0].nonce


def test_a_digest_embed_lists_each_alert_and_takes_the_most_pressing_colour() -> None:
    embed = digest_embed(digest_of(1, [3, 4, 5]))
    assert embed.title == "📬 3 new mails for ann@test.local in your quiet hours"
    assert embed.description.splitlines() == [
        "📧 subject 3 — bank@example.org",
        "❗ subject 4 — bank@example.org",
        "📨 subject 5 — bank@example.org",
    ]
    assert embed.colour == 0xE67E22  # high's orange
    assert "3 held during quiet hours" in (embed.footer or "")
    assert digest_text(digest_of(1, [3])).startswith("📬 1 new mail for ann@test.local")


@pytest.mark.trio
async def test_a_digest_pings_the_owner_only_when_the_account_asks() -> None:
    transport = FakeTransport()
    sink = EmbedAlertSink(transport)
    await sink.deliver_digest(digest_of(1, [3]))
    await sink.deliver_digest(digest_of(1, [4], ping_owner=True, channel_id=None))
    quiet, loud = transport.embeds
    assert quiet.content == "" and quiet.pings.users == ()
    assert loud.content == f"<@{OWNER}>" and loud.pings.users == (OWNER,)
    assert loud.channel_id == f"dm-{OWNER}"
