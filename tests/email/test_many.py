"""500 accounts on one dovecot (issue 15, tests): every one idles, the worker threads stay
within the one limiter all accounts share, memory per account stays small, and mail to any of
them is alerted.

Thread and memory figures are counts, not timings: the bound on threads is exact (the
limiter's size plus the few threads the process had before), the one on memory generous
(``python -m bench.email`` measures ~30-45 KB an account; the bound is 250 KB). Waits are
on conditions, under a real-time limit: 500 real sessions cannot run on a virtual clock.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from clara.actors import Escalated
from clara.actors.email import email_subsystem
from clara.config import Settings
from clara.store import Database, SecretBox, add_email_account, ensure_user
from clara.testing import ActorTestKit, FakeTransport
from tests.email.dovecot import Dovecot, dovecot_binary
from tests.email.mail import append
from tests.email.test_subsystem import FAST, RecordingSink, state_of, wait_until
from tests.helpers import require

ACCOUNTS = 500
THREADS = 8
#: Threads the process may have beyond those before and the limiter's: the store's writer and
#: trio's own helper threads.
SLACK = 6
MEMORY_PER_ACCOUNT = 250_000


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def threads() -> int:
    return _status("Threads")


def rss_bytes() -> int:
    return _status("VmRSS") * 1024


@pytest.fixture
def crowded_dovecot() -> Iterator[Dovecot]:
    require(dovecot_binary(), "dovecot (dovecot-imapd)")
    server = Dovecot()
    for index in range(ACCOUNTS):
        server.add_user(f"u{index:03d}@many.local")
    server.start()
    try:
        yield server
    finally:
        server.close()


def make_accounts(database: Database, box: SecretBox, dovecot: Dovecot) -> dict[str, int]:
    ids = {}
    with database.unit_of_work() as session:
        for user, password in dovecot.users.items():
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
            account.alert_channel_id = "alerts"
            session.flush()
            ids[user] = account.id
    return ids


@pytest.mark.trio
async def test_five_hundred_accounts_idle_within_the_thread_bound_and_alert(
    crowded_dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    ids = make_accounts(database, box, crowded_dovecot)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    email = email_subsystem(
        Settings(), database=database, secrets=box, sink=sink, options=FAST, threads=THREADS
    )
    gc.collect()
    threads_before, rss_before = threads(), rss_bytes()
    most_threads = threads_before

    def all_idle() -> bool:
        nonlocal most_threads
        most_threads = max(most_threads, threads())
        return len(email.accounts) == ACCOUNTS and all(
            state_of(email, key) == "idle" for key in ids.values()
        )

    async with ActorTestKit() as kit:
        await kit.start_supervisor(email.supervisor, name="email", shutdown=30.0)
        await wait_until(all_idle, limit=180.0)
        gc.collect()
        idle_threads, idle_rss = threads(), rss_bytes()
        chosen = random.Random(15).sample(sorted(ids), 5)
        for user in chosen:
            await trio.to_thread.run_sync(append, crowded_dovecot, user, f"for {user}")
        with trio.fail_after(60):
            await transport.wait_for(len(chosen))
        restarts = sum(email.accounts.statistics_of(key).restarts for key in ids.values())
    # Connecting 500 accounts at once never took more threads than the limiter holds, and
    # 500 idling accounts hold no more either: an IDLE waits on its socket, not in a thread
    # (the threads still there are trio's cache of idle workers, reused, ended after 10 s).
    assert most_threads <= threads_before + THREADS + SLACK
    assert idle_threads <= threads_before + THREADS + SLACK
    assert (idle_rss - rss_before) / ACCOUNTS < MEMORY_PER_ACCOUNT
    assert sorted(sink.subjects()) == sorted(f"for {user}" for user in chosen)
    assert restarts == 0
    assert not kit.event_log.events(kind=Escalated)
