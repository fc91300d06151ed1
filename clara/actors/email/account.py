"""EmailAccountActor: one IMAP account, watched over one connection, alerts kept as promises.

One incarnation is one connection. It loads the account, resends the alerts still pending,
connects, compares UIDVALIDITY/UIDNEXT with what the store holds (catching mail that came
while it was away, or resyncing a renumbered mailbox), then waits in IDLE (or polls) and
fetches new mail on the same connection after each EXISTS. A lost connection or a timeout
is an exception: the actor crashes and its supervisor reconnects with backoff. After
``failure_threshold`` failures in a row the account is marked in error, its owner told once,
and each new incarnation waits ``slow_retry`` before trying. A refused login is not a crash:
the account is marked in error at once, the owner told once, and the login retried every
``login_retry`` seconds in the same incarnation.

An account that signs in with OAuth (``auth_method`` ``oauth2``) logs in with XOAUTH2 and a
fresh access token from ``EmailTokens`` at every connect (an IDLE session outlives the
token: the server keeps an authenticated session; the next connect gets a new one). A
refused token is refreshed once (forced) and tried again. A grant that is gone (the refresh
token refused with ``invalid_grant``, or none left) is like a refused password: the account
is in error, its owner told once to connect it again, and the actor waits, never a crash
loop; a provider that cannot be reached is a failure like an unreachable IMAP server.

Quiet hours (``quiet.py``): while the owner's window lasts, an alert that is not urgent is
recorded ``held`` instead of posted, and a timer (``send_after``) wakes the actor when the
window ends, to post every held alert as one digest. At start, held alerts whose window is
over are digested at once.

Threads: every blocking imapclient call runs through ``run_blocking`` behind the limiter
all accounts share (``blocking_limiter``), abandoned on cancel (``on_stop`` closes the
socket so the thread ends). Waiting in IDLE takes no thread: the task waits for the socket
to be readable, which a stop cancels at once.

See docs/email.md for the UIDVALIDITY policy and the life of an alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

import msgspec
import trio

from ...adapters.email import (
    FetchedMail,
    ImapEndpoint,
    ImapLoginRefused,
    ImapProtocolError,
    ImapSession,
    ImapUnavailable,
    MailboxState,
    open_session,
)
from ...adapters.mcp import OAuthError
from ...adapters.mcp._oauth import AuthorizationLost
from ...errors import PlatformError
from ...store import (
    Database,
    EmailAlertDraft,
    SecretBox,
    StoredEmailAccount,
    StoredEmailAlert,
    email_password,
    finish_email_alert,
    finish_email_digest,
    held_email_alerts,
    hold_email_alert,
    known_message_keys,
    load_email_account,
    load_email_rules,
    mark_email_account_error,
    note_email_alert_failure,
    note_email_failure,
    note_email_synced,
    pending_email_alerts,
    record_email_alerts,
    set_email_error_notified,
    start_email_digest,
    user_time_zone,
)
from ...store.models import utcnow
from .. import Actor
from .alerts import AccountNotice, Alert, AlertSink, Digest, NoticeKind, digest_key
from .quiet import QuietHours, breaks_through
from .rules import Rule, RuleError, evaluate, rule_from_record
from .tokens import EmailTokens

__all__ = ["AccountOptions", "CheckNow", "EmailAccountActor", "message_key"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class ImportantMail(msgspec.Struct, frozen=True, kw_only=True):
    """A high or urgent alert, for its owner's proactive state (sender and subject only)."""

    platform: str
    user_id: str
    sender: str
    subject: str
    importance: str
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AccountOptions:
    """How an account actor behaves; every field has the default run.py uses unless set.

    Attributes:
        imap_timeout: seconds to connect and for each command's answer (30).
        poll_seconds: between checks of a server without IDLE (300).
        idle_renew: seconds one IDLE lasts before it is renewed (600: well inside the 29
            minutes RFC 2177 allows and the 30 servers enforce, and short enough that a
            silently dead connection is noticed).
        failure_threshold: failures in a row before the account is in error and its owner
            told (5).
        slow_retry: seconds an account in error waits before each new attempt (900).
        login_retry: seconds between logins after the password was refused (3600).
        max_alert_attempts: attempts at posting one alert before it is ``failed`` (5).
    """

    imap_timeout: float = 30.0
    poll_seconds: float = 300.0
    idle_renew: float = 600.0
    failure_threshold: int = 5
    slow_retry: float = 900.0
    login_retry: float = 3600.0
    max_alert_attempts: int = 5
    important_mail: Callable[[ImportantMail], None] | None = None
    """Told of each high or urgent alert once it is recorded (the proactive engine's hand-off:
    synchronous, never blocks; whatever it raises is logged and ignored)."""

    def __post_init__(self) -> None:
        for name in ("imap_timeout", "poll_seconds", "idle_renew", "slow_retry", "login_retry"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"AccountOptions.{name} must be a positive number; got {value!r}")
        for name in ("failure_threshold", "max_alert_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AccountOptions.{name} must be an int >= 1; got {value!r}")


