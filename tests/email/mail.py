"""Putting mail into a test dovecot: APPEND over IMAP, or a file in the maildir while the
server is down."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import imapclient

from tests.email.dovecot import Dovecot

_counter = itertools.count(1)


def message(subject: str, sender: str = "Bob <bob@example.com>", body: str = "Hello") -> bytes:
    number = next(_counter)
    return (
        f"From: {sender}\r\nTo: someone@test.local\r\nSubject: {subject}\r\n"
        f"Message-ID: <m{number}.{time.time_ns()}@example.com>\r\n"
        f"Date: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


def append(dovecot: Dovecot, user: str, subject: str, **kwargs: str) -> None:
    """APPEND one message over IMAP (blocking: call through trio.to_thread).

    A generous timeout: right after a kill, dovecot may first wait out the mailbox lock the
    killed session left behind (seen taking over 10 s on a busy machine)."""
    client = imapclient.IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=60)
    try:
        client.login(user, dovecot.users[user])
        client.append("INBOX", message(subject, **kwargs))
    finally:
        client.logout()


def drop_into_maildir(dovecot: Dovecot, user: str, subject: str) -> None:
    """Deliver one message as a file in Maildir/new (the server may be down)."""
    maildir = dovecot.home(user) / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    owner = maildir.stat()
    name = f"{time.time_ns()}.P{os.getpid()}Q{next(_counter)}.clara-test"
    path = Path(maildir / "new" / name)
    path.write_bytes(message(subject))
    os.chown(path, owner.st_uid, owner.st_gid)
