"""The email tables after migration 0005, on SQLite and PostgreSQL: the upgrade keeps old
alerts as delivered; alerts are recorded once, resent while pending, given up after N."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from clara.store import (
    Database,
    EmailAlertDraft,
    EmailRuleRecord,
    SecretBox,
    add_email_account,
    ensure_user,
    finish_email_alert,
    known_message_keys,
    load_email_account,
    load_email_rules,
    make_engine,
    mark_email_account_error,
    note_email_alert_failure,
    note_email_failure,
    note_email_synced,
    pending_email_alerts,
    record_email_alerts,
    save_email_rules,
    set_email_error_notified,
    upgrade,
)
from clara.store._migrate import head_revision
from clara.testing import throwaway_postgresql
from tests.helpers import require
from tests.store.conftest import POSTGRES_ADMIN, _postgres_available


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    require(_postgres_available(), f"PostgreSQL at {POSTGRES_ADMIN}")
    with throwaway_postgresql(POSTGRES_ADMIN) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database on each engine (no schema yet)."""
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    else:
        made = make_engine(request.getfixturevalue("postgres_url"))
        with made.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    yield made
    made.dispose()


def test_upgrading_from_0004_keeps_accounts_rules_and_old_alerts_as_delivered(
    engine: Engine,
) -> None:
    upgrade(engine, "0004")
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, platform, platform_user_id, display_name, time_zone, "
                "created_at) "
                "VALUES (1, 'discord', '42', 'Ann', 'UTC', :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO email_accounts (id, user_id, address, imap_host, imap_port, "
                "username, password_encrypted, use_tls, enabled, uidvalidity, last_uid, "
                "created_at) VALUES (1, 1, 'a@x.org', 'imap.x.org', 993, 'a', :pw, true, true, "
                "7, 12, :now)"
            ),
            {"pw": b"token", "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO email_rules (account_id, name, criteria, enabled) "
                "VALUES (1, 'bank', '{}', true)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO email_alerts (account_id, uidvalidity, uid, subject, sender, "
                "alerted_at) VALUES (1, 7, 12, 'hi', 'b@y.org', :now)"
            ),
            {"now": now},
        )
    upgrade(engine)
    database = Database(engine)
    with database.unit_of_work() as session:
        account = load_email_account(session, 1)
        assert account is not None
        assert (account.uidvalidity, account.last_uid, account.status, account.failures) == (
            7, 12, "new", 0,
        )  # fmt: skip
        assert not account.error_notified and account.owner_platform_user_id == "42"
        rules = load_email_rules(session, 1)
        assert [(r.name, r.position, r.importance, r.match) for r in rules] == [
            ("bank", 0, "normal", "any")
        ]
        assert pending_email_alerts(session, 1) == []  # the old alert was sent: not resent
        state = session.execute(text("SELECT state FROM email_alerts")).scalar_one()
        assert state == "delivered"
        # New rows take the model's defaults (an alert is pending until delivered).
        recorded = record_email_alerts(session, 1, 7, [draft(13)], last_uid=13)
        assert [a.state for a in recorded] == ["pending"]
    database.dispose()


