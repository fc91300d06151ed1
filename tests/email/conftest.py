"""Fixtures of the email suite: a real dovecot per test, a real store, a recording chat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from clara.store import Database, SecretBox, add_email_account, ensure_user
from clara.store.models import EmailAccount
from clara.testing import throwaway_database
from tests.email.dovecot import Dovecot, dovecot_binary
from tests.helpers import require


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    require(dovecot_binary(), "dovecot (dovecot-imapd)")
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    # Worker threads as in production: the actor's writes and the IMAP threads interleave.
    with throwaway_database(tmp_path, threads=True) as db:
        yield db


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([Fernet.generate_key().decode()])


def make_account(
    database: Database,
    box: SecretBox,
    dovecot: Dovecot,
    user: str,
    *,
    password: str = "secret",
    channel: str = "alerts",
) -> int:
    """An account row for ``user`` on ``dovecot`` (the user is added there with the right
    password; ``password`` is what the account row holds)."""
    if user not in dovecot.users:
        dovecot.add_user(user)
    with database.unit_of_work() as session:
        owner = ensure_user(session, "discord", f"owner-{user}", "Owner")
        session.flush()
        account = add_email_account(
            session,
            box,
            user_id=owner.id,
            address=user,
            imap_host="127.0.0.1",
            imap_port=dovecot.port,
            username=user,
            password=password,
            use_tls=False,
        )
        account.alert_channel_id = channel
        session.flush()
        account_id: int = account.id
    return account_id


def account_row(database: Database, account_id: int) -> EmailAccount:
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account_id)
        assert row is not None
        session.expunge(row)
        return row
