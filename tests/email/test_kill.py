"""Clara killed between recording an alert and hearing that it was posted (issue 15, item 1):
the alert is posted once, never twice, never lost.

Real processes: ``python run.py`` against the fake Discord and a real dovecot on loopback,
with an account in a SQLite store the test made. The fake Discord makes the alert's post as
Discord would but never answers it (``stall_posts``), so the process is SIGKILLed with the
alert recorded ``pending`` and the embed already in the channel. The next process resends
it with the same nonce; the fake Discord, which keeps nonces as Discord's ``enforce_nonce``
does, keeps it back: people see it once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from cryptography.fernet import Fernet

from clara.store import Database, SecretBox
from clara.store.models import EmailAlert
from clara.testing import throwaway_database
from tests.email.conftest import account_row, make_account
from tests.email.dovecot import Dovecot
from tests.email.mail import append
from tests.test_deploys import CHANNEL, eventually, world

pytestmark = pytest.mark.trio


def alert_states(database: Database) -> list[str]:
    with database.unit_of_work() as session:
        return [row.state for row in session.query(EmailAlert).order_by(EmailAlert.id)]


def alert_titles(posted: list[object]) -> list[str]:
    return [str(embed.get("title", "")) for p in posted for embed in getattr(p, "embeds", [])]


async def test_an_alert_recorded_but_not_known_sent_at_a_kill_is_posted_once(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    key = Fernet.generate_key().decode()
    box = SecretBox([key])
    with throwaway_database(tmp_path / "store") as database:
        account_id = make_account(database, box, dovecot, "kim", channel=CHANNEL)
        env = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'store' / 'clara.db'}",
            "CLARA_ENCRYPTION_KEYS": key,
        }
        async with world(tmp_path, env) as w:
            w.discord.stall_posts(after=0)  # the alert is made; Clara never hears so
            async with w.clara() as clara:
                await eventually(
                    lambda: account_row(database, account_id).synced_at is not None,
                    "the account to be watched",
                )
                await trio.to_thread.run_sync(append, dovecot, "kim", "Contract signed")
                await eventually(lambda: len(w.discord.posted) == 1, "the alert to be posted")
                assert alert_states(database) == ["pending"]  # recorded, not known sent
                clara.kill()
                await clara.process.wait()
            w.discord.stall_posts(None)

            async with w.clara() as clara:
                await eventually(lambda: alert_states(database) == ["delivered"], "the resend")
                # One more mail, so anything doubled would have arrived before it.
                await trio.to_thread.run_sync(append, dovecot, "kim", "Invoice paid")
                await eventually(lambda: len(w.discord.posted) == 2, "the second alert")
                assert await clara.terminate() == 0

            titles = alert_titles(w.discord.posted)
            assert len(titles) == 2 and "Contract signed" in titles[0]
            assert "Invoice paid" in titles[1]
            # The first alert went out again after the kill, with its nonce, and was kept
            # back by Discord's nonce check: nobody saw it twice.
            assert ["Contract signed" in t for t in alert_titles(w.discord.repeats)] == [True]
            assert alert_states(database) == ["delivered", "delivered"]
