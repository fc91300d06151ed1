"""What ``/email`` keeps in the store, on SQLite and PostgreSQL: connecting saves a new account
or updates the person's own with that address (any case), re-encrypting the password and
starting alerting afresh only for another mailbox; an account that signed in with OAuth
becomes a password account without its tokens; a person's accounts come with their rule
counts and never anyone else's; a rules edit that fails leaves them as they were; deleting
an account takes its rules, alerts and tokens with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select

from clara.store import (
    ConnectedEmailAccount,
    Database,
    EmailRuleRecord,
    SecretBox,
    change_email_rules,
    connect_email_account,
    delete_email_account,
    email_password,
    load_email_rules,
    person_email_accounts,
    record_email_alerts,
    save_email_rules,
    set_email_alert_channel,
    upgrade,
)
from clara.store.models import EmailAccount, EmailAlert, EmailOAuthToken, EmailRule
from tests.email.test_store import draft, engine, postgres_url  # noqa: F401 - fixtures

BOX = SecretBox([Fernet.generate_key().decode()])


def connect(
    database: Database, address: str, user_id: str = "42", **changes: Any
) -> ConnectedEmailAccount:
    values: dict[str, Any] = {
        "platform": "discord",
        "platform_user_id": user_id,
        "display_name": "Ann",
        "address": address,
        "imap_host": "imap.example.com",
        "imap_port": 993,
        "username": address,
        "password": "first-password",
        "use_tls": True,
        **changes,
    }
    with database.unit_of_work() as session:
        return connect_email_account(session, BOX, **values)


def rule(name: str, enabled: bool = True) -> EmailRuleRecord:
    return EmailRuleRecord(
        name=name,
        criteria={"conditions": [{"kind": "subject_contains", "value": name}]},
        enabled=enabled,
    )


@pytest.fixture
def database(engine: Engine) -> Database:  # noqa: F811 - the fixture
    upgrade(engine)
    return Database(engine)


def test_connecting_again_updates_the_persons_own_account_and_no_one_elses(
    database: Database,
) -> None:
    first = connect(database, "Ann@Example.com")
    assert first.created
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, first.id)
        assert row is not None
        row.uidvalidity, row.last_uid, row.status, row.failures = 7, 30, "error", 6
        encrypted = row.password_encrypted

    again = connect(
        database, "ann@example.com", username="Ann@Example.com", password="second-password"
    )
    someone_else = connect(database, "ann@example.com", user_id="7")

    assert (again.id, again.created, again.mailbox_changed) == (first.id, False, False)
    assert someone_else.id != first.id and someone_else.created
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, first.id)
        assert row is not None
        assert (row.uidvalidity, row.last_uid, row.status, row.failures) == (7, 30, "new", 0)
        assert row.password_encrypted != encrypted
        assert b"second-password" not in row.password_encrypted
        assert email_password(session, BOX, row.id) == "second-password"
        assert session.scalar(select(func.count()).select_from(EmailAccount)) == 2

    moved = connect(database, "ann@example.com", imap_host="imap.elsewhere.example")
    assert moved.mailbox_changed
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, first.id)
        assert row is not None
        assert (row.imap_host, row.uidvalidity, row.last_uid, row.newest_seen_at) == (
            "imap.elsewhere.example",
            None,
            None,
            None,
        )


def test_an_oauth_account_connected_with_a_password_loses_its_tokens(database: Database) -> None:
    first = connect(database, "ann@example.com")
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, first.id)
        assert row is not None
        row.auth_method, row.oauth_provider = "oauth2", "google"
        session.add(
            EmailOAuthToken(
                account_id=row.id, provider="google", access_token_encrypted=BOX.encrypt("tok")
            )
        )

    connect(database, "ann@example.com")

    with database.unit_of_work() as session:
        [summary] = person_email_accounts(session, "discord", "42")
        assert (summary.account.auth_method, summary.account.oauth_provider) == ("password", None)
        assert session.scalar(select(func.count()).select_from(EmailOAuthToken)) == 0


def test_a_persons_accounts_come_with_their_rule_counts_and_only_theirs(
    database: Database,
) -> None:
    ann = connect(database, "ann@example.com").id
    work = connect(database, "ann@work.example").id
    connect(database, "bob@example.com", user_id="7")
    with database.unit_of_work() as session:
        save_email_rules(session, ann, [rule("a"), rule("b", enabled=False), rule("c")])
        row = session.get(EmailAccount, work)
        assert row is not None
        row.enabled = False  # still theirs, still shown

    with database.unit_of_work() as session:
        found = person_email_accounts(session, "discord", "42")
        nobody = person_email_accounts(session, "discord", "999")

    assert [(s.account.address, s.rules, s.enabled_rules, s.account.enabled) for s in found] == [
        ("ann@example.com", 3, 2, True),
        ("ann@work.example", 0, 0, False),
    ]
    assert nobody == []


def test_a_failing_rules_edit_leaves_the_rules_as_they_were(database: Database) -> None:
    ann = connect(database, "ann@example.com").id
    with database.unit_of_work() as session:
        save_email_rules(session, ann, [rule("a"), rule("b")])

    def reverse(rules: list[EmailRuleRecord]) -> list[EmailRuleRecord]:
        return list(reversed(rules))

    def refuse(rules: list[EmailRuleRecord]) -> list[EmailRuleRecord]:
        raise ValueError("not today")

    with database.unit_of_work() as session:
        saved = change_email_rules(session, ann, reverse)
    assert [(r.name, r.position) for r in saved] == [("b", 0), ("a", 1)]
    with pytest.raises(ValueError, match="not today"), database.unit_of_work() as session:
        change_email_rules(session, ann, refuse)
    with database.unit_of_work() as session:
        assert [r.name for r in load_email_rules(session, ann)] == ["b", "a"]
        with pytest.raises(LookupError, match="no email account 999"):
            change_email_rules(session, 999, reverse)
        with pytest.raises(LookupError, match="no email account 999"):
            set_email_alert_channel(session, 999, "c1")


def test_deleting_an_account_takes_its_rules_alerts_and_tokens(database: Database) -> None:
    ann = connect(database, "ann@example.com").id
    bob = connect(database, "bob@example.com", user_id="7").id
    with database.unit_of_work() as session:
        for account_id in (ann, bob):
            save_email_rules(session, account_id, [rule("a")])
            record_email_alerts(session, account_id, 1, [draft(3)], last_uid=3)
        session.add(
            EmailOAuthToken(account_id=ann, provider="x", access_token_encrypted=BOX.encrypt("t"))
        )

    with database.unit_of_work() as session:
        assert delete_email_account(session, ann)
    with database.unit_of_work() as session:
        assert not delete_email_account(session, ann)
        assert session.get(EmailAccount, ann) is None
        for model in (EmailRule, EmailAlert):
            owners = list(session.scalars(select(model.account_id)))
            assert owners == [bob]
        assert session.scalar(select(func.count()).select_from(EmailOAuthToken)) == 0
