"""Mail through real processes (issue 15): ``python run.py`` against the fake Discord, a real
dovecot and a real SMTP server on loopback, wired as an operator runs it.

- ``/email connect`` in Discord, then mail to that account: an alert in the channel chosen
  with ``/email channel``; the password in no log line.
- Clara's own inbox: a mail's summary posted to the operator channel; the reply approved with
  ``/mailroom approve`` while the SMTP server is down; Clara SIGKILLed before it could send;
  the next process sends it, once, and the summary is not posted again.

Waits are on conditions (never fixed sleeps), with a generous real-time limit.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from clara.testing import Reply
from tests.email.dovecot import Dovecot
from tests.email.mail import append
from tests.mailroom.conftest import mail
from tests.mailroom.smtp_server import SmtpServer
from tests.test_deploys import CHANNEL, GUILD, eventually, world

pytestmark = pytest.mark.trio

PASSWORD = "Kim-s3cret-Pa55"
CLARA = "clara@test.local"
CLARA_PASSWORD = "clara-imap-pw"
ADMIN = "8"  # Discord's administrator permission


def embed_titles(posted: list[object]) -> list[str]:
    return [str(e.get("title", "")) for p in posted for e in getattr(p, "embeds", [])]


async def test_an_account_connected_with_email_connect_alerts_in_the_channel_chosen(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    dovecot.add_user("kim@test.local", PASSWORD)
    env = {"CLARA_EMAIL_PRIVATE_HOSTS": "true", "CLARA_LOG_LEVEL": "DEBUG"}
    async with world(tmp_path, env) as w:
        async with w.clara() as clara:
            connect = {
                "host": "127.0.0.1",
                "port": dovecot.port,
                "tls": False,
                "user": "kim@test.local",
                "password": PASSWORD,
            }
            with trio.fail_after(60):
                connected = await w.discord.slash("email", "connect", connect, guild_id=GUILD)
                here = await w.discord.slash("email", "channel", {"to": "here"}, guild_id=GUILD)
            assert connected.startswith("Connected kim@test.local"), connected
            assert "everyone" in here.lower()  # warned: the channel's people will read the alerts
            with trio.fail_after(60):
                while "idle" not in await w.discord.slash("email", "status"):
                    await trio.sleep(0.1)
            await trio.to_thread.run_sync(
                append, dovecot, "kim@test.local", "Your parcel ships today"
            )
            await eventually(
                lambda: any("parcel" in t for t in embed_titles(w.discord.posted)),
                "the alert in the channel",
            )
            [alert] = [p for p in w.discord.posted if p.embeds]
            assert alert.channel_id == CHANNEL
            assert await clara.terminate() == 0
        logs = (w.data / "stderr.log").read_text(errors="replace")
        assert PASSWORD not in logs  # at DEBUG too (discord.py logs interactions there)
        assert PASSWORD not in "".join(a for _, a, _ in w.discord.interaction_answers)


async def test_an_approved_reply_waiting_for_smtp_survives_a_kill_and_is_sent_once(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    dovecot.add_user(CLARA, CLARA_PASSWORD)
    smtp = SmtpServer()
    smtp.start()
    try:
        env = {
            "CLARA_MAILROOM_ENABLED": "true",
            "CLARA_MAILROOM_ADDRESS": CLARA,
            "CLARA_MAILROOM_OPERATOR_CHANNEL": CHANNEL,
            "CLARA_MAILROOM_IMAP_HOST": "127.0.0.1",
            "CLARA_MAILROOM_IMAP_PORT": str(dovecot.port),
            "CLARA_MAILROOM_IMAP_TLS": "false",
            "CLARA_MAILROOM_IMAP_PASSWORD": CLARA_PASSWORD,
            "CLARA_MAILROOM_SMTP_HOST": "127.0.0.1",
            "CLARA_MAILROOM_SMTP_PORT": str(smtp.port),
            "CLARA_MAILROOM_SMTP_SECURITY": "plain",
            "CLARA_MAILROOM_SMTP_AUTH": "false",
            "CLARA_MAILROOM_TIMEOUT": "5",
            "CLARA_MAILROOM_RETRY_SECONDS": "1",
        }
        async with world(tmp_path, env) as w:
            w.model.default = Reply(
                '{"summary": "Bob asks about lunch on Friday.", '
                '"reply": "Friday works, see you at noon. Clara"}'
            )
            async with w.clara() as clara:
                await eventually(lambda: mailbox_watched(w.data), "Clara to look at her inbox")
                lunch = mail("Lunch on Friday?", message_id="<lunch@example.com>")
                await trio.to_thread.run_sync(append_raw, dovecot, lunch)
                await eventually(
                    lambda: any("Lunch" in t for t in embed_titles(w.discord.posted)),
                    "the summary in the operator channel",
                )
                [title] = embed_titles(w.discord.posted)
                number = re.search(r"#(\d+)", title)
                assert number is not None
                smtp.stop()  # the mail server is down when the operator approves
                with trio.fail_after(60):
                    approved = await w.discord.slash(
                        "mailroom", "approve", {"id": int(number.group(1))}, permissions=ADMIN
                    )
                assert "approved" in approved.lower(), approved
                with trio.fail_after(60):
                    while "retrying" not in await w.discord.slash(
                        "mailroom", "pending", permissions=ADMIN
                    ):
                        await trio.sleep(0.1)
                clara.kill()  # with the approved reply not yet sent
                await clara.process.wait()
            assert smtp.received == []

            smtp.start()
            async with w.clara() as clara:
                with trio.fail_after(120):
                    [sent] = await smtp.wait_for(1)
                await trio.lowlevel.checkpoint()  # anything doubled would be on its way by now
                assert await clara.terminate() == 0
            assert len(smtp.received) == 1
            assert sent.message["In-Reply-To"] == "<lunch@example.com>"
            assert "Friday works" in sent.message.get_body().get_content()  # type: ignore[union-attr]
            # The summary was posted once (the second process did not post it again), and
            # the operator was told once that the send had to wait.
            titles = embed_titles(w.discord.posted)
            assert [t for t in titles if t.startswith("✉️")] == ["✉️ #1 · Lunch on Friday?"]
            assert len([t for t in titles if "could not be sent" in t]) == 1
    finally:
        smtp.stop()


def mailbox_watched(data: Path) -> bool:
    """Whether Clara's inbox has been looked at (mail from now on is news)."""
    database = data / "clara.db"
    if not database.exists():
        return False
    with sqlite3.connect(database, timeout=5) as connection:
        try:
            rows = connection.execute("SELECT synced_at FROM mailroom_mailboxes").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return False
    return any(synced is not None for (synced,) in rows)


def append_raw(dovecot: Dovecot, raw: bytes) -> None:
    import imapclient  # noqa: PLC0415

    client = imapclient.IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=60)
    try:
        client.login(CLARA, dovecot.users[CLARA])
        client.append("INBOX", raw)
    finally:
        client.logout()