class CheckNow(msgspec.Struct, frozen=True):
    """Ask for the actor's status now (the reply is ``describe()``)."""


class QuietHoursOver(msgspec.Struct, frozen=True):
    """The owner's quiet hours have ended: post the held alerts (the actor's own timer)."""


def _aware(moment: dt.datetime) -> dt.datetime:
    """A datetime in UTC (the store's SQLite gives them back without their zone)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def message_key(mail: FetchedMail) -> str:
    """What recognises one message across a UIDVALIDITY change: its Message-ID, else a
    digest of sender, subject and Date."""
    if mail.message_id:
        return mail.message_id[:200]
    date = mail.date.isoformat() if mail.date else ""
    digest = hashlib.blake2b(
        f"{mail.sender_address}\n{mail.subject}\n{date}".encode(), digest_size=16
    )
    return "digest:" + digest.hexdigest()


class EmailAccountActor(Actor):
    """Watches one account (its id in ``email_accounts``).

    Args:
        account_id: the account.
        database: the store.
        secrets: decrypts the password, only when connecting.
        sink: where alerts and notices go.
        limiter: the one limiter every account's threads share.
        options: timings and limits (``AccountOptions``).
        connect: opens a session (``open_session``; a test may wrap it).
        now: the current moment in UTC, for quiet hours (a test passes a virtual one).
        tokens: access tokens of accounts that sign in with OAuth (without it such an
            account cannot log in, and is in error saying so).
    """

    def __init__(
        self,
        account_id: int,
        *,
        database: Database,
        secrets: SecretBox,
        sink: AlertSink,
        limiter: trio.CapacityLimiter,
        options: AccountOptions | None = None,
        connect: Callable[[ImapEndpoint], ImapSession] = open_session,
        now: Callable[[], dt.datetime] = utcnow,
        tokens: EmailTokens | None = None,
    ) -> None:
        if isinstance(account_id, bool) or not isinstance(account_id, int):
            raise TypeError(f"account_id must be an int; got {type(account_id).__name__}")
        if not isinstance(limiter, trio.CapacityLimiter):
            raise TypeError(f"limiter must be a trio.CapacityLimiter; got {limiter!r}")
        self.account_id = account_id
        self.database = database
        self.secrets = secrets
        self.sink = sink
        self.blocking_limiter = limiter
        self.options = options or AccountOptions()
        self.connect = connect
        self.tokens = tokens
        self.account: StoredEmailAccount | None = None
        self.rules: list[Rule] = []
        self.session: ImapSession | None = None
        self.state = "starting"
        self.uidvalidity: int | None = None
        self.last_uid: int | None = None
        self.newest_seen: dt.datetime | None = None
        self.newest_keys: set[str] = set()
        self.last_mail_at: dt.datetime | None = None
        self.failures = 0
        self.error: str | None = None
        self.undelivered: list[StoredEmailAlert] = []
        self.alerts_sent = 0
        self.now = now
        self.quiet: QuietHours | None = None
        self.digest_due = False
        self.digest_lock = trio.Lock()

    # -- life ---------------------------------------------------------------------------------

    async def on_start(self) -> None:
        self.context.start_task(self._watch, name=f"email account {self.account_id}")

    async def on_stop(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.close()  # an abandoned thread blocked on it wakes and ends

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, CheckNow):
            return self.describe()
        if isinstance(message, QuietHoursOver):
            self.digest_due = False
            await self._release_held()
            return None
        raise TypeError(f"EmailAccountActor cannot handle {type(message).__name__}")

    def describe(self) -> dict[str, Any]:
        account = self.account
        return {
            "account": account.address if account else self.account_id,
            "state": self.state,
            "failures": self.failures,
            "last_mail_at": self.last_mail_at.isoformat() if self.last_mail_at else None,
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "error": self.error,
            "undelivered_alerts": len(self.undelivered),
        }

    # -- the watch ----------------------------------------------------------------------------

    async def _blocking(self, function: Callable[[*Ts], T], *args: *Ts) -> T:
        return await self.context.run_blocking(function, *args, abandon_on_cancel=True)

    async def _watch(self) -> None:
        account = await self.database.run(load_email_account, self.account_id)
        if account is None or not account.enabled:
            self.state = "disabled"
            logger.info("email account %s is gone or disabled: not watched", self.account_id)
            return
        self._take(account)
        self.rules = self._load_rules(await self.database.run(load_email_rules, self.account_id))
        self.quiet = await self._load_quiet(account)
        await self._release_held()
        await self._resend_pending()
        if account.failures >= self.options.failure_threshold:
            self.state = "retrying_slowly"
            await trio.sleep(self.options.slow_retry)
        while True:
            self.state = "connecting"
            try:
                session = await self._open()
            except ImapLoginRefused as error:
                await self._login_refused(error)
                self.state = "error"
                await trio.sleep(self.options.login_retry)
                continue
            except AuthorizationLost as error:
                await self._authorization_lost(error)
                self.state = "error"
                await trio.sleep(self.options.login_retry)
                continue
            except (ImapUnavailable, ImapProtocolError, OAuthError) as error:
                await self._failed(error)
                raise
            try:
                await self._serve(session)
            except (ImapUnavailable, ImapProtocolError) as error:
                await self._failed(error)
                raise

    def _take(self, account: StoredEmailAccount) -> None:
        self.account = account
        self.uidvalidity = account.uidvalidity
        self.last_uid = account.last_uid
        seen = account.newest_seen_at
        self.newest_seen = None if seen is None else _aware(seen)
        self.newest_keys = set(account.newest_seen_keys)
        self.last_mail_at = account.last_mail_at
        self.failures = account.failures
        self.error = account.last_error

    def _load_rules(self, records: Sequence[Any]) -> list[Rule]:
        rules = []
        for record in records:
            try:
                rules.append(rule_from_record(record))
            except RuleError as error:
                logger.warning("email account %s: rule skipped: %s", self.account_id, error)
        return rules

    async def _open(self) -> ImapSession:
        account = self.account
        assert account is not None
        if account.auth_method == "oauth2":
            return await self._open_with_token(account)
        password = await self.database.run(email_password, self.secrets, self.account_id)
        endpoint = ImapEndpoint(
            host=account.imap_host,
            port=account.imap_port,
            username=account.username,
            password=password,
            use_tls=account.use_tls,
            timeout=self.options.imap_timeout,
        )
        session = await self._blocking(self.connect, endpoint)
        self.session = session
        return session

    async def _open_with_token(self, account: StoredEmailAccount) -> ImapSession:
        """Log in with XOAUTH2 and a fresh access token; a refused token is refreshed once
        (the provider may have revoked it before its time) and tried again."""
        tokens = self.tokens
        if tokens is None:
            raise AuthorizationLost(
                "this Clara has no OAuth tokens service to sign the account in with",
                "no_tokens",
            )

        async def login(force: bool) -> ImapSession:
            assert tokens is not None
            token = await tokens.access_token(self.account_id, force=force)
            endpoint = ImapEndpoint(
                host=account.imap_host,
                port=account.imap_port,
                username=account.username,
                access_token=token,
                use_tls=account.use_tls,
                timeout=self.options.imap_timeout,
            )
            return await self._blocking(self.connect, endpoint)

        try:
            session = await login(False)
        except ImapLoginRefused:
            logger.info(
                "email account %s: the access token was refused; refreshing it once",
                self.account_id,
            )
            session = await login(True)
        self.session = session
        return session

    async def _serve(self, session: ImapSession) -> None:
        mailbox = await self._blocking(session.select_inbox)
        was_notified = self.account is not None and self.account.error_notified
        await self._catch_up(session, mailbox)
        await self.database.write(
            note_email_synced,
            self.account_id,
            mailbox.uidvalidity,
            self._last(),
            utcnow(),
            newest_seen=self.newest_seen,
            newest_seen_keys=sorted(self.newest_keys),
        )
        self.failures, self.error = 0, None
        if was_notified:
            await self._notify(NoticeKind.RECOVERED, "", episode=f"recovered:{utcnow():%s}")
        logger.info(
            "email account %s connected (%s)",
            self.account_id,
            "IDLE" if mailbox.can_idle else "polling",
        )
        if mailbox.can_idle:
            await self._idle(session)
        else:
            await self._poll(session)

    def _last(self) -> int:
        return self.last_uid or 0

    # -- catching up --------------------------------------------------------------------------

    async def _catch_up(self, session: ImapSession, mailbox: MailboxState) -> None:
        """Bring the store level with the mailbox as found at (re)connect."""
        account = self.account
        assert account is not None
        if self.uidvalidity is None or self.last_uid is None:
            # First sight of the account: what is there already is not news.
            self.uidvalidity, self.last_uid = mailbox.uidvalidity, mailbox.uidnext - 1
            self._note_seen(await self._newest_mail(session, mailbox))
            return
        if self.uidvalidity == mailbox.uidvalidity:
            await self._fetch_new(session)
            return
        # A renumbered mailbox: UIDs mean nothing now. Alert only on what the server received
        # (its own INTERNALDATE) after the newest message seen before, and not already
        # alerted (Message-ID).
        logger.warning(
            "email account %s: UIDVALIDITY changed (%s -> %s): resyncing",
            self.account_id,
            self.uidvalidity,
            mailbox.uidvalidity,
        )
        news: list[FetchedMail] = []
        after = self.newest_seen
        if after is None and account.synced_at is not None:
            # Never saw a message (an empty mailbox): Clara's own clock, a second of slack.
            after = _aware(account.synced_at) - dt.timedelta(seconds=1)
        if after is not None:
            after = _aware(after)
            uids = await self._blocking(session.uids_since, after)
            fetched = await self._blocking(session.fetch, uids) if uids else []
            news = [m for m in fetched if self._unseen(m, after)]
            logger.debug(
                "email account %s: %d message(s) since %s, %d not seen before",
                self.account_id,
                len(fetched),
                after.isoformat(),
                len(news),
            )
            self._note_seen(fetched)
            keys = [message_key(m) for m in news]
            known = await self.database.run(known_message_keys, self.account_id, keys)
            news = [m for m in news if message_key(m) not in known]
        self.uidvalidity = mailbox.uidvalidity
        self.last_uid = mailbox.uidnext - 1
        await self._record_and_send(news, rebase=True)

    async def _newest_mail(self, session: ImapSession, mailbox: MailboxState) -> list[FetchedMail]:
        """The newest messages in the mailbox (its last few UIDs; none when it is empty)."""
        if mailbox.uidnext <= 1:
            return []
        uids = await self._blocking(session.uids_after, max(0, mailbox.uidnext - 32))
        if not uids:
            uids = (await self._blocking(session.uids_after, 0))[-32:]
        return await self._blocking(session.fetch, uids) if uids else []

    def _note_seen(self, mails: Sequence[FetchedMail]) -> None:
        """Move ``newest_seen`` to the newest server date among ``mails``, keeping the keys
        of the messages seen with it."""
        for mail in mails:
            if mail.internal_date is None:
                continue
            moment = _aware(mail.internal_date).replace(microsecond=0)
            if self.newest_seen is None or moment > self.newest_seen:
                self.newest_seen, self.newest_keys = moment, {message_key(mail)}
            elif moment == self.newest_seen:
                self.newest_keys.add(message_key(mail))

    def _unseen(self, mail: FetchedMail, after: dt.datetime) -> bool:
        """Whether the server received ``mail`` after the newest message seen: a later
        second, or the same second and not one of the messages seen in it."""
        if mail.internal_date is None:
            return False
        moment = _aware(mail.internal_date).replace(microsecond=0)
        if moment > after:
            return True
        return moment == after and message_key(mail) not in self.newest_keys

    async def _fetch_new(self, session: ImapSession) -> None:
        uids = await self._blocking(session.uids_after, self._last())
        mails = await self._blocking(session.fetch, uids) if uids else []
        if uids:
            self.last_uid = max(self._last(), *uids)
        await self._record_and_send(mails)

    async def _record_and_send(self, mails: Sequence[FetchedMail], *, rebase: bool = False) -> None:
        """Record an alert for each mail the rules pick, with the new ``last_uid``, in one
        write; then send them. Also notes the account caught up (``synced_at``)."""
        assert self.uidvalidity is not None
        drafts = []
        for mail in mails:
            picked = evaluate(self.rules, mail)
            if picked is None:
                continue
            drafts.append(
                EmailAlertDraft(
                    uid=mail.uid,
                    subject=mail.subject,
                    sender=mail.sender,
                    importance=picked.importance.value,
                    rule_name=picked.rule_name,
                    message_key=message_key(mail),
                    received_at=mail.internal_date,
                    snippet=mail.snippet,
                )
            )
        self._note_seen(mails)
        recorded = await self.database.write(
            record_email_alerts,
            self.account_id,
            self.uidvalidity,
            drafts,
            last_uid=self._last(),
            rebase=rebase,
            newest_seen=self.newest_seen,
            newest_seen_keys=sorted(self.newest_keys),
        )
        if mails:
            self.last_mail_at = utcnow()
            logger.debug(
                "email account %s: %d new, %d alerted", self.account_id, len(mails), len(drafts)
            )
        self._tell_important(recorded)
        for alert in recorded:
            await self._deliver(alert)

    def _tell_important(self, recorded: Sequence[StoredEmailAlert]) -> None:
        hand_off = self.options.important_mail
        account = self.account
        if hand_off is None or account is None:
            return
        for alert in recorded:
            if alert.importance not in ("high", "urgent"):
                continue
            try:
                hand_off(
                    ImportantMail(
                        platform=account.owner_platform,
                        user_id=account.owner_platform_user_id,
                        sender=alert.sender,
                        subject=alert.subject,
                        importance=alert.importance,
                        received_at=alert.received_at or utcnow(),
                    )
                )
            except Exception:
                logger.exception(
                    "email account %s: the important-mail hand-off failed", self.account_id
                )

    # -- waiting for mail ---------------------------------------------------------------------

    async def _idle(self, session: ImapSession) -> None:
        while True:
            self.state = "idle"
            news = await self._blocking(session.start_idle)
            renew_at = trio.current_time() + self.options.idle_renew
            while not news:
                with trio.move_on_at(renew_at):
                    await trio.lowlevel.wait_readable(session.socket())
                if trio.current_time() >= renew_at:
                    break
                news, _ = await self._blocking(session.idle_check)
            await self._blocking(session.end_idle)
            await self._fetch_new(session)
            await self._retry_undelivered()

    async def _poll(self, session: ImapSession) -> None:
        while True:
            self.state = "polling"
            await trio.sleep(self.options.poll_seconds)
            await self._blocking(session.noop)
            await self._fetch_new(session)
            await self._retry_undelivered()

    # -- alerts -------------------------------------------------------------------------------

    def _alert(self, stored: StoredEmailAlert) -> Alert:
        account = self.account
        assert account is not None
        return Alert(
            alert_id=stored.id,
            account_id=self.account_id,
            address=account.address,
            owner_platform_user_id=account.owner_platform_user_id,
            channel_id=account.alert_channel_id,
            uidvalidity=stored.uidvalidity,
            uid=stored.uid,
            sender=stored.sender,
            subject=stored.subject,
            importance=stored.importance,
            rule_name=stored.rule_name,
            received_at=stored.received_at,
            snippet=stored.snippet,
            ping_owner=account.ping_owner,
        )

    async def _deliver(self, stored: StoredEmailAlert) -> None:
        """Post one recorded alert and mark it delivered; a platform failure leaves it
        pending (tried again after the next wake-up, or at the next start). In quiet hours
        an alert that is not urgent is held for the digest instead."""
        if await self._held(stored):
            return
        try:
            posted = await self.sink.deliver(self._alert(stored))
        except PlatformError as error:
            state = await self.database.write(
                note_email_alert_failure, stored.id, self.options.max_alert_attempts
            )
            logger.warning(
                "email account %s: alert %s not delivered (%s); now %s",
                self.account_id,
                stored.id,
                error,
                state,
            )
            if state == "pending" and stored not in self.undelivered:
                self.undelivered.append(stored)
            return
        await self.database.write(finish_email_alert, stored.id, posted)
        self.alerts_sent += 1
        if stored in self.undelivered:
            self.undelivered.remove(stored)

    async def _resend_pending(self) -> None:
        for stored in await self.database.run(pending_email_alerts, self.account_id):
            await self._deliver(stored)

    async def _retry_undelivered(self) -> None:
        for stored in list(self.undelivered):
            await self._deliver(stored)
        await self._release_held()

    # -- quiet hours --------------------------------------------------------------------------

    async def _load_quiet(self, account: StoredEmailAccount) -> QuietHours | None:
        """The account's quiet hours in its owner's zone (None: it has none)."""
        if account.quiet_start is None or account.quiet_end is None:
            return None
        zone = await self.database.run(
            user_time_zone, account.owner_platform, account.owner_platform_user_id
        )
        try:
            return QuietHours.parse(account.quiet_start, account.quiet_end, zone)
        except ValueError as error:
            logger.warning("email account %s: quiet hours as UTC: %s", self.account_id, error)
            return QuietHours.parse(account.quiet_start, account.quiet_end, "UTC")

    async def _held(self, stored: StoredEmailAlert) -> bool:
        """Hold ``stored`` if the owner's quiet hours are on and it does not break through
        (urgent ones do); then make sure a timer ends the wait."""
        quiet = self.quiet
        if quiet is None or breaks_through(stored.importance):
            return False
        now = self.now()
        ends = quiet.ends_at(now)
        if ends is None:
            return False
        await self.database.write(hold_email_alert, stored.id)
        if stored in self.undelivered:
            self.undelivered.remove(stored)
        logger.info("email account %s: alert %s held for quiet hours", self.account_id, stored.id)
        if not self.digest_due:
            self.digest_due = True
            self.context.send_after((ends - now).total_seconds(), QuietHoursOver())
        return True

    async def _release_held(self) -> None:
        """Post the held alerts as a digest, unless quiet hours are still on (then wait for
        their end). A failed post leaves them held, tried again at the next wake-up.

        The alerts of a digest are given its key in the store before it is posted
        (``start_email_digest``): a digest cut off by a crash is posted again as itself
        (same alerts, same nonce), and alerts held after it go in a digest of their own.
        """
        async with self.digest_lock:
            quiet, now = self.quiet, self.now()
            ends = quiet.ends_at(now) if quiet is not None else None
            held = await self.database.run(held_email_alerts, self.account_id)
            if not held:
                return
            if ends is not None:
                if not self.digest_due:
                    self.digest_due = True
                    self.context.send_after((ends - now).total_seconds(), QuietHoursOver())
                return
            batches: dict[str, list[StoredEmailAlert]] = {}
            for stored in held:  # digests cut off by a crash first, as they were
                if stored.digest_key is not None:
                    batches.setdefault(stored.digest_key, []).append(stored)
            fresh = [stored for stored in held if stored.digest_key is None]
            if fresh:
                key = digest_key([self._alert(stored) for stored in fresh])
                await self.database.write(start_email_digest, [stored.id for stored in fresh], key)
                batches.setdefault(key, []).extend(fresh)
            for key, batch in batches.items():
                if not await self._post_digest(key, batch):
                    return

    async def _post_digest(self, key: str, batch: list[StoredEmailAlert]) -> bool:
        """Post one digest and mark its alerts delivered; False when the post failed."""
        account = self.account
        assert account is not None
        digest = Digest(
            account_id=self.account_id,
            address=account.address,
            owner_platform_user_id=account.owner_platform_user_id,
            channel_id=account.alert_channel_id,
            alerts=tuple(self._alert(stored) for stored in batch),
            ping_owner=account.ping_owner,
            key=key,
        )
        try:
            posted = await self.sink.deliver_digest(digest)
        except PlatformError as error:
            logger.warning(
                "email account %s: digest of %d alert(s) not posted (%s); still held",
                self.account_id,
                len(batch),
                error,
            )
            return False
        await self.database.write(finish_email_digest, [stored.id for stored in batch], posted)
        self.alerts_sent += len(batch)
        logger.info("email account %s: digest of %d alert(s) posted", self.account_id, len(batch))
        return True

    # -- trouble ------------------------------------------------------------------------------

    async def _failed(self, error: Exception) -> None:
        message = str(error)
        self.error = message
        self.state = "failing"
        self.failures = await self.database.write(note_email_failure, self.account_id, message)
        logger.warning(
            "email account %s: failure %d in a row: %s", self.account_id, self.failures, message
        )
        if self.failures >= self.options.failure_threshold:
            told = await self.database.write(mark_email_account_error, self.account_id, message)
            self.state = "error"
            if not told:
                await self._notify(NoticeKind.FAILING, message, episode="failing")

    async def _login_refused(self, error: ImapLoginRefused) -> None:
        message = str(error)
        self.error = message
        told = await self.database.write(mark_email_account_error, self.account_id, message)
        logger.warning("email account %s: %s", self.account_id, message)
        if not told:
            await self._notify(NoticeKind.LOGIN_REFUSED, message, episode="login")

    async def _authorization_lost(self, error: AuthorizationLost) -> None:
        """The account's OAuth grant is gone: in error, and its owner told once how to
        connect it again (the provider's name is what ``/email connect`` takes)."""
        account = self.account
        assert account is not None
        provider = account.oauth_provider or "the provider"
        message = (
            f"{account.address}: the sign-in with {provider} no longer works ({error}). "
            f"Run /email connect provider:{provider} again to reconnect the account"
        )
        self.error = message
        told = await self.database.write(mark_email_account_error, self.account_id, message)
        logger.warning("email account %s: %s", self.account_id, message)
        if not told:
            await self._notify(NoticeKind.AUTHORIZATION_LOST, message, episode="authorization")

    async def _notify(self, kind: NoticeKind, detail: str, *, episode: str) -> None:
        """Tell the owner once; remembered in the store (a notice that could not be posted
        is tried again the next time the condition is seen)."""
        account = self.account
        assert account is not None
        synced = account.synced_at.isoformat() if account.synced_at else "never"
        notice = AccountNotice(
            account_id=self.account_id,
            address=account.address,
            owner_platform_user_id=account.owner_platform_user_id,
            channel_id=account.alert_channel_id,
            kind=kind,
            detail=detail,
            episode=f"{episode}:{synced}",
        )
        try:
            await self.sink.notify(notice)
        except PlatformError as failure:
            logger.warning("email account %s: notice not posted: %s", self.account_id, failure)
            return
        if kind is not NoticeKind.RECOVERED:
            await self.database.write(set_email_error_notified, self.account_id)
