"""MailroomInboxActor: reads Clara's own mailbox and records every new message, once.

The same watch as an email account's (``clara.actors.email.account``), for one mailbox: one
incarnation is one IMAP connection; INBOX is examined read-only (nothing is marked seen);
IDLE where the server offers it (renewed every ``idle_renew``), polling where not; a lost
connection or a timeout crashes the actor and its supervisor reconnects with backoff; a
refused password is an error in the status, retried every ``login_retry``, not a crash loop.

On every (re)connect the mailbox is compared with the store (docs/mailroom.md):

- first sight: what is already there is not news (``last_uid = UIDNEXT - 1``); the newest
  second's messages are recorded ``skipped``, so a renumbering later tells them apart from
  mail that came in that same second;
- same UIDVALIDITY: every UID above ``last_uid`` is fetched (mail that came while Clara was
  away is caught);
- a new UIDVALIDITY: the messages the server received (INTERNALDATE, the server's clock)
  in or after the second of the newest one seen before are taken, less those already
  recorded (their Message-ID or digest), and ``last_uid`` starts again from UIDNEXT - 1.

Each message is screened (``_screen``): automated mail is recorded ``skipped`` with the
reason, the rest ``new``, in the same write that moves ``last_uid`` past them. The desk is
then told (``Wake``); it reads its work from the store, so a crash between costs nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, TypeVarTuple

import trio

from ...adapters.email import (
    ImapEndpoint,
    ImapLoginRefused,
    ImapProtocolError,
    ImapSession,
    ImapUnavailable,
    MailboxState,
    open_session,
)
from ...store import (
    Database,
    MailroomDraft,
    ensure_mailroom_mailbox,
    known_mailroom_keys,
    note_mailroom_synced,
    record_mailroom_messages,
)
from .. import Actor, ActorRef
from ._reading import InboundMail, fetch_inbound, mail_key
from ._screen import skip_reason
from .messages import Describe, Wake
from .options import MailroomOptions

__all__ = ["MailroomInboxActor"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: UIDs fetched and recorded per write (a long absence is caught up in steps, each durable).
_CHUNK = 50
#: Why mail already in the mailbox when Clara first looked is skipped.
_THERE_BEFORE = "there before Clara watched the mailbox"
#: How many of the newest messages date the mailbox at first sight.
_NEWEST = 8


def _second(moment: dt.datetime) -> dt.datetime:
    """An aware moment to the whole second (INTERNALDATE has whole seconds)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).replace(microsecond=0)


