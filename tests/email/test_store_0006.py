"""Migration 0006 on SQLite and PostgreSQL: accounts gain ``ping_owner`` (off for existing
ones), alerts a ``snippet`` (kept, bounded, and resent with the alert)."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import Engine, text

from clara.store import (
    Database,
    current_revision,
    load_email_account,
    pending_email_alerts,
    record_email_alerts,
    upgrade,
)
from clara.store._email import SNIPPET_KEPT, set_email_ping_owner
from clara.store._migrate import _config
from tests.email.test_store import draft, engine, postgres_url  # noqa: F401 - fixtures

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _seed(engine: Engine) -> None:  # noqa: F811 - the fixture's name
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, platform, platform_user_id, display_name, time_zone, "
                "created_at) VALUES (1, 'discord', '42', 'Ann', 'UTC', :now)"
            ),
            {"now": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO email_accounts (id, user_id, address, imap_host, imap_port, "
                "username, password_encrypted, use_tls, enabled, uidvalidity, last_uid, "
                "created_at, status, failures, error_notified, newest_seen_keys) VALUES "
                "(1, 1, 'a@x.org', 'h', 993, 'a', :pw, true, true, 7, 12, :now, 'new', 0, false, "
                "'[]')"
            ),
            {"pw": b"token", "now": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO email_alerts (account_id, uidvalidity, uid, subject, sender, "
                "alerted_at, state, importance, attempts) "
                "VALUES (1, 7, 12, 'hi', 'b@y.org', :now, 'pending', 'normal', 0)"
            ),
            {"now": NOW},
        )


def test_upgrading_from_0005_pings_nobody_and_keeps_old_alerts_without_snippets(
    engine: Engine,  # noqa: F811 - the fixture
) -> None:
    upgrade(engine, "0005")
    _seed(engine)
    upgrade(engine, "0006")
    assert current_revision(engine) == "0006"
    upgrade(engine)  # the store's functions speak the newest schema: what 0006 kept stays
    database = Database(engine)
    with database.unit_of_work() as session:
        account = load_email_account(session, 1)
        assert account is not None and account.ping_owner is False
        [old] = pending_email_alerts(session, 1)
        assert old.snippet == ""
        set_email_ping_owner(session, 1, True)
        long = msgspec_replace(draft(13), snippet="x" * 1000)
        [recorded] = record_email_alerts(session, 1, 7, [long], last_uid=13)
        assert recorded.snippet == "x" * SNIPPET_KEPT
    with database.unit_of_work() as session:
        account = load_email_account(session, 1)
        assert account is not None and account.ping_owner is True
        assert [a.snippet for a in pending_email_alerts(session, 1)] == ["", "x" * SNIPPET_KEPT]
        with pytest.raises(LookupError, match="no email account 99"):
            set_email_ping_owner(session, 99, True)
    database.dispose()


def test_0006_downgrades_to_0005_and_upgrades_again_keeping_the_rows(
    engine: Engine,  # noqa: F811 - the fixture
) -> None:
    upgrade(engine, "0005")
    _seed(engine)
    upgrade(engine)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert current_revision(engine) == "0005"
    upgrade(engine, "0006")
    assert current_revision(engine) == "0006"
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM email_alerts")).scalar_one() == 1
        ping = connection.execute(text("SELECT ping_owner FROM email_accounts")).scalar_one()
        assert not ping


def msgspec_replace(value: object, **changes: object) -> object:
    import msgspec  # noqa: PLC0415

    return msgspec.structs.replace(value, **changes)  # type: ignore[type-var]
