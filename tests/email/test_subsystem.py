"""``email_subsystem`` as run.py starts it, against a real dovecot on loopback: the accounts in
the store become actors, a flapping account never fails the subtree while the others keep
alerting, ``watch`` / ``forget``, and what ``readiness_details()`` says.

The subtree runs under an ``ActorTestKit`` (``start_supervisor``: were the subtree to give
up, that would be an ``Escalated`` event, asserted absent). Waits poll the accounts' own
status (``describe()`` through the supervisor's statistics) under a ``fail_after`` bound:
real sockets and worker threads cannot run on a virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from clara.actors import Escalated, Restarted
from clara.actors.email import (
    AccountNotice,
    AccountOptions,
    Alert,
    ChatAlertSink,
    EmailSystem,
    NoticeKind,
    email_subsystem,
)
from clara.adapters.email import ImapEndpoint, ImapSession, open_session
from clara.config import Settings
from clara.store import Database, SecretBox
from clara.store.models import EmailAccount
from clara.supervisors import Backoff
from clara.testing import ActorTestKit, FakeTransport
from tests.email.conftest import make_account
from tests.email.dovecot import Dovecot, free_port
from tests.email.mail import append

ANN = "ann@test.local"
BOB = "bob@test.local"
FAST = AccountOptions(imap_timeout=5.0, idle_renew=30.0, failure_threshold=1000)
#: Restarts a flapping account goes through while the test watches: far past the default
#: restart intensity of a supervisor (3 within 5 s), so a subtree sized like any other
#: would have given up.
FLAPS = 25


class RecordingSink(ChatAlertSink):
    """The real plain-text sink, keeping every alert and notice it was handed."""

    def __init__(self, transport: FakeTransport) -> None:
        super().__init__(transport)
        self.alerts: list[Alert] = []
        self.notices: list[AccountNotice] = []

    async def deliver(self, alert: Alert) -> str | None:
        self.alerts.append(alert)
        return await super().deliver(alert)

    async def notify(self, notice: AccountNotice) -> str | None:
        self.notices.append(notice)
        return await super().notify(notice)

    def subjects(self, account_id: int | None = None) -> list[str]:
        return [a.subject for a in self.alerts if account_id in (None, a.account_id)]


def subsystem(
    database: Database,
    box: SecretBox,
    sink: RecordingSink,
    *,
    options: AccountOptions = FAST,
    connect: Callable[[ImapEndpoint], ImapSession] = open_session,
) -> EmailSystem:
    return email_subsystem(
        Settings(),
        database=database,
        secrets=box,
        sink=sink,
        options=options,
        threads=4,
        backoff=Backoff(min=0.02, max=0.05, jitter=0.0),
        connect=connect,
    )


async def start(kit: ActorTestKit, email: EmailSystem) -> None:
    await kit.start_supervisor(email.supervisor, name="email", shutdown=30.0)


def state_of(email: EmailSystem, account_id: int) -> str | None:
    if email.accounts.get(account_id) is None:
        return None
    details = email.accounts.statistics_of(account_id).details
    return details.get("state") if isinstance(details, dict) else None


async def wait_until(condition: Callable[[], bool], limit: float = 20.0) -> None:
    with trio.fail_after(limit):
        while not condition():
            await trio.sleep(0.02)


async def wait_states(email: EmailSystem, wanted: dict[int, str], limit: float = 20.0) -> None:
    await wait_until(
        lambda: all(state_of(email, key) == state for key, state in wanted.items()), limit
    )


async def put(dovecot: Dovecot, user: str, subject: str) -> None:
    await trio.to_thread.run_sync(append, dovecot, user, subject)


def disable(database: Database, account_id: int) -> None:
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account_id)
        assert row is not None
        row.enabled = False


def point_at_dead_port(database: Database, account_id: int) -> int:
    """Aim the account at a loopback port nothing listens on: every connect is refused."""
    port = free_port()
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account_id)
        assert row is not None
        row.imap_port = port
    return port


@pytest.mark.trio
async def test_at_start_every_enabled_account_in_the_store_becomes_an_actor_and_alerts(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    ann = make_account(database, box, dovecot, ANN)
    bob = make_account(database, box, dovecot, BOB)
    off = make_account(database, box, dovecot, "off@test.local")
    disable(database, off)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    email = subsystem(database, box, sink)
    async with ActorTestKit() as kit:
        await start(kit, email)
        await wait_states(email, {ann: "idle", bob: "idle"})
        assert sorted(email.accounts.keys()) == [ann, bob]  # the disabled one is not watched
        assert email.readiness_details() == {"accounts": 2, "in_error": []}
        await put(dovecot, ANN, "for ann")
        await put(dovecot, BOB, "for bob")
        with trio.fail_after(20):
            await transport.wait_for(2)
    assert (sink.subjects(ann), sink.subjects(bob)) == (["for ann"], ["for bob"])
    assert {sent.channel_id for sent in transport.sent} == {"alerts"}
    assert not kit.event_log.events(kind=Escalated)


@pytest.mark.trio
async def test_a_flapping_account_never_fails_the_subtree_while_another_keeps_alerting(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    ann = make_account(database, box, dovecot, ANN)
    dead = make_account(database, box, dovecot, BOB)
    point_at_dead_port(database, dead)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    email = subsystem(database, box, sink)
    async with ActorTestKit() as kit:
        await start(kit, email)
        await wait_states(email, {ann: "idle"})
        subjects = []
        while email.accounts.statistics_of(dead).restarts < FLAPS:
            subjects.append(f"while bob flaps {len(subjects)}")
            await put(dovecot, ANN, subjects[-1])
            with trio.fail_after(20):
                await transport.wait_for(len(subjects))
        details = email.readiness_details()
        restarts = email.accounts.statistics_of(dead).restarts
        assert state_of(email, ann) == "idle"
        assert email.accounts.statistics_of(ann).restarts == 0
    assert restarts >= FLAPS
    assert sink.subjects(ann) == subjects  # every one, once, in order
    assert sink.subjects(dead) == []
    # Failing, but not yet past its failure threshold: not counted as in error.
    assert details == {"accounts": 2, "in_error": []}
    assert not kit.event_log.events(kind=Escalated)


@pytest.mark.trio
async def test_a_password_changed_on_the_server_puts_that_account_in_error_and_not_in_a_loop(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    ann = make_account(database, box, dovecot, ANN)
    bob = make_account(database, box, dovecot, BOB)
    logins: dict[str, int] = {}

    def counting(endpoint: ImapEndpoint) -> ImapSession:
        logins[endpoint.username] = logins.get(endpoint.username, 0) + 1
        return open_session(endpoint)

    transport = FakeTransport()
    sink = RecordingSink(transport)
    options = AccountOptions(imap_timeout=5.0, idle_renew=30.0, login_retry=0.05)
    email = subsystem(database, box, sink, options=options, connect=counting)
    async with ActorTestKit() as kit:
        await start(kit, email)
        await wait_states(email, {ann: "idle", bob: "idle"})
        dovecot.add_user(BOB, "changed-by-bob")  # the account row still holds "secret"
        await trio.to_thread.run_sync(dovecot.kill)  # every session cut: all log in again
        await trio.to_thread.run_sync(dovecot.start)
        await wait_states(email, {ann: "idle", bob: "error"})
        in_error_at = email.accounts.statistics_of(bob).restarts
        refused_logins = logins[BOB]
        await wait_until(lambda: logins[BOB] > refused_logins)  # tried again, in the same life
        await put(dovecot, ANN, "ann still watched")
        with trio.fail_after(20):
            await transport.wait_for(2)  # bob's notice and ann's alert
        details = email.readiness_details()
        assert email.accounts.statistics_of(bob).restarts == in_error_at  # no crash loop
    assert [(n.account_id, n.kind) for n in sink.notices] == [(bob, NoticeKind.LOGIN_REFUSED)]
    assert sink.subjects() == ["ann still watched"]
    assert details == {"accounts": 2, "in_error": [bob]}
    assert not kit.event_log.events(kind=Escalated)


@pytest.mark.trio
async def test_watch_starts_an_account_forget_stops_it_and_watching_again_catches_up(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    transport = FakeTransport()
    sink = RecordingSink(transport)
    email = subsystem(database, box, sink)
    async with ActorTestKit() as kit:
        await start(kit, email)  # an empty store: nothing to start
        assert email.readiness_details() == {"accounts": 0, "in_error": []}

        ann = make_account(database, box, dovecot, ANN)  # connected after start-up
        await email.watch(ann)
        await email.watch(ann)  # twice: still one actor
        await wait_states(email, {ann: "idle"})
        assert email.readiness_details() == {"accounts": 1, "in_error": []}
        await put(dovecot, ANN, "while watched")
        with trio.fail_after(20):
            await transport.wait_for(1)

        await email.forget(ann)
        assert email.accounts.get(ann) is None
        assert email.readiness_details() == {"accounts": 0, "in_error": []}
        await email.forget(ann)  # forgetting what is not watched is no error
        await put(dovecot, ANN, "while forgotten")

        await email.watch(ann)  # from where the store says it stopped
        with trio.fail_after(20):
            await transport.wait_for(2)
        await wait_states(email, {ann: "idle"})
    assert sink.subjects() == ["while watched", "while forgotten"]
    assert not kit.event_log.events(kind=Escalated)


@pytest.mark.trio
async def test_when_accounts_gives_up_the_subtree_starts_it_and_the_starter_again(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    # ``accounts`` allows two restarts a minute here, so one account failing fast makes it
    # give up: the subtree (rest for one) starts it again, empty, and the starter after it,
    # which starts every enabled account again.
    ann = make_account(database, box, dovecot, ANN)
    dead = make_account(database, box, dovecot, BOB)
    point_at_dead_port(database, dead)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    email = email_subsystem(
        Settings(),
        database=database,
        secrets=box,
        sink=sink,
        options=FAST,
        threads=4,
        backoff=Backoff(min=0.02, max=0.05, jitter=0.0),
        account_restarts=2,
    )
    async with ActorTestKit() as kit:
        await start(kit, email)
        await wait_until(lambda: bool(kit.event_log.events(kind=Escalated)))
        (gave_up,) = kit.event_log.events(kind=Escalated)
        assert gave_up.path.endswith("/email/accounts")
        with database.unit_of_work() as session:  # bob's server is back
            row = session.get(EmailAccount, dead)
            assert row is not None
            row.imap_port = dovecot.port
        await wait_states(email, {ann: "idle", dead: "idle"})
        restarted = {e.path.rsplit("/", 1)[-1] for e in kit.event_log.events(kind=Restarted)}
        await put(dovecot, ANN, "after the subtree came back")
        with trio.fail_after(20):
            await transport.wait_for(1)
        escalations = [e.path for e in kit.event_log.events(kind=Escalated)]
    assert {"accounts", "starter"} <= restarted
    assert sink.subjects(ann) == ["after the subtree came back"]
    assert escalations == [gave_up.path]  # the email subtree itself never gave up