class MailroomInboxActor(Actor):
    """Watches Clara's own mailbox.

    Args:
        address: Clara's own address (its mailbox row, and mail from it is never answered).
        endpoint: the IMAP server and login (the password from the settings, never logged).
        database: the store.
        desk: told ``Wake`` when new mail is recorded.
        options: timings and limits.
        connect: opens a session (``open_session``; a test may wrap it).
    """

    def __init__(
        self,
        *,
        address: str,
        endpoint: ImapEndpoint,
        database: Database,
        desk: ActorRef,
        options: MailroomOptions | None = None,
        connect: Callable[[ImapEndpoint], ImapSession] = open_session,
    ) -> None:
        if not address or "@" not in address:
            raise ValueError(f"address must be an email address; got {address!r}")
        if not isinstance(endpoint, ImapEndpoint):
            raise TypeError(f"endpoint must be an ImapEndpoint; got {type(endpoint).__name__}")
        self.address = address.strip().lower()
        self.endpoint = endpoint
        self.database = database
        self.desk = desk
        self.options = options or MailroomOptions()
        self.connect = connect
        self.session: ImapSession | None = None
        self.state = "starting"
        self.mailbox_id: int | None = None
        self.uidvalidity: int | None = None
        self.last_uid: int | None = None
        self.newest_seen: dt.datetime | None = None
        self.synced_at: dt.datetime | None = None
        self.last_mail_at: dt.datetime | None = None
        self.error: str | None = None
        self.recorded = 0
        self.skipped = 0

    # -- life ---------------------------------------------------------------------------------

    async def on_start(self) -> None:
        self.context.start_task(self._watch, name="mailroom inbox")

    async def on_stop(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.close()  # an abandoned thread blocked on it wakes and ends

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Describe):
            return self.describe()
        raise TypeError(f"MailroomInboxActor cannot handle {type(message).__name__}")

    def describe(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "state": self.state,
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "last_mail_at": self.last_mail_at.isoformat() if self.last_mail_at else None,
            "recorded": self.recorded,
            "skipped": self.skipped,
            "error": self.error,
        }

    async def _blocking(self, function: Callable[[*Ts], T], *args: *Ts) -> T:
        return await self.context.run_blocking(function, *args, abandon_on_cancel=True)

    # -- the watch ----------------------------------------------------------------------------

    async def _watch(self) -> None:
        mailbox = await self.database.write(ensure_mailroom_mailbox, self.address)
        self.mailbox_id = mailbox.id
        self.uidvalidity, self.last_uid = mailbox.uidvalidity, mailbox.last_uid
        self.newest_seen, self.synced_at = mailbox.newest_seen_at, mailbox.synced_at
        while True:
            self.state = "connecting"
            try:
                session = await self._blocking(self.connect, self.endpoint)
            except ImapLoginRefused as error:
                self.state, self.error = "error", str(error)
                logger.warning("mailroom inbox %s: %s", self.address, error)
                await trio.sleep(self.options.login_retry)
                continue
            except (ImapUnavailable, ImapProtocolError) as error:
                self._failed(error)
                raise
            self.session = session
            try:
                await self._serve(session)
            except (ImapUnavailable, ImapProtocolError) as error:
                self._failed(error)
                raise

    def _failed(self, error: Exception) -> None:
        self.state, self.error = "failing", str(error)
        logger.warning("mailroom inbox %s: %s", self.address, error)

    async def _serve(self, session: ImapSession) -> None:
        mailbox = await self._blocking(session.select_inbox)
        await self._catch_up(session, mailbox)
        self.error = None
        logger.info(
            "mailroom inbox %s connected (%s)",
            self.address,
            "IDLE" if mailbox.can_idle else "polling",
        )
        if mailbox.can_idle:
            await self._idle(session)
        else:
            await self._poll(session)

    # -- catching up --------------------------------------------------------------------------

    async def _catch_up(self, session: ImapSession, mailbox: MailboxState) -> None:
        assert self.mailbox_id is not None
        if self.uidvalidity is None or self.last_uid is None:
            # First sight: what is there already is not news. The mark is the newest
            # message's second, and the messages of that second are recorded as skipped:
            # after a renumbering, mail that came in the same second, later, is told apart
            # from them by its key (INTERNALDATE has whole seconds).
            newest = await self._newest(session, mailbox)
            self._note_seen(newest)
            self.uidvalidity, self.last_uid = mailbox.uidvalidity, mailbox.uidnext - 1
            await self.database.write(
                note_mailroom_synced,
                self.mailbox_id,
                self.uidvalidity,
                self.last_uid,
                newest_seen=self.newest_seen,
                rebase=True,
            )
            mark = self.newest_seen
            in_marks_second = [
                mail
                for mail in newest
                if mail.internal_date is not None and _second(mail.internal_date) == mark
            ]
            await self._record(in_marks_second, reason=_THERE_BEFORE)
            return
        if self.uidvalidity == mailbox.uidvalidity:
            await self._fetch_new(session)
            return
        logger.warning(
            "mailroom inbox %s: UIDVALIDITY changed (%s -> %s): resyncing",
            self.address,
            self.uidvalidity,
            mailbox.uidvalidity,
        )
        after = self.newest_seen
        if after is None and self.synced_at is not None:
            after = self.synced_at - dt.timedelta(seconds=1)  # Clara's clock: a second's slack
        fetched: list[InboundMail] = []
        news: list[InboundMail] = []
        if after is not None:
            after = _second(after)
            uids = await self._blocking(session.uids_since, after)
            fetched = await self._fetch(session, uids) if uids else []
            # At or after the mark: every message seen before it was recorded, with its key
            # (skipped ones too), so the keys weed out the ones seen in the mark's second.
            news = [
                mail
                for mail in fetched
                if mail.internal_date is not None and _second(mail.internal_date) >= after
            ]
            known = await self.database.run(
                known_mailroom_keys, self.mailbox_id, [mail_key(mail) for mail in news]
            )
            news = [mail for mail in news if mail_key(mail) not in known]
        self._note_seen(fetched)
        self.uidvalidity, self.last_uid = mailbox.uidvalidity, mailbox.uidnext - 1
        await self._record(news, rebase=True)

    async def _newest(self, session: ImapSession, mailbox: MailboxState) -> list[InboundMail]:
        if mailbox.uidnext <= 1:
            return []
        uids = await self._blocking(session.uids_after, max(0, mailbox.uidnext - 1 - _NEWEST))
        if not uids:
            uids = (await self._blocking(session.uids_after, 0))[-_NEWEST:]
        return await self._fetch(session, uids, small=True) if uids else []

    async def _fetch(
        self, session: ImapSession, uids: Sequence[int], *, small: bool = False
    ) -> list[InboundMail]:
        options = self.options
        max_bytes = 2048 if small else options.max_fetch_bytes
        return await self.context.run_blocking(
            lambda: fetch_inbound(
                session, uids, max_bytes=max_bytes, max_chars=options.max_text_chars
            ),
            abandon_on_cancel=True,
        )

    def _note_seen(self, mails: Sequence[InboundMail]) -> None:
        for mail in mails:
            if mail.internal_date is None:
                continue
            moment = _second(mail.internal_date)
            if self.newest_seen is None or moment > _second(self.newest_seen):
                self.newest_seen = moment

    async def _fetch_new(self, session: ImapSession) -> None:
        uids = await self._blocking(session.uids_after, self.last_uid or 0)
        for start in range(0, len(uids), _CHUNK):
            chunk = uids[start : start + _CHUNK]
            mails = await self._fetch(session, chunk)
            self.last_uid = max(self.last_uid or 0, *chunk)
            self._note_seen(mails)
            await self._record(mails)

    async def _record(
        self, mails: Sequence[InboundMail], *, rebase: bool = False, reason: str | None = None
    ) -> None:
        """Record every message (new, or skipped with its reason; ``reason``: all skipped,
        for that reason) and move ``last_uid``, in one write; then wake the desk if any is
        new."""
        assert self.mailbox_id is not None and self.uidvalidity is not None
        if not mails and reason is not None:
            return
        drafts = []
        given = reason
        for mail in mails:
            reason = given or skip_reason(
                mail.headers, mail.sender_address, mail.reply_address, self.address
            )
            text = mail.text + ("\n[… the rest of the message was cut]" if mail.truncated else "")
            drafts.append(
                MailroomDraft(
                    uid=mail.uid,
                    message_key=mail_key(mail),
                    sender=mail.sender,
                    reply_to=mail.reply_address,
                    subject=mail.subject,
                    received_at=mail.internal_date,
                    message_id=mail.message_id,
                    references=" ".join(mail.references),
                    body=text,
                    skip_reason=reason,
                )
            )
            if reason is not None:
                logger.debug(
                    "mailroom inbox %s: uid %s skipped: %s", self.address, mail.uid, reason
                )
        recorded = await self.database.write(
            record_mailroom_messages,
            self.mailbox_id,
            self.uidvalidity,
            drafts,
            last_uid=self.last_uid or 0,
            newest_seen=self.newest_seen,
            rebase=rebase,
        )
        if not recorded:
            return
        fresh = sum(1 for row in recorded if row.state == "new")
        self.recorded += fresh
        self.skipped += len(recorded) - fresh
        self.last_mail_at = dt.datetime.now(dt.UTC)
        logger.info(
            "mailroom inbox %s: %d new message(s), %d skipped",
            self.address,
            fresh,
            len(recorded) - fresh,
        )
        if fresh:
            await self.desk.tell(Wake())

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

    async def _poll(self, session: ImapSession) -> None:
        while True:
            self.state = "polling"
            await trio.sleep(self.options.poll_seconds)
            await self._blocking(session.noop)
            await self._fetch_new(session)
