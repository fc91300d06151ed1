"""``/email`` driving the real email subtree against a real dovecot: the hooks wired as run.py
wires them (connect starts the account, a change restarts it, disconnect stops it), so a
connected account is watched at once and its status says so, a new rule and a new alert
channel apply to the next mail, and a disconnected account is no longer watched.

Waits poll the subtree and the fake chat under a ``fail_after`` bound: real sockets and
worker threads cannot run on a virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from clara.actors import Escalated
from clara.actors.email import (
    AccountOptions,
    EmailAdmin,
    EmailSystem,
    EmbedAlertSink,
    account_statistics,
    email_subsystem,
)
from clara.config import Settings
from clara.store import Database, SecretBox
from clara.supervisors import Backoff
from clara.testing import ActorTestKit, FakeTransport
from tests.email.dovecot import Dovecot
from tests.email.mail import append
from tests.email.test_commands import ANN, PASSWORD, connect_options, run

FAST = AccountOptions(imap_timeout=5.0, idle_renew=30.0)


def state_of(email: EmailSystem, account_id: int) -> str | None:
    if email.accounts.get(account_id) is None:
        return None
    details = email.accounts.statistics_of(account_id).details
    return details.get("state") if isinstance(details, dict) else None


async def wait_until(condition: Callable[[], bool], limit: float = 20.0) -> None:
    with trio.fail_after(limit):
        while not condition():
            await trio.sleep(0.02)


def wired(email: EmailSystem, database: Database, box: SecretBox) -> EmailAdmin:
    """EmailAdmin with its hooks as run.py gives them."""

    async def restart(account_id: int) -> None:
        await email.forget(account_id)
        await email.watch(account_id)

    return EmailAdmin(
        database,
        box,
        limiter=email.limiter,
        imap_timeout=FAST.imap_timeout,
        on_connected=restart,
        on_changed=restart,
        on_disconnected=email.forget,
        statistics=account_statistics(email.accounts),
        private_hosts=True,
    )


@pytest.mark.trio
async def test_connected_accounts_are_watched_and_changes_apply_to_the_next_mail(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    dovecot.add_user(ANN, PASSWORD)
    transport = FakeTransport()
    email = email_subsystem(
        Settings(),
        database=database,
        secrets=box,
        sink=EmbedAlertSink(transport),
        options=FAST,
        threads=4,
        backoff=Backoff(min=0.02, max=0.05, jitter=0.0),
    )
    admin = wired(email, database, box)
    async with ActorTestKit() as kit:
        await kit.start_supervisor(email.supervisor, name="email", shutdown=30.0)

        connected = await run(admin, "connect", **connect_options(dovecot))
        assert connected.startswith(f"Connected {ANN}")
        [account_id] = email.accounts.keys()
        await wait_until(lambda: state_of(email, account_id) == "idle")
        status = await run(admin, "status")
        assert "- state: idle (waiting for mail with IMAP IDLE)" in status

        await trio.to_thread.run_sync(append, dovecot, ANN, "no rules yet")
        await wait_until(lambda: len(transport.embeds) == 1)
        assert transport.embeds[0].channel_id == "dm-42"  # a DM by default

        await run(
            admin,
            "rules",
            action="add",
            kind="subject_contains",
            value="invoice",
            importance="urgent",
        )
        await run(admin, "channel", to="here", ping="on", channel_id="900", guild_id="5")
        await wait_until(lambda: state_of(email, account_id) == "idle")
        await trio.to_thread.run_sync(append, dovecot, ANN, "just chatting")
        await trio.to_thread.run_sync(append, dovecot, ANN, "Your invoice")
        await wait_until(lambda: len(transport.embeds) == 2)
        alert = transport.embeds[1]
        assert (alert.channel_id, alert.content) == ("900", "<@42>")
        assert alert.embed.title is not None and "Your invoice" in alert.embed.title

        gone = await run(admin, "disconnect", confirm=True)
        assert gone == f"Disconnected {ANN}: Clara no longer watches it."
        assert email.accounts.get(account_id) is None
        assert await run(admin, "status") == (
            "You have no mail accounts connected. Connect one with /email connect."
        )
    assert len(transport.embeds) == 2  # "just chatting" matched no rule
    assert not kit.event_log.events(kind=Escalated)
