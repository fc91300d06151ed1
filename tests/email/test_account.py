"""EmailAccountActor against a real dovecot on loopback: alerts once, through outages,
crashes, a renumbered mailbox and a wrong password; stopping is prompt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import trio

from clara.actors import ActorRef
from clara.actors.email import (
    AccountNotice,
    AccountOptions,
    Alert,
    ChatAlertSink,
    CheckNow,
    EmailAccountActor,
    NoticeKind,
)
from clara.adapters.email import ImapEndpoint, ImapSession, open_session
from clara.store import Database, SecretBox
from clara.store.models import EmailAlert
from clara.supervisors import Backoff
from clara.testing import ActorTestKit, FakeTransport
from tests.email.conftest import account_row, make_account
from tests.email.dovecot import Dovecot
from tests.email.mail import append, drop_into_maildir

USER = "ann@test.local"
FAST = AccountOptions(imap_timeout=5.0, idle_renew=30.0, failure_threshold=1000)


class RecordingSink(ChatAlertSink):
    """The real plain-text sink, counting every attempt (alerts and notices)."""

    def __init__(self, transport: FakeTransport) -> None:
        super().__init__(transport)
        self.attempts: list[Alert] = []
        self.notices: list[AccountNotice] = []

    async def deliver(self, alert: Alert) -> str | None:
        self.attempts.append(alert)
        return await super().deliver(alert)

    async def notify(self, notice: AccountNotice) -> str | None:
        self.notices.append(notice)
        return await super().notify(notice)


async def spawn(
    kit: ActorTestKit,
    account_id: int,
    database: Database,
    box: SecretBox,
    sink: Any,
    *,
    options: AccountOptions = FAST,
    connect: Callable[[ImapEndpoint], ImapSession] = open_session,
) -> ActorRef:
    limiter = trio.CapacityLimiter(4)
    return await kit.spawn(
        lambda: EmailAccountActor(
            account_id,
            database=database,
            secrets=box,
            sink=sink,
            limiter=limiter,
            options=options,
            connect=connect,
        ),
        name=f"account-{account_id}",
    )


async def wait_state(ref: ActorRef, *states: str, limit: float = 15.0) -> dict[str, Any]:
    """Wait (polling the actor's status) until it reports one of ``states``."""
    with trio.fail_after(limit):
        while True:
            try:
                described: dict[str, Any] = await ref.ask(CheckNow(), timeout=5.0)
            except Exception:  # restarting: ask again
                described = {}
            if described.get("state") in states:
                return described
            await trio.sleep(0.02)


async def wait_sent(transport: FakeTransport, count: int, limit: float = 20.0) -> None:
    with trio.fail_after(limit):
        await transport.wait_for(count)


def subjects_of(transport: FakeTransport) -> list[str]:
    """The subject line of every alert posted, in order."""
    return [
        line.removeprefix("Subject: ")
        for text in transport.texts()
        for line in text.splitlines()
        if line.startswith("Subject: ")
    ]


async def put(dovecot: Dovecot, subject: str) -> None:
    await trio.to_thread.run_sync(append, dovecot, USER, subject)


def alert_states(database: Database) -> list[str]:
    with database.unit_of_work() as session:
        return [row.state for row in session.query(EmailAlert).order_by(EmailAlert.id)]


async def wait_delivered(database: Database, count: int, limit: float = 10.0) -> None:
    """Wait until ``count`` alerts are recorded and every one is delivered."""
    with trio.fail_after(limit):
        while alert_states(database) != ["delivered"] * count:
            await trio.sleep(0.02)


@pytest.mark.trio
async def test_new_mail_is_alerted_once_within_a_moment_of_the_append(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    account_id = make_account(database, box, dovecot, USER)
    await put(dovecot, "there before Clara")  # not news: the first connect is the baseline
    transport = FakeTransport()
    async with ActorTestKit() as kit:
        ref = await spawn(kit, account_id, database, box, RecordingSink(transport))
        await wait_state(ref, "idle")
        started = time.monotonic()
        await put(dovecot, "Quarterly report")
        await wait_sent(transport, 1)
        latency = time.monotonic() - started
        await wait_delivered(database, 1)
        described = await ref.ask(CheckNow(), timeout=5.0)
    assert len(transport.sent) == 1
    sent = transport.sent[0]
    assert sent.channel_id == "alerts"
    assert "Subject: Quarterly report" in sent.text and "bob@example.com" in sent.text
    assert alert_states(database) == ["delivered"]
    assert described["last_mail_at"] is not None and described["failures"] == 0
    # dovecot itself notifies IDLE sessions after ~0.5 s; generous bound for a busy machine.
    assert latency < 10.0, latency


@pytest.mark.trio
async def test_twenty_server_kills_while_mail_arrives_alert_every_message_exactly_once(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    account_id = make_account(database, box, dovecot, USER)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    async with ActorTestKit(
        backoff=Backoff(min=0.05, max=0.2, jitter=0.0), max_restarts=1000
    ) as kit:
        ref = await spawn(kit, account_id, database, box, sink)
        await wait_state(ref, "idle")
        subjects = []
        for round_number in range(20):
            dovecot.kill()  # every connection cut at once
            subjects.append(f"while down {round_number}")
            drop_into_maildir(dovecot, USER, subjects[-1])
            dovecot.start()
            subjects.append(f"while up {round_number}")
            await put(dovecot, subjects[-1])
        await wait_sent(transport, len(subjects), limit=40.0)
        await wait_delivered(database, 40)
    assert sorted(subjects_of(transport)) == sorted(subjects)  # each exactly once
    assert alert_states(database) == ["delivered"] * 40
    assert len({alert.nonce for alert in sink.attempts}) == 40


class CrashingSink(RecordingSink):
    """Crashes the actor once, before or after the first post reached the chat."""

    def __init__(self, transport: FakeTransport, *, after_posting: bool) -> None:
        super().__init__(transport)
        self.after_posting = after_posting
        self.crashed = False

    async def deliver(self, alert: Alert) -> str | None:
        if not self.crashed and not self.after_posting:
            self.crashed = True
            self.attempts.append(alert)
            raise RuntimeError("crash between recording the alert and posting it")
        posted = await super().deliver(alert)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("crash between posting the alert and marking it delivered")
        return posted


@pytest.mark.parametrize("after_posting", [False, True], ids=["before-post", "after-post"])
@pytest.mark.trio
async def test_a_crash_between_record_and_delivered_gives_exactly_one_alert(
    dovecot: Dovecot, database: Database, box: SecretBox, after_posting: bool
) -> None:
    account_id = make_account(database, box, dovecot, USER)
    transport = FakeTransport()
    sink = CrashingSink(transport, after_posting=after_posting)
    async with ActorTestKit(
        backoff=Backoff(min=0.05, max=0.1, jitter=0.0), max_restarts=1000
    ) as kit:
        ref = await spawn(kit, account_id, database, box, sink)
        await wait_state(ref, "idle")
        await put(dovecot, "the one")
        await wait_sent(transport, 1)
        await wait_delivered(database, 1)  # the restarted incarnation resent it first
    assert sink.crashed
    assert [s.text.count("Subject: the one") for s in transport.sent] == [1]
    # The resend reused the nonce: the chat (like Discord with enforce_nonce) kept one.
    assert len(sink.attempts) == 2 and sink.attempts[0].nonce == sink.attempts[1].nonce


@pytest.mark.trio
async def test_a_new_uidvalidity_resyncs_without_a_storm_and_without_missing_new_mail(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    account_id = make_account(database, box, dovecot, USER)
    for number in range(5):
        await put(dovecot, f"old {number}")
    transport = FakeTransport()
    async with ActorTestKit() as kit:
        ref = await spawn(kit, account_id, database, box, RecordingSink(transport))
        await wait_state(ref, "idle")
        await put(dovecot, "seen before the change")
        await wait_sent(transport, 1)
        await ref.stop()
    before = account_row(database, account_id).uidvalidity
    dovecot.reset_uidvalidity(USER)  # every message renumbered from 1
    await put(dovecot, "after the change")
    async with ActorTestKit() as kit:
        ref = await spawn(kit, account_id, database, box, RecordingSink(transport))
        await wait_state(ref, "idle")
        await wait_sent(transport, 2)
        await put(dovecot, "later still")
        await wait_sent(transport, 3)
    row = account_row(database, account_id)
    assert row.uidvalidity != before
    assert subjects_of(transport) == ["seen before the change", "after the change", "later still"]


@pytest.mark.trio
async def test_a_wrong_password_puts_the_account_in_error_tells_the_owner_once_and_never_crashes(
    dovecot: Dovecot, database: Database, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dovecot.add_user(USER, "the-right-one")
    account_id = make_account(database, box, dovecot, USER, password="hunter2-wrong")
    attempts = 0

    def counting(endpoint: ImapEndpoint) -> ImapSession:
        nonlocal attempts
        attempts += 1
        return open_session(endpoint)

    transport = FakeTransport()
    sink = RecordingSink(transport)
    options = AccountOptions(imap_timeout=5.0, login_retry=0.05)
    async with ActorTestKit() as kit:
        ref = await spawn(kit, account_id, database, box, sink, options=options, connect=counting)
        with trio.fail_after(15):
            while attempts < 3:  # dovecot delays repeated failures (~4.5 s)
                await trio.sleep(0.02)
        described = await wait_state(ref, "error")
        restarts = ref.statistics().restarts
    assert restarts == 0
    assert [notice.kind for notice in sink.notices] == [NoticeKind.LOGIN_REFUSED]
    assert "refused" in transport.sent[0].text
    row = account_row(database, account_id)
    assert (row.status, row.error_notified) == ("error", True)
    assert "wrong user name or password" in described["error"]
    assert "hunter2-wrong" not in caplog.text and "hunter2-wrong" not in transport.sent[0].text


@pytest.mark.trio
async def test_failures_in_a_row_mark_the_account_in_error_once_then_it_recovers(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    account_id = make_account(database, box, dovecot, USER)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    options = AccountOptions(imap_timeout=2.0, failure_threshold=3, slow_retry=0.3)
    async with ActorTestKit(
        backoff=Backoff(min=0.02, max=0.05, jitter=0.0), max_restarts=1000
    ) as kit:
        ref = await spawn(kit, account_id, database, box, sink, options=options)
        await wait_state(ref, "idle")
        dovecot.kill()
        with trio.fail_after(15):
            while account_row(database, account_id).failures < 6:
                await trio.sleep(0.05)
        assert [notice.kind for notice in sink.notices] == [NoticeKind.FAILING]
        assert account_row(database, account_id).status == "error"
        dovecot.start()
        await wait_state(ref, "idle")
        await put(dovecot, "after the outage")
        await wait_sent(transport, 2)
    assert [notice.kind for notice in sink.notices] == [NoticeKind.FAILING, NoticeKind.RECOVERED]
    row = account_row(database, account_id)
    assert (row.status, row.failures, row.error_notified) == ("connected", 0, False)


@pytest.mark.trio
async def test_stopping_an_account_waiting_in_idle_is_prompt(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    account_id = make_account(database, box, dovecot, USER)
    async with ActorTestKit() as kit:
        ref = await spawn(kit, account_id, database, box, RecordingSink(FakeTransport()))
        await wait_state(ref, "idle")
        started = time.monotonic()
        await ref.stop()
        took = time.monotonic() - started
    assert took < 2.0, took  # no thread to wait for: the IDLE wait is a cancelled socket wait


class NoIdleSession(ImapSession):
    """The real session, as a server without IDLE would show it."""

    def select_inbox(self) -> Any:
        state = super().select_inbox()
        return type(state)(
            uidvalidity=state.uidvalidity,
            uidnext=state.uidnext,
            exists=state.exists,
            can_idle=False,
        )


@pytest.mark.trio
async def test_without_idle_the_account_polls_and_still_alerts(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    account_id = make_account(database, box, dovecot, USER)

    def no_idle(endpoint: ImapEndpoint) -> ImapSession:
        session = open_session(endpoint)
        return NoIdleSession(session.client, session.label)

    transport = FakeTransport()
    options = AccountOptions(imap_timeout=5.0, poll_seconds=0.1)
    async with ActorTestKit() as kit:
        ref = await spawn(
            kit,
            account_id,
            database,
            box,
            RecordingSink(transport),
            options=options,
            connect=no_idle,
        )
        await wait_state(ref, "polling")
        await put(dovecot, "polled")
        await wait_sent(transport, 1)
    assert "Subject: polled" in transport.sent[0].text
