"""The ``/clara/mailroom`` subtree: Clara's own inbox, its desk, and the operators' commands.

``mailroom_subsystem`` returns the subtree's ``ChildSpec`` and what the rest of Clara uses of
it: ``admin`` (``MailroomAdmin``, for the ``/mailroom`` commands) and the status details.
Children, one for one (one failing never restarts the other):

- ``desk`` (``MailroomDeskActor``): summaries, posts, approved sends; first, so the inbox can
  tell it from the start;
- ``inbox`` (``MailroomInboxActor``): the IMAP watch; restarted with capped, jittered backoff
  (1 s doubling to 60 s) while the server is away.

The passwords come from the settings (``Secret``: never shown in a repr, a log line or the
status) and go only into the endpoints that log in with them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...adapters.email import ImapEndpoint, ImapSession, open_session
from ...adapters.llm import Tier
from ...adapters.smtp import SmtpEndpoint, send_message
from ...config import Settings
from ...store import Database
from ...store.models import utcnow
from ...supervisors import Backoff, ChildSpec, Supervisor
from .. import ActorRef
from .admin import MailroomAdmin
from .desk import MailroomDeskActor, SendMail
from .inbox import MailroomInboxActor
from .options import MailroomOptions
from .sink import MailroomSink

__all__ = ["MailroomSystem", "mailroom_endpoints", "mailroom_subsystem"]

logger = logging.getLogger(__name__)


@dataclass
class MailroomSystem:
    """What the rest of Clara uses of the mailroom subtree."""

    spec: ChildSpec
    """``mailroom``: add it to the root's children."""
    supervisor: Supervisor
    desk: ActorRef
    inbox: ActorRef
    admin: MailroomAdmin
    """Behind ``/mailroom approve|reject|edit|pending``."""

    def readiness_details(self) -> dict[str, Any]:
        """For the readiness *details* (never readiness itself: Clara's own inbox being
        unreachable must not take her out of a load balancer)."""
        inbox = self.inbox.statistics().details or {}
        desk = self.desk.statistics().details or {}
        messages = desk.get("messages", {}) if isinstance(desk, dict) else {}
        return {
            "inbox": inbox.get("state") if isinstance(inbox, dict) else None,
            "awaiting_decision": desk.get("awaiting_decision", 0) if isinstance(desk, dict) else 0,
            "failed": messages.get("failed", 0) if isinstance(messages, dict) else 0,
        }


def mailroom_endpoints(settings: Settings) -> tuple[ImapEndpoint, SmtpEndpoint]:
    """Where Clara's mailbox is read and her replies sent, with their logins, from the
    settings (the IMAP login is the address, and the SMTP one the IMAP one, unless set).

    Raises:
        ValueError: the mailroom is not configured (``CLARA_MAILROOM_ENABLED`` is false).
    """
    mailroom = settings.mailroom
    if not mailroom.enabled or mailroom.imap_password is None:
        raise ValueError("the mailroom is off (CLARA_MAILROOM_ENABLED): nothing to connect to")
    imap_user = mailroom.imap_user or mailroom.address
    imap = ImapEndpoint(
        host=mailroom.imap_host,
        port=mailroom.imap_port,
        username=imap_user,
        password=mailroom.imap_password.reveal(),
        use_tls=mailroom.imap_tls,
        timeout=mailroom.timeout,
    )
    login = mailroom.smtp_auth
    password = mailroom.smtp_password or mailroom.imap_password
    smtp = SmtpEndpoint(
        host=mailroom.smtp_host,
        port=mailroom.smtp_port,
        security=mailroom.smtp_security,
        username=(mailroom.smtp_user or imap_user) if login else "",
        password=password.reveal() if login else "",
        timeout=mailroom.timeout,
    )
    return imap, smtp


def mailroom_subsystem(
    settings: Settings,
    *,
    database: Database,
    llm: ActorRef,
    sink: MailroomSink,
    options: MailroomOptions | None = None,
    connect: Callable[[ImapEndpoint], ImapSession] = open_session,
    send: SendMail = send_message,
    now: Callable[[], dt.datetime] = utcnow,
    backoff: Backoff | None = None,
) -> MailroomSystem:
    """The subtree (nothing runs until its supervisor starts).

    Args:
        settings: ``settings.mailroom`` (on, and checked at load), the IMAP timings of
            ``settings.email``, the admin role of ``settings.discord``.
        database: the store.
        llm: the LLM gateway actor.
        sink: the operator channel (``EmbedMailroomSink(transport, channel)``).
        options: timings and limits (default: from the settings).
        connect, send, now: the IMAP connect, the SMTP send and the clock (tests wrap them).
        backoff: restart backoff of the children (default 1 s doubling to 60 s, ±20 %).

    Raises:
        ValueError: the mailroom is off.
    """
    mailroom = settings.mailroom
    imap, smtp = mailroom_endpoints(settings)
    if options is None:
        options = MailroomOptions(
            timeout=mailroom.timeout,
            poll_seconds=settings.email.poll_seconds,
            idle_renew=settings.email.idle_renew_seconds,
            login_retry=settings.email.login_retry_seconds,
            retry_min=mailroom.retry_seconds,
            retry_max=mailroom.retry_max_seconds,
            max_send_attempts=mailroom.max_send_attempts,
            tier=Tier(mailroom.tier),
        )
    address = mailroom.address
    desk = ChildSpec(
        "desk",
        lambda: MailroomDeskActor(
            address=address,
            database=database,
            llm=llm,
            sink=sink,
            smtp=smtp,
            options=options,
            send=send,
            now=now,
        ),
        mailbox_capacity=256,
        # A send in flight is finished (it is shielded): room for a slow server's exchange.
        shutdown=4 * options.timeout + 5.0,
    )
    desk_ref = desk.ref
    inbox = ChildSpec(
        "inbox",
        lambda: MailroomInboxActor(
            address=address,
            endpoint=imap,
            database=database,
            desk=desk_ref,
            options=options,
            connect=connect,
        ),
        mailbox_capacity=16,
        shutdown=5.0,
    )
    supervisor = Supervisor(
        [desk, inbox],
        backoff=backoff or Backoff(min=1.0, max=60.0, jitter=0.2, reset_after=300.0),
        # The backoff spaces the restarts of a mailbox whose server is away; the intensity
        # only catches a crash loop that the backoff cannot slow.
        max_restarts=50,
        max_seconds=60.0,
    )
    admin = MailroomAdmin(
        database=database,
        desk=desk_ref,
        operator_channel=mailroom.operator_channel,
        operators=tuple(str(user) for user in mailroom.operators),
        discord=settings.discord,
        address=address,
        ops_per_minute=mailroom.ops_per_minute,
    )
    logger.info("mailroom: watching %s, drafts to channel %s", address, mailroom.operator_channel)
    return MailroomSystem(
        spec=ChildSpec("mailroom", supervisor, shutdown=4 * options.timeout + 15.0),
        supervisor=supervisor,
        desk=desk_ref,
        inbox=inbox.ref,
        admin=admin,
    )
