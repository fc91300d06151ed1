"""Migration 0007 on SQLite and PostgreSQL: accounts gain quiet hours (none for existing
ones); alerts can be ``held`` and are delivered together by their digest."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import Engine, text

from clara.store import Database, current_revision, load_email_account, upgrade
from clara.store._email import (
    finish_email_digest,
    held_email_alerts,
    hold_email_alert,
    pending_email_alerts,
    record_email_alerts,
    set_email_quiet_hours,
)
from clara.store._migrate import _config, head_revision
from tests.email.test_store import draft, engine, postgres_url  # noqa: F401 - fixtures

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _seed(engine: Engine) -> None:  # noqa: F811 - the fixture's name
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, platform, platform_user_id, display_name, time_zone, "
                "created_at) VALUES (1, 'discord', '42', 'Ann', 'Asia/Tokyo', :now)"
            ),
            {"now": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO email_accounts (id, user_id, address, imap_host, imap_port, "
                "username, password_encrypted, use_tls, enabled, uidvalidity, last_uid, "
                "created_at, status, failures, error_notified, newest_seen_keys, ping_owner) "
                "VALUES (1, 1, 'a@x.org', 'h', 993, 'a', :pw, true, true, 7, 12, :now, 'new', "
                "0, false, '[]', false)"
            ),
            {"pw": b"token", "now": NOW},
        )


def _downgrade(engine: Engine, revision: str) -> None:  # noqa: F811 - the fixture's name
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_upgrading_from_0006_gives_existing_accounts_no_quiet_hours(
    engine: Engine,  # noqa: F811 - the fixture
) -> None:
    upgrade(engine, "0006")
    _seed(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    database = Database(engine)
    with database.unit_of_work() as session:
        account = load_email_account(session, 1)
        assert account is not None
        assert (account.quiet_start, account.quiet_end) == (None, None)
        set_email_quiet_hours(session, 1, "22:00", "08:00")
    with database.unit_of_work() as session:
        account = load_email_account(session, 1)
        assert account is not None
        assert (account.quiet_start, account.quiet_end) == ("22:00", "08:00")
        set_email_quiet_hours(session, 1, None, None)
    with database.unit_of_work() as session:
        account = load_email_account(session, 1)
        assert account is not None and account.quiet_start is None
    database.dispose()


def test_held_alerts_wait_apart_from_pending_ones_and_one_digest_delivers_them_all(
    engine: Engine,  # noqa: F811 - the fixture
) -> None:
    upgrade(engine)
    _seed(engine)
    database = Database(engine)
    with database.unit_of_work() as session:
        first, second, third = record_email_alerts(
            session, 1, 7, [draft(13), draft(14), draft(15)], last_uid=15
        )
        hold_email_alert(session, first.id)
        hold_email_alert(session, second.id)
    with database.unit_of_work() as session:
        assert [a.id for a in held_email_alerts(session, 1)] == [first.id, second.id]
        assert [a.id for a in pending_email_alerts(session, 1)] == [third.id]
        finish_email_digest(session, [first.id, second.id], "m-digest")
        finish_email_digest(session, [first.id, second.id], "m-again")  # a retry: no change
        hold_email_alert(session, first.id)  # delivered stays delivered
    with engine.begin() as connection:
        rows = connection.execute(
            text("SELECT state, posted_message_id FROM email_alerts ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("delivered", "m-digest"),
        ("delivered", "m-digest"),
        ("pending", None),
    ]
    database.dispose()


def test_0007_downgrades_handing_held_alerts_back_as_pending_and_upgrades_again(
    engine: Engine,  # noqa: F811 - the fixture
) -> None:
    upgrade(engine)
    _seed(engine)
    database = Database(engine)
    with database.unit_of_work() as session:
        set_email_quiet_hours(session, 1, "22:00", "08:00")
        [alert] = record_email_alerts(session, 1, 7, [draft(13)], last_uid=13)
        hold_email_alert(session, alert.id)
    database.dispose()
    _downgrade(engine, "0006")
    assert current_revision(engine) == "0006"
    with engine.begin() as connection:
        assert connection.execute(text("SELECT state FROM email_alerts")).scalar_one() == "pending"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.begin() as connection:
        assert (
            connection.execute(text("SELECT quiet_start FROM email_accounts")).scalar_one() is None
        )


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("22:00", None, "quiet_start and quiet_end are set together"),
        ("25:00", "08:00", "quiet_start must be a 24-hour time HH:MM; got '25:00'"),
        ("22:00", "8", "quiet_end must be a 24-hour time HH:MM; got '8'"),
    ],
)
def test_quiet_hours_that_are_not_two_hh_mm_times_are_refused_by_name(
    engine: Engine,  # noqa: F811 - the fixture
    start: str | None,
    end: str | None,
    message: str,
) -> None:
    upgrade(engine)
    _seed(engine)
    database = Database(engine)
    with database.unit_of_work() as session, pytest.raises(ValueError, match=message):
        set_email_quiet_hours(session, 1, start, end)
    with database.unit_of_work() as session, pytest.raises(LookupError, match="no email account 9"):
        set_email_quiet_hours(session, 9, "22:00", "08:00")
    database.dispose()
