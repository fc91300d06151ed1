"""Fixtures of the mailroom suite: a real SMTP server on loopback, a real dovecot with a user
of its own for Clara's mailbox, a sink that lets a test wait for posts, and a seeded store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import imapclient
import pytest
import trio

from clara.actors.mailroom import DraftPost, MailroomNotice, MailroomSink, NoticeKind
from clara.errors import PlatformError
from clara.store import (
    Database,
    MailroomDraft,
    StoredMailroomMessage,
    ensure_mailroom_mailbox,
    load_mailroom_message,
    record_mailroom_messages,
)
from tests.email.dovecot import Dovecot, dovecot_binary
from tests.helpers import require
from tests.mailroom.smtp_server import SmtpServer

CLARA = "clara@test.local"
CLARA_PASSWORD = "clara-imap-secret"
OPERATOR_CHANNEL = "ops"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    require(dovecot_binary(), "dovecot (dovecot-imapd)")
    server = Dovecot()
    server.add_user(CLARA, CLARA_PASSWORD)  # Clara's own mailbox: a user (and uid) of its own
    server.start()
    try:
        yield server
    finally:
        server.close()


def append_raw(dovecot: Dovecot, user: str, raw: bytes) -> None:
    """APPEND one message as given (blocking: call through trio.to_thread)."""
    client = imapclient.IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=10)
    try:
        client.login(user, dovecot.users[user])
        client.append("INBOX", raw)
    finally:
        client.logout()


def mail(
    subject: str,
    *,
    sender: str = "Bob Example <bob@example.com>",
    body: str = "Are you free for lunch on Friday?",
    message_id: str = "<m1@example.com>",
    extra: str = "",
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: {CLARA}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n{extra}"
    )
    return head.encode() + b"\r\n" + body.encode()


class RecordingSink:
    """Wraps a real sink: records every draft post and notice, lets a test wait for them,
    and can be told to fail the next posts (as a platform that is down)."""

    def __init__(self, inner: MailroomSink) -> None:
        self.inner = inner
        self.drafts: list[DraftPost] = []
        self.notices: list[MailroomNotice] = []
        self.fail_next_posts = 0
        self.crash_after_next_post = False
        self._changed = trio.Event()

    async def post_draft(self, post: DraftPost) -> str | None:
        if self.fail_next_posts:
            self.fail_next_posts -= 1
            raise PlatformError("discord", "the operator channel is unreachable")
        posted = await self.inner.post_draft(post)
        self.drafts.append(post)
        self._changed.set()
        if self.crash_after_next_post:
            self.crash_after_next_post = False
            raise RuntimeError("crash between posting the draft and recording it posted")
        return posted

    async def notify(self, notice: MailroomNotice) -> str | None:
        posted = await self.inner.notify(notice)
        self.notices.append(notice)
        self._changed.set()
        return posted

    def kinds(self) -> list[NoticeKind]:
        return [notice.kind for notice in self.notices]

    async def wait(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._changed = trio.Event()
            await self._changed.wait()


def seed(database: Database, *drafts: MailroomDraft, uidvalidity: int = 7) -> list[int]:
    """Record messages as the inbox would; their ids."""
    with database.unit_of_work() as session:
        mailbox = ensure_mailroom_mailbox(session, CLARA)
        rows = record_mailroom_messages(
            session,
            mailbox.id,
            uidvalidity,
            list(drafts),
            last_uid=max(item.uid for item in drafts),
            newest_seen=None,
        )
        return [row.id for row in rows]


def a_draft(uid: int = 1, **changes: object) -> MailroomDraft:
    values: dict[str, object] = {
        "uid": uid,
        "message_key": f"<m{uid}@example.com>",
        "sender": "Bob Example <bob@example.com>",
        "reply_to": "bob@example.com",
        "subject": "Lunch on Friday?",
        "received_at": dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC),
        "message_id": f"<m{uid}@example.com>",
        "references": "<r0@example.com>",
        "body": "Are you free for lunch on Friday?",
        "skip_reason": None,
    }
    values.update(changes)
    return MailroomDraft(**values)  # type: ignore[arg-type]


def row(database: Database, message_id: int) -> StoredMailroomMessage:
    with database.unit_of_work() as session:
        found = load_mailroom_message(session, message_id)
    assert found is not None
    return found
