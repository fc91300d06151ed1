"""MailroomDeskActor: summarises new mail, posts it to the operator, sends what they approve.

The desk keeps no work of its own: every pass reads the unfinished messages from the store
(``open_mailroom_messages``) and moves each one step on, recording each step before and
after the act (``clara.store._mailroom``). So a start after a crash or a deploy *is* the
resume: messages not yet summarised are summarised, summaries not yet posted are posted
(with the same nonce), approved replies not yet sent are sent.

A pass, in order:

1. **Sends** (``approved``, or ``sending`` left by a crash) whose retry time has come:
   ``sending`` is recorded, the reply handed to the SMTP server in a worker thread (shielded
   from cancellation together with recording ``sent``, so a stop cannot cut between the
   two), ``sent`` recorded, the operator told. The reply's Message-ID was minted with the
   approval: a resend after a crash between the SMTP server's OK and ``sent`` carries the
   same one. A failure the server may get over (down, 4xx, a refused login) goes back to
   ``approved`` with the next attempt ``retry_min`` doubled per attempt (capped at
   ``retry_max``) later, durable in the store; the operator is told at the first failure
   and when the attempts are spent (``failed``). A 5xx refusal is ``failed`` at once.
2. **Posts** (``summarised``): the summary and draft go to the operator channel.
3. **Summaries** (``new``): the model is asked (no tools, the mail as marked data:
   ``_prompt``), the summary and draft recorded, then posted. A model that fails is tried
   again after a backoff; after ``max_summary_attempts`` the mail is posted without a
   draft, so the operator still sees it.

Between passes the desk sleeps until woken (``Wake``: new mail, a decision) or until the
next retry is due, whichever comes first.

Nothing is ever sent that an operator did not approve: the one way to SMTP is
``start_mailroom_send``, which moves only a message with an approval on record.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Any, Protocol

import trio

from ...adapters.llm import Completion
from ...adapters.smtp import SmtpEndpoint, SmtpError, SmtpRefused, send_message
from ...errors import ClaraError, PlatformError
from ...store import (
    Database,
    StoredMailroomMessage,
    ensure_mailroom_mailbox,
    finish_mailroom_send,
    load_mailroom_message,
    mailroom_counts,
    mark_mailroom_posted,
    note_mailroom_send_failure,
    note_mailroom_summary_failure,
    open_mailroom_messages,
    save_mailroom_summary,
    start_mailroom_send,
)
from ...store.models import utcnow
from .. import Actor, ActorRef
from ..llm import Complete
from ._prompt import read_answer, summary_request
from ._reply import build_reply
from .messages import Describe, Wake
from .options import MailroomOptions
from .sink import DraftPost, MailroomNotice, MailroomSink, NoticeKind

__all__ = ["MailroomDeskActor", "SendMail"]

logger = logging.getLogger(__name__)


class SendMail(Protocol):
    """Hands one message to the SMTP server (``clara.adapters.smtp.send_message``)."""

    def __call__(
        self,
        endpoint: SmtpEndpoint,
        message: EmailMessage,
        /,
        *,
        sender: str,
        recipients: Sequence[str],
    ) -> None: ...


class MailroomDeskActor(Actor):
    """Works through the mailroom's unfinished messages (see the module's docstring).

    Args:
        address: Clara's own address (the mailbox, and the From of every reply).
        database: the store.
        llm: the LLM gateway actor (asked ``Complete``).
        sink: the operator channel.
        smtp: the SMTP server and login (the password from the settings, never logged).
        options: timings and limits.
        send: hands a message over (blocking, run in a worker thread; a test may wrap it).
        now: the current moment in UTC, for durable retry times (a test passes a virtual
            one).
    """

    def __init__(
        self,
        *,
        address: str,
        database: Database,
        llm: ActorRef,
        sink: MailroomSink,
        smtp: SmtpEndpoint,
        options: MailroomOptions | None = None,
        send: SendMail = send_message,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if not address or "@" not in address:
            raise ValueError(f"address must be an email address; got {address!r}")
        if not isinstance(smtp, SmtpEndpoint):
            raise TypeError(f"smtp must be an SmtpEndpoint; got {type(smtp).__name__}")
        self.address = address.strip().lower()
        self.database = database
        self.llm = llm
        self.sink = sink
        self.smtp = smtp
        self.options = options or MailroomOptions()
        self.send = send
        self.now = now
        self.mailbox_id: int | None = None
        self.wake = trio.Event()
        self.state = "starting"
        self.counts: dict[str, int] = {}
        self.sent = 0
        self.model_failures = 0
        self.post_failures = 0
        self.retry_at: float | None = None
        """Trio time before which no summary or post is tried again (after a failure)."""
        self.next_wake: float = math.inf
        self.error: str | None = None

    # -- life ---------------------------------------------------------------------------------

    async def on_start(self) -> None:
        self.context.start_task(self._work, name="mailroom desk")

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Wake):
            self.wake.set()
            return None
        if isinstance(message, Describe):
            return self.describe()
        raise TypeError(f"MailroomDeskActor cannot handle {type(message).__name__}")

    def describe(self) -> dict[str, Any]:
        due: float | None = None
        if math.isfinite(self.next_wake):
            try:
                due = self.next_wake - trio.current_time()
            except RuntimeError:  # asked from outside the trio run (a snapshot at exit)
                due = None
        return {
            "address": self.address,
            "state": self.state,
            "messages": dict(self.counts),
            "awaiting_decision": self.counts.get("posted", 0) + self.counts.get("summarised", 0),
            "sent": self.sent,
            "next_retry_in": None if due is None else round(max(due, 0.0), 1),
            "error": self.error,
        }

    # -- the loop -----------------------------------------------------------------------------

    async def _work(self) -> None:
        mailbox = await self.database.write(ensure_mailroom_mailbox, self.address)
        self.mailbox_id = mailbox.id
        while True:
            self.wake = trio.Event()  # a wake during the pass makes another pass at once
            self.next_wake = await self._pass()
            self.state = "idle" if math.isinf(self.next_wake) else "waiting"
            with trio.move_on_at(self.next_wake):
                await self.wake.wait()

    async def _pass(self) -> float:
        """Move every unfinished message one step on; the trio time of the next retry due
        (``inf``: none, wait for a wake)."""
        assert self.mailbox_id is not None
        rows = await self.database.run(open_mailroom_messages, self.mailbox_id)
        next_wake = math.inf
        for row in rows:
            if row.state not in ("approved", "sending"):
                continue
            wait = self._seconds_until(row.next_attempt_at)
            if wait > 0:
                next_wake = min(next_wake, trio.current_time() + wait)
                continue
            retry_in = await self._send(row)
            if retry_in is not None:
                next_wake = min(next_wake, trio.current_time() + retry_in)
        for row in rows:
            if row.state not in ("new", "summarised"):
                continue
            if self.retry_at is not None and trio.current_time() < self.retry_at:
                next_wake = min(next_wake, self.retry_at)
                break
            self.retry_at = None
            if row.state == "new" and not await self._summarise(row):
                continue
            await self._post(row.id)
        if self.retry_at is not None:
            next_wake = min(next_wake, self.retry_at)
        self.counts = await self.database.run(mailroom_counts, self.mailbox_id)
        return next_wake

    def _seconds_until(self, moment: dt.datetime | None) -> float:
        if moment is None:
            return 0.0
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
        return (aware - self.now()).total_seconds()

    def _trouble(self, failures: int) -> None:
        """Wait before the next summary or post (``failures`` in a row so far)."""
        self.retry_at = trio.current_time() + self.options.backoff(failures)

    # -- summaries and posts ------------------------------------------------------------------

    async def _summarise(self, row: StoredMailroomMessage) -> bool:
        """Ask the model for the summary and draft and record them; False when it failed
        and the message waits for the next try."""
        self.state = "summarising"
        options = self.options
        request = summary_request(row, address=self.address, tier=options.tier)
        try:
            completion: Completion = await self.llm.ask(
                Complete(request=request, timeout=options.llm_timeout),
                timeout=options.llm_timeout + 30.0,
            )
        except ClaraError as error:
            attempts = await self.database.write(note_mailroom_summary_failure, row.id, str(error))
            self.error = f"the model: {error}"[:300]
            logger.warning(
                "mailroom desk: message %s not summarised (attempt %d): %s", row.id, attempts, error
            )
            if attempts < options.max_summary_attempts:
                self.model_failures += 1
                self._trouble(self.model_failures)
                return False
            summary, draft = f"(The model could not summarise this mail: {error})", ""
        else:
            self.model_failures = 0
            summary, draft = read_answer(completion.text)
            if completion.tool_calls:  # none were offered; whatever it asked for is ignored
                logger.info("mailroom desk: message %s: the model's tool calls ignored", row.id)
        await self.database.write(save_mailroom_summary, row.id, summary, draft)
        return True

    async def _post(self, message_id: int) -> None:
        """Post a summarised message to the operator channel (read again from the store:
        what is posted is what is recorded)."""
        row = await self.database.run(load_mailroom_message, message_id)
        if row is None or row.state != "summarised":
            return
        self.state = "posting"
        post = DraftPost(
            message_id=row.id,
            sender=row.sender,
            reply_to=row.reply_to,
            subject=row.subject,
            summary=row.summary or "",
            draft=row.draft or "",
            received_at=row.received_at,
        )
        try:
            posted = await self.sink.post_draft(post)
        except PlatformError as error:
            self.post_failures += 1
            self._trouble(self.post_failures)
            self.error = f"the operator channel: {error}"[:300]
            logger.warning("mailroom desk: message %s not posted: %s", row.id, error)
            return
        self.post_failures = 0
        await self.database.write(mark_mailroom_posted, row.id, posted)
        logger.info("mailroom desk: message %s posted for a decision", row.id)

    # -- sending ------------------------------------------------------------------------------

    async def _send(self, row: StoredMailroomMessage) -> float | None:
        """Send one approved reply; the seconds until its next attempt when it failed and
        will be tried again, else None."""
        started = await self.database.write(start_mailroom_send, row.id)
        if started is None:  # rejected meanwhile, or no approval on record
            return None
        self.state = "sending"
        try:
            message, recipient = build_reply(started, from_address=self.address, now=self.now())
        except ValueError as error:
            await self._failed_send(started, str(error), retry=False)
            return None
        failure: SmtpError | None = None
        with trio.CancelScope(shield=True):  # the SMTP exchange and "sent": never cut between
            try:
                await self.context.run_blocking(self._hand_over, message, recipient)
            except SmtpError as error:
                failure = error
            else:
                await self.database.write(finish_mailroom_send, started.id)
        if failure is not None:
            return await self._failed_send(
                started, str(failure), retry=not isinstance(failure, SmtpRefused)
            )
        self.sent += 1
        self.error = None
        logger.info("mailroom desk: reply to message %s sent", started.id)
        await self._notify(started, NoticeKind.SENT)
        return None

    def _hand_over(self, message: EmailMessage, recipient: str) -> None:
        self.send(self.smtp, message, sender=self.address, recipients=[recipient])

    async def _failed_send(
        self, row: StoredMailroomMessage, error: str, *, retry: bool
    ) -> float | None:
        delay = self.options.backoff(row.attempts + 1)
        retry_at = self.now() + dt.timedelta(seconds=delay) if retry else None
        state, attempts = await self.database.write(
            note_mailroom_send_failure,
            row.id,
            error,
            retry_at=retry_at,
            max_attempts=self.options.max_send_attempts,
        )
        self.error = f"SMTP: {error}"[:300]
        logger.warning(
            "mailroom desk: reply to message %s not sent (attempt %d, now %s): %s",
            row.id,
            attempts,
            state,
            error,
        )
        if state == "failed":
            await self._notify(row, NoticeKind.FAILED, detail=error)
            return None
        if attempts == 1:
            await self._notify(row, NoticeKind.RETRYING, detail=error, retry_in=delay)
        return delay

    async def _notify(
        self,
        row: StoredMailroomMessage,
        kind: NoticeKind,
        *,
        detail: str = "",
        retry_in: float | None = None,
    ) -> None:
        """Tell the operator; a notice that cannot be posted is logged, not retried (the
        state is in the store, and ``/mailroom pending`` shows it)."""
        notice = MailroomNotice(
            message_id=row.id,
            kind=kind,
            recipient=row.reply_to,
            subject=row.subject,
            detail=detail[:500],
            approval=row.approvals,
            retry_in=retry_in,
        )
        try:
            await self.sink.notify(notice)
        except PlatformError as error:
            logger.warning("mailroom desk: notice about message %s not posted: %s", row.id, error)
