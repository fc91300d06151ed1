"""The store side of OAuth mail accounts: saved with their tokens encrypted in one unit of
work, an address the person has already updated, refreshed tokens replacing the old, and
key rotation reaching every encrypted column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from clara.errors import SecretKeyError
from clara.store import (
    ConnectedEmailAccount,
    Database,
    OAuthCredentials,
    SecretBox,
    add_email_account,
    connect_oauth_email_account,
    email_password,
    ensure_user,
    load_email_oauth_credentials,
    rotate_secrets,
    save_email_oauth_credentials,
)
from clara.store.models import EmailAccount, EmailOAuthToken

CREDENTIALS = OAuthCredentials(
    access_token="access-token-0123456789",
    refresh_token="refresh-token-0123456789",
    expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    scope="mail",
    client_id="clara",
    client_secret="client-secret-0123456789",
    token_endpoint="https://id.example/token",
)


def connect(
    database: Database,
    box: SecretBox,
    address: str = "ann@test.local",
    alert_channel_id: str | None = None,
) -> ConnectedEmailAccount:
    with database.unit_of_work() as session:
        return connect_oauth_email_account(
            session,
            box,
            platform="discord",
            platform_user_id="owner-1",
            display_name="Ann",
            address=address,
            provider="google",
            imap_host="imap.gmail.com",
            imap_port=993,
            use_tls=True,
            credentials=CREDENTIALS,
            alert_channel_id=alert_channel_id,
        )


def raw_bytes(tmp_path: Path) -> bytes:
    return b"".join(path.read_bytes() for path in tmp_path.glob("clara.db*"))


def test_a_new_account_is_saved_with_its_tokens_encrypted(
    database: Database, box: SecretBox, tmp_path: Path
) -> None:
    connected = connect(database, box, alert_channel_id="alerts")
    assert connected.created and not connected.mailbox_changed
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, connected.id)
        assert row is not None
        assert (row.auth_method, row.oauth_provider, row.username) == (
            "oauth2",
            "google",
            "ann@test.local",
        )
        assert row.alert_channel_id == "alerts"
        assert email_password(session, box, connected.id) == ""
        assert load_email_oauth_credentials(session, box, connected.id) == CREDENTIALS
        token = session.scalars(select(EmailOAuthToken)).one()
        assert token.provider == "google"
    raw = raw_bytes(tmp_path)
    for secret in ("access-token-0123456789", "refresh-token-0123456789", "client-secret-0"):
        assert secret.encode() not in raw


def test_an_address_the_person_has_is_updated_not_duplicated(
    database: Database, box: SecretBox
) -> None:
    # A password account first (as /email connect with a password saves one), in error.
    with database.unit_of_work() as session:
        owner = ensure_user(session, "discord", "owner-1", "Ann")
        password_account = add_email_account(
            session,
            box,
            user_id=owner.id,
            address="ann@test.local",
            imap_host="mail.test.local",
            imap_port=993,
            username="ann",
            password="hunter2",
        )
        password_account.alert_channel_id = "old-channel"
        password_account.status, password_account.failures = "error", 7
        password_account.error_notified = True
        password_account.uidvalidity, password_account.last_uid = 5, 40
        session.flush()
        account_id = password_account.id
    moved = connect(database, box, address="Ann@Test.Local")
    assert (moved.id, moved.created, moved.mailbox_changed) == (account_id, False, True)
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account_id)
        assert row is not None
        assert (row.auth_method, row.oauth_provider, row.imap_host) == (
            "oauth2",
            "google",
            "imap.gmail.com",
        )
        assert (row.status, row.failures, row.error_notified) == ("new", 0, False)
        assert (row.uidvalidity, row.last_uid) == (None, None)  # another server: afresh
        assert row.alert_channel_id == "old-channel"  # None keeps it
        assert email_password(session, box, account_id) == ""
    # Signing in again to the same server keeps where alerting stood.
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account_id)
        assert row is not None
        row.uidvalidity, row.last_uid = 9, 12
    again = connect(database, box, address="Ann@Test.Local")
    assert (again.created, again.mailbox_changed) == (False, False)
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account_id)
        assert row is not None and (row.uidvalidity, row.last_uid) == (9, 12)
        assert len(session.scalars(select(EmailOAuthToken)).all()) == 1


def test_refreshed_tokens_replace_the_old_and_need_an_account_that_has_some(
    database: Database, box: SecretBox
) -> None:
    connected = connect(database, box)
    newer = OAuthCredentials(
        access_token="access-2",
        refresh_token=None,
        expires_at=None,
        client_id="clara",
        token_endpoint="https://id.example/token",
    )
    with database.unit_of_work() as session:
        save_email_oauth_credentials(session, box, connected.id, newer)
        assert load_email_oauth_credentials(session, box, connected.id) == newer
        with pytest.raises(LookupError, match="has no OAuth tokens to replace"):
            save_email_oauth_credentials(session, box, connected.id + 1, newer)
        assert load_email_oauth_credentials(session, box, connected.id + 1) is None


def test_key_rotation_re_encrypts_the_tokens(database: Database) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    connected = connect(database, SecretBox([old_key]))
    with database.unit_of_work() as session:
        before = session.scalars(select(EmailOAuthToken)).one().access_token_encrypted
        count = rotate_secrets(session, SecretBox([new_key, old_key]))
    assert count == 4  # the account's (empty) password, access, refresh, client secret
    with database.unit_of_work() as session:
        only_new = SecretBox([new_key])
        assert load_email_oauth_credentials(session, only_new, connected.id) == CREDENTIALS
        assert session.scalars(select(EmailOAuthToken)).one().access_token_encrypted != before
        stranger = SecretBox([Fernet.generate_key().decode()])
        with pytest.raises(SecretKeyError, match="email_oauth_tokens"):
            load_email_oauth_credentials(session, stranger, connected.id)
