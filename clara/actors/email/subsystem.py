"""The ``/clara/email`` subtree: one ``EmailAccountActor`` per enabled account.

``email_subsystem`` returns the subtree's ``ChildSpec`` and what the rest of Clara uses of it
(starting or stopping one account when it is connected or removed, the status details).
Children, in start order: ``accounts`` (a DynamicSupervisor keyed by account id) and
``starter`` (an actor that starts every enabled account, then idles; restarted after
``accounts``, which the subtree restarts rest-for-one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from ...adapters.email import ImapEndpoint, ImapSession, open_session
from ...config import Settings
from ...store import Database, SecretBox, enabled_email_accounts
from ...supervisors import Backoff, ChildSpec, DynamicSupervisor, Restart, Strategy, Supervisor
from .. import Actor, ActorState
from .account import AccountOptions, EmailAccountActor, ImportantMail
from .alerts import AlertSink
from .tokens import EmailTokens

__all__ = ["EmailSystem", "email_subsystem"]

logger = logging.getLogger(__name__)


@dataclass
class EmailSystem:
    """What the rest of Clara uses of the email subtree."""

    spec: ChildSpec
    """``email``: add it to the root's children."""
    supervisor: Supervisor
    accounts: DynamicSupervisor
    """``accounts``: one ``EmailAccountActor`` per account id."""
    limiter: trio.CapacityLimiter

    async def watch(self, account_id: int) -> None:
        """Start watching an account (just connected, or enabled again).

        While the subtree is not running (Clara still starting, or ``accounts`` being
        started again) there is nothing to do: the starter, which runs after ``accounts``,
        starts every enabled account in the store, this one included.
        """
        if self.accounts.state is not ActorState.RUNNING:
            return
        await self.accounts.get_or_start(account_id)

    async def forget(self, account_id: int) -> None:
        """Stop watching an account (disconnected or disabled)."""
        if self.accounts.state is not ActorState.RUNNING:
            return  # not watched; and the starter starts only enabled accounts
        if self.accounts.get(account_id) is not None:
            await self.accounts.terminate_child(account_id)

    def readiness_details(self) -> dict[str, Any]:
        """For the readiness *details* (never readiness itself: one person's broken mail
        account must not take Clara out of a load balancer): accounts watched and in error."""
        in_error = []
        watched: list[Any] = self.accounts.keys()
        for key in watched:
            details = self.accounts.statistics_of(key).details
            state = details.get("state") if isinstance(details, dict) else None
            if state in ("error", "retrying_slowly"):  # past the failure threshold
                in_error.append(key)
        return {"accounts": len(self.accounts), "in_error": sorted(in_error)}


class _Starter(Actor):
    """Starts the account actors of every enabled account, then stays, idle: it is restarted
    after ``accounts`` (rest for one), so a restarted ``accounts`` gets its accounts back."""

    def __init__(self, database: Database, accounts: DynamicSupervisor) -> None:
        self.database = database
        self.accounts = accounts

    async def on_start(self) -> None:
        self.context.start_task(self._start_all)

    async def _start_all(self) -> None:
        for account_id in await self.database.run(enabled_email_accounts):
            await self.accounts.get_or_start(account_id)
        logger.info("email: watching %d accounts", len(self.accounts))


def email_subsystem(
    settings: Settings,
    *,
    database: Database,
    secrets: SecretBox,
    sink: AlertSink,
    options: AccountOptions | None = None,
    threads: int | None = None,
    backoff: Backoff | None = None,
    connect: Callable[[ImapEndpoint], ImapSession] = open_session,
    max_accounts: int = 10_000,
    account_restarts: int | None = None,
    tokens: EmailTokens | None = None,
    important_mail: Callable[[ImportantMail], None] | None = None,
) -> EmailSystem:
    """The subtree (nothing runs until its supervisor starts).

    Args:
        settings: ``settings.email`` gives every account's timings and limits unless
            ``options`` is given, and the thread bound unless ``threads`` is.
        database, secrets: the store and the key that decrypts passwords.
        sink: where alerts and notices go.
        important_mail: told of each high or urgent alert (the proactive engine's
            ``ProactiveSystem.important_mail``); used when ``options`` is not given.
        options: every account's timings and limits.
        threads: the one bound on all accounts' worker threads (``CLARA_EMAIL_THREADS``).
        backoff: restart backoff of an account (default 1 s doubling to 60 s, ±20 %).
        max_accounts: the most accounts watched at once.
        account_restarts: restarts of accounts ``accounts`` allows within 60 s before it
            gives up (and the subtree starts it, and the starter, again); default sized for
            every account restarting at once, ``max(10_000, 4 * max_accounts)``.
        tokens: fresh access tokens of the accounts that sign in with OAuth (XOAUTH2);
            without it such an account is in error, its owner told.
    """
    email = settings.email
    if options is None:
        options = AccountOptions(
            imap_timeout=email.imap_timeout,
            poll_seconds=email.poll_seconds,
            idle_renew=email.idle_renew_seconds,
            failure_threshold=email.failure_threshold,
            slow_retry=email.slow_retry_seconds,
            login_retry=email.login_retry_seconds,
            max_alert_attempts=email.max_alert_attempts,
            important_mail=important_mail,
        )
    limiter = trio.CapacityLimiter(threads if threads is not None else email.threads)

    def account(account_id: int) -> Actor:
        return EmailAccountActor(
            account_id,
            database=database,
            secrets=secrets,
            sink=sink,
            limiter=limiter,
            options=options,
            connect=connect,
            tokens=tokens,
        )

    accounts = DynamicSupervisor(
        account,
        max_children=max_accounts,
        restart=Restart.TRANSIENT,
        mailbox_capacity=16,
        backoff=backoff or Backoff(min=1.0, max=60.0, jitter=0.2, reset_after=300.0),
        # One flapping account must never take the others down: the backoff slows it, and
        # the intensity is sized for every account restarting at once (a server restart).
        max_restarts=(
            account_restarts if account_restarts is not None else max(10_000, 4 * max_accounts)
        ),
        max_seconds=60.0,
        shutdown=5.0,
    )
    supervisor = Supervisor(
        [
            ChildSpec("accounts", accounts),
            ChildSpec("starter", lambda: _Starter(database, accounts)),
        ],
        # A restarted ``accounts`` comes back empty: the starter after it is restarted too
        # (rest for one), and starts every enabled account again.
        strategy=Strategy.REST_FOR_ONE,
        max_restarts=10,
        max_seconds=60.0,
    )
    return EmailSystem(
        spec=ChildSpec("email", supervisor, shutdown=30.0),
        supervisor=supervisor,
        accounts=accounts,
        limiter=limiter,
    )