def draft(uid: int, key: str | None = None) -> EmailAlertDraft:
    return EmailAlertDraft(
        uid=uid,
        subject=f"subject {uid}",
        sender="b@y.org",
        importance="high",
        rule_name="bank",
        message_key=key or f"<{uid}@y.org>",
        received_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
def account(engine: Engine) -> Iterator[tuple[Database, int]]:
    upgrade(engine)
    database = Database(engine)
    box = SecretBox([Fernet.generate_key().decode()])
    with database.unit_of_work() as session:
        owner = ensure_user(session, "discord", "42", "Ann")
        session.flush()
        row = add_email_account(
            session, box, user_id=owner.id, address="a@x.org", imap_host="h", imap_port=1,
            username="a", password="pw",
        )  # fmt: skip
        account_id = row.id
    yield database, account_id
    database.dispose()


def test_an_alert_is_recorded_once_per_uid_and_moves_last_uid_with_it(
    account: tuple[Database, int],
) -> None:
    database, account_id = account
    with database.unit_of_work() as session:
        first = record_email_alerts(session, account_id, 5, [draft(1), draft(2)], last_uid=2)
        again = record_email_alerts(session, account_id, 5, [draft(2), draft(3)], last_uid=3)
        assert [a.uid for a in first] == [1, 2] and [a.uid for a in again] == [3]
        older = record_email_alerts(session, account_id, 5, [], last_uid=1)
        assert older == []
        stored = load_email_account(session, account_id)
        assert stored is not None and (stored.uidvalidity, stored.last_uid) == (5, 3)
        assert stored.last_mail_at is not None and stored.synced_at is not None
        # A new UIDVALIDITY rebases last_uid (it may go down) and keeps old keys known.
        record_email_alerts(session, account_id, 9, [], last_uid=1, rebase=True)
        stored = load_email_account(session, account_id)
        assert stored is not None and (stored.uidvalidity, stored.last_uid) == (9, 1)
        assert known_message_keys(session, account_id, ["<1@y.org>", "<77@y.org>"]) == {"<1@y.org>"}


def test_pending_alerts_are_resent_until_delivered_or_given_up(
    account: tuple[Database, int],
) -> None:
    database, account_id = account
    with database.unit_of_work() as session:
        one, two = record_email_alerts(session, account_id, 5, [draft(1), draft(2)], last_uid=2)
        assert [a.uid for a in pending_email_alerts(session, account_id)] == [1, 2]
        finish_email_alert(session, one.id, "posted-1")
        assert note_email_alert_failure(session, two.id, 2) == "pending"
        assert [a.uid for a in pending_email_alerts(session, account_id)] == [2]
        assert note_email_alert_failure(session, two.id, 2) == "failed"
        assert pending_email_alerts(session, account_id) == []


def test_failures_count_up_error_is_told_once_and_a_sync_clears_them(
    account: tuple[Database, int],
) -> None:
    database, account_id = account
    with database.unit_of_work() as session:
        assert note_email_failure(session, account_id, "cannot connect") == 1
        assert note_email_failure(session, account_id, "cannot connect") == 2
        assert mark_email_account_error(session, account_id, "down") is False
        set_email_error_notified(session, account_id)
        assert mark_email_account_error(session, account_id, "down") is True
        note_email_synced(session, account_id, 5, 10, dt.datetime.now(dt.UTC))
        stored = load_email_account(session, account_id)
        assert stored is not None
        assert (stored.status, stored.failures, stored.last_error, stored.error_notified) == (
            "connected", 0, None, False,
        )  # fmt: skip


def test_rules_are_saved_in_the_order_given(account: tuple[Database, int]) -> None:
    database, account_id = account
    records = [
        EmailRuleRecord(name="b", criteria={"conditions": []}, importance="urgent", match="all"),
        EmailRuleRecord(name="a", criteria={"conditions": []}),
    ]
    with database.unit_of_work() as session:
        save_email_rules(session, account_id, records)
    with database.unit_of_work() as session:
        save_email_rules(session, account_id, list(reversed(records)) + records[:1])
    with database.unit_of_work() as session:
        loaded = load_email_rules(session, account_id)
    assert [(r.name, r.position) for r in loaded] == [("a", 0), ("b", 1), ("b", 2)]
    assert loaded[1].importance == "urgent" and loaded[1].match == "all"


def test_0005_downgrades_to_0004_and_upgrades_again_keeping_the_rows(engine: Engine) -> None:
    from clara.store import current_revision  # noqa: PLC0415

    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, platform, platform_user_id, display_name, time_zone, "
                "created_at) VALUES (1, 'discord', '42', 'Ann', 'UTC', :now)"
            ),
            {"now": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)},
        )
    from alembic import command  # noqa: PLC0415

    from clara.store._migrate import _config  # noqa: PLC0415

    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert current_revision(engine) == "0004"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
