"""``/email connect`` against a real dovecot on loopback: the login is tested (log in, EXAMINE
INBOX) before anything is saved; the password is stored only encrypted and never reaches a
reply, a log line or the audit log; a refused login, a closed port, TLS against a plain
server and a silent server are each named in plain words and save nothing; connecting an
address again updates it; options are checked and named; private hosts and plain IMAP are
refused unless allowed; connects have their own, tighter rate; ``provider:`` hands over to
the OAuth connector; and the model's tools cannot connect anything.

Real sockets and worker threads cannot run on a virtual clock, except where jumping to a
deadline is the point (the silent server) or time is moved by hand (the rates).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing
from sqlalchemy import select

from clara.actors.email import EmailAdmin, OAuthConnector
from clara.adapters.chat import Author
from clara.adapters.email import ImapEndpoint, ImapLoginRefused, ImapSession
from clara.store import (
    Database,
    SecretBox,
    email_password,
    load_email_account,
    person_email_accounts,
)
from clara.store.models import AuditLogEntry, EmailAccount
from clara.tools import MailToolbox
from tests.email.dovecot import Dovecot, free_port
from tests.email.mail import append

ANN = "ann@test.local"
PASSWORD = "correct-horse-battery-staple"
WRONG = "Tr0ub4dor-and-3"


@dataclass
class Hooks:
    """What EmailAdmin told the rest of Clara."""

    connected: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    disconnected: list[int] = field(default_factory=list)

    async def on_connected(self, account_id: int) -> None:
        self.connected.append(account_id)

    async def on_changed(self, account_id: int) -> None:
        self.changed.append(account_id)

    async def on_disconnected(self, account_id: int) -> None:
        self.disconnected.append(account_id)


def make_admin(
    database: Database, box: SecretBox, hooks: Hooks | None = None, **kwargs: Any
) -> EmailAdmin:
    """An EmailAdmin as run.py makes one, but allowed to reach the loopback dovecot."""
    hooks = hooks or Hooks()
    kwargs.setdefault("private_hosts", True)
    kwargs.setdefault("imap_timeout", 10.0)
    return EmailAdmin(
        database,
        box,
        on_connected=hooks.on_connected,
        on_changed=hooks.on_changed,
        on_disconnected=hooks.on_disconnected,
        **kwargs,
    )


async def run(
    admin: EmailAdmin,
    command: str,
    /,
    *,
    user_id: str = "42",
    guild_id: str | None = "g1",
    channel_id: str = "c1",
    **options: Any,
) -> str:
    return await admin.run(
        command,
        options,
        Author(id=user_id, name="Ann"),
        platform="discord",
        channel_id=channel_id,
        guild_id=guild_id,
    )


def connect_options(dovecot: Dovecot, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "tls": False,
        "user": ANN,
        "password": password,
        **extra,
    }


def audit_rows(database: Database) -> list[AuditLogEntry]:
    with database.unit_of_work() as session:
        rows = list(session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id)))
        for row in rows:
            session.expunge(row)
        return rows


def accounts(database: Database, user_id: str = "42") -> list[Any]:
    with database.unit_of_work() as session:
        return [summary.account for summary in person_email_accounts(session, "discord", user_id)]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record caplog saw, message and arguments, as one text."""
    return "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )


@pytest.fixture
def ann(dovecot: Dovecot) -> Dovecot:
    dovecot.add_user(ANN, PASSWORD)
    return dovecot


@pytest.mark.trio
async def test_connect_tests_the_login_then_saves_the_account_with_the_password_encrypted(
    ann: Dovecot, database: Database, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await trio.to_thread.run_sync(append, ann, ANN, "already there")
    hooks = Hooks()
    admin = make_admin(database, box, hooks)

    answer = await run(admin, "connect", **connect_options(ann))

    assert answer.startswith(f"Connected {ANN} (127.0.0.1:{ann.port}, without TLS): INBOX has 1")
    assert "your DMs" in answer and "/email rules" in answer
    [account] = accounts(database)
    assert (account.address, account.username, account.imap_host, account.use_tls) == (
        ANN,
        ANN,
        "127.0.0.1",
        False,
    )
    assert account.alert_channel_id is None  # a DM until the person says otherwise
    assert hooks.connected == [account.id]
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, account.id)
        assert row is not None
        assert PASSWORD.encode() not in row.password_encrypted
        assert email_password(session, box, account.id) == PASSWORD
    [entry] = audit_rows(database)
    assert (entry.actor, entry.action, entry.target, entry.outcome) == (
        "discord:42",
        "email.connect",
        ANN,
        "done",
    )
    assert entry.details["host"] == "127.0.0.1" and entry.details["created"] is True
    assert PASSWORD not in json.dumps(entry.details)
    assert PASSWORD not in answer
    assert PASSWORD not in logged(caplog)


@pytest.mark.trio
async def test_a_wrong_password_saves_nothing_and_says_so_without_the_password(
    ann: Dovecot, database: Database, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks = Hooks()
    admin = make_admin(database, box, hooks)

    answer = await run(admin, "connect", **connect_options(ann, password=WRONG))

    assert answer == (
        f"Could not connect {ANN}: the server refused the login: the user name or the password "
        "is wrong. (Some providers, such as Gmail and Outlook, take only an app password or an "
        f"OAuth sign-in.) (127.0.0.1:{ann.port}; nothing was saved)."
    )
    assert accounts(database) == []
    assert hooks.connected == []
    [entry] = audit_rows(database)
    assert (entry.action, entry.outcome) == ("email.connect", "failed")
    assert "refused the login" in entry.details["reason"]
    assert WRONG not in json.dumps(entry.details)
    assert WRONG not in logged(caplog)


@pytest.mark.trio
async def test_a_closed_port_and_tls_against_a_plain_server_are_named_and_save_nothing(
    ann: Dovecot, database: Database, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = make_admin(database, box)

    closed = await run(admin, "connect", **connect_options(ann, port=free_port()))
    assert closed.startswith(f"Could not connect {ANN}: nothing answers on that port")
    assert "check the host and the port" in closed

    tls = await run(admin, "connect", **connect_options(ann, tls=True))
    assert tls.startswith(f"Could not connect {ANN}: the secure (TLS) connection failed")

    assert accounts(database) == []
    assert [(e.action, e.outcome) for e in audit_rows(database)] == [
        ("email.connect", "failed"),
        ("email.connect", "failed"),
    ]
    assert PASSWORD not in logged(caplog)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()  # the waiting connection is reset: the abandoned thread ends


@pytest.mark.trio
async def test_a_server_that_never_answers_times_out_within_the_imap_timeout(
    silent_port: int, database: Database, box: SecretBox, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = 0.2  # the thread waits in real time; the deadline is virtual
    admin = make_admin(database, box, imap_timeout=30.0)
    started = trio.current_time()

    answer = await run(
        admin,
        "connect",
        host="127.0.0.1",
        port=silent_port,
        tls=False,
        user=ANN,
        password=PASSWORD,
    )

    assert answer == (
        f"Could not connect {ANN}: the server did not answer in time "
        f"(127.0.0.1:{silent_port}; nothing was saved)."
    )
    assert trio.current_time() - started == pytest.approx(30.0)
    assert accounts(database) == []


@pytest.mark.trio
async def test_connecting_an_address_again_updates_it_and_a_refused_update_changes_nothing(
    ann: Dovecot, database: Database, box: SecretBox
) -> None:
    hooks = Hooks()
    admin = make_admin(database, box, hooks)
    await run(admin, "connect", **connect_options(ann))
    [first] = accounts(database)
    with database.unit_of_work() as session:  # as the account actor leaves it
        row = session.get(EmailAccount, first.id)
        assert row is not None
        row.uidvalidity, row.last_uid, row.status, row.failures = 7, 3, "error", 9
        row.last_error = "ann@test.local@127.0.0.1:1: the server refused the login"

    ann.add_user(ANN, "a-new-password")
    await trio.to_thread.run_sync(ann.kill)  # dovecot reads its passwd-file anew at start
    await trio.to_thread.run_sync(ann.start)
    refused = await run(admin, "connect", **connect_options(ann))  # the old one, now wrong
    assert "refused the login" in refused
    with database.unit_of_work() as session:
        assert email_password(session, box, first.id) == PASSWORD

    updated = await run(
        admin, "connect", **connect_options(ann, password="a-new-password", address=ANN.upper())
    )
    assert updated.startswith(f"Updated {ANN.upper()} (127.0.0.1:{ann.port}, without TLS)")
    [again] = accounts(database)
    assert again.id == first.id  # the same account, not a second one
    assert (again.uidvalidity, again.last_uid) == (7, 3)  # same mailbox: nothing missed
    assert (again.status, again.failures, again.last_error) == ("new", 0, None)
    with database.unit_of_work() as session:
        assert email_password(session, box, first.id) == "a-new-password"
    assert hooks.connected == [first.id, first.id]

    moved = await run(
        admin,
        "connect",
        **connect_options(ann, password="a-new-password", host="127.0.0.2", port=ann.port),
    )
    assert "Could not connect" in moved  # dovecot listens on 127.0.0.1 only
    assert [(e.action, e.outcome) for e in audit_rows(database)] == [
        ("email.connect", "done"),
        ("email.connect", "failed"),
        ("email.connect", "done"),
        ("email.connect", "failed"),
    ]


@pytest.mark.trio
async def test_an_update_to_another_login_starts_alerting_afresh(
    ann: Dovecot, database: Database, box: SecretBox
) -> None:
    ann.add_user("ann-login", PASSWORD)
    admin = make_admin(database, box)
    await run(admin, "connect", **connect_options(ann))
    [first] = accounts(database)
    with database.unit_of_work() as session:
        row = session.get(EmailAccount, first.id)
        assert row is not None
        row.uidvalidity, row.last_uid = 7, 3

    answer = await run(admin, "connect", **connect_options(ann, user="ann-login", address=ANN))

    assert "only mail arriving from now on counts as new" in answer
    with database.unit_of_work() as session:
        account = load_email_account(session, first.id)
        assert account is not None
        assert (account.username, account.uidvalidity, account.last_uid) == (
            "ann-login",
            None,
            None,
        )


def refusing_connect(endpoint: ImapEndpoint) -> ImapSession:
    raise ImapLoginRefused(f"{endpoint.label}: the server refused the login (wrong password)")


def never_connect(endpoint: ImapEndpoint) -> ImapSession:
    raise AssertionError(f"no connection may be tried; got one to {endpoint.label}")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"host": ""}, "host: required"),
        ({"host": "imaps://mail.example.com"}, "host: give only the server's name"),
        ({"host": "mail.example.com:993"}, "host: put the port in the port option"),
        ({"host": "mail_example!.com"}, "host: 'mail_example!.com' is not a server name"),
        ({"port": 0}, "port: must be between 1 and 65535"),
        ({"port": 70000}, "port: must be between 1 and 65535"),
        ({"port": "imap"}, "port: must be a whole number"),
        ({"tls": "maybe"}, "tls: must be True or False"),
        ({"user": ""}, "user: required"),
        ({"user": "ann\r\nA1 DELETE INBOX"}, "user: at most 320 characters and no control"),
        ({"password": ""}, "password: required"),
        ({"password": "pw\r\nA1 LOGOUT"}, "password: at most 1024 characters and no control"),
        ({"address": "not an address"}, "address: 'not an address' is not a mail address"),
        ({"user": "ann", "address": ""}, "address: your login name 'ann' is not a mail address"),
    ],
)
@pytest.mark.trio
async def test_each_bad_option_is_refused_by_name_before_any_connection(
    database: Database, box: SecretBox, options: dict[str, Any], expected: str
) -> None:
    admin = make_admin(database, box, connect=never_connect)
    given = {"host": "mail.example.com", "port": 993, "user": ANN, "password": "pw-1234"}
    answer = await run(admin, "connect", **{**given, **options})
    assert answer.startswith(expected), answer
    assert accounts(database) == []
    [entry] = audit_rows(database)
    assert (entry.action, entry.outcome) == ("email.connect", "refused")
    assert "password" not in entry.details


@pytest.mark.trio
async def test_without_private_hosts_only_tls_to_internet_servers_is_allowed(
    database: Database, box: SecretBox
) -> None:
    tried: list[str] = []

    def recording(endpoint: ImapEndpoint) -> ImapSession:
        tried.append(endpoint.host)
        raise ImapLoginRefused(f"{endpoint.label}: the server refused the login")

    resolved = {"mail.example.com": ["93.184.215.14"], "sneaky.example.com": ["10.1.2.3"]}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in resolved:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolved[host]

    admin = make_admin(database, box, connect=recording, private_hosts=False, resolve=resolve)
    base: dict[str, Any] = {"port": 993, "user": ANN, "password": PASSWORD}

    for host in ("127.0.0.1", "10.0.0.5", "::1", "169.254.1.1", "localhost", "db.internal"):
        answer = await run(admin, "connect", host=host, **base)
        assert answer.startswith(f"host: {host} is on a private or local network"), answer
    sneaky = await run(admin, "connect", host="sneaky.example.com", **base)
    assert "private or local network" in sneaky
    plain = await run(admin, "connect", host="93.184.215.14", tls=False, **base)
    assert plain.startswith("tls: Clara signs in only over TLS")
    unknown = await run(admin, "connect", host="nowhere.example.com", **base)
    assert unknown.startswith(f"Could not connect {ANN}: no server by that name was found")
    assert tried == []  # none of those reached a connection

    allowed = await run(admin, "connect", host="mail.example.com", **base)
    assert "refused the login" in allowed
    assert tried == ["mail.example.com"]


@pytest.mark.trio
async def test_connects_have_a_tighter_rate_than_other_commands(
    database: Database, box: SecretBox, mock_clock: trio.testing.MockClock
) -> None:
    admin = make_admin(database, box, connect=refusing_connect, connects_per_hour=2)
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 993, "user": ANN, "password": PASSWORD}

    first = await run(admin, "connect", **options)
    second = await run(admin, "connect", **options)
    third = await run(admin, "connect", **options)
    assert "refused the login" in first and "refused the login" in second
    assert third == (
        "Too many connection attempts: 2 an hour at most (each one tries a password). "
        "Try again later."
    )
    other = await run(admin, "connect", user_id="7", **options)  # someone else: their own
    assert "refused the login" in other
    assert "no mail accounts" in await run(admin, "status")  # reads are not held back

    mock_clock.jump(30 * 60)  # half an hour: one attempt back
    assert "refused the login" in await run(admin, "connect", **options)
    assert "Too many connection attempts" in await run(admin, "connect", **options)

    outcomes = [(e.actor, e.outcome) for e in audit_rows(database)]
    assert outcomes == [
        ("discord:42", "failed"),
        ("discord:42", "failed"),
        ("discord:42", "refused"),
        ("discord:7", "failed"),
        ("discord:42", "failed"),
        ("discord:42", "refused"),
    ]

    busy = make_admin(database, box, ops_per_minute=2)
    assert "no mail accounts" in await run(busy, "status")
    assert "no mail accounts" in await run(busy, "status")
    assert (await run(busy, "status")).startswith("Too many /email commands: 2 a minute")


@dataclass
class FakeOAuth:
    """The OAuth side's seam, recording what it was asked."""

    configured: list[str]
    started: list[dict[str, Any]] = field(default_factory=list)

    def providers(self) -> list[str]:
        return list(self.configured)

    async def start(
        self,
        *,
        platform: str,
        user_id: str,
        display_name: str,
        provider: str,
        address: str,
        alert_channel_id: str | None,
    ) -> str:
        self.started.append(
            {
                "platform": platform,
                "user_id": user_id,
                "display_name": display_name,
                "provider": provider,
                "address": address,
                "alert_channel_id": alert_channel_id,
            }
        )
        return f"Open https://accounts.example/authorize?state=x to sign {address} in."


@pytest.mark.trio
async def test_provider_hands_over_to_oauth_and_never_takes_a_password(
    database: Database, box: SecretBox
) -> None:
    unconfigured = make_admin(database, box, connect=never_connect)
    answer = await run(unconfigured, "connect", provider="google", address="ann@gmail.com")
    assert answer == "OAuth sign-in is not configured here."

    oauth = FakeOAuth(["google", "microsoft"])
    connector: OAuthConnector = oauth
    admin = make_admin(database, box, connect=never_connect, oauth=connector)
    unknown = await run(admin, "connect", provider="yahoo", address="ann@yahoo.com")
    assert unknown == "provider: 'yahoo' is not configured here; configured: google, microsoft"
    with_password = await run(
        admin, "connect", provider="google", address="ann@gmail.com", password="hunter22"
    )
    assert with_password.startswith("password: not used with provider:google")
    assert "hunter22" not in with_password
    no_address = await run(admin, "connect", provider="google")
    assert no_address.startswith("address: required with provider")

    link = await run(admin, "connect", provider="Google", address="ann@gmail.com")
    assert link == "Open https://accounts.example/authorize?state=x to sign ann@gmail.com in."
    assert oauth.started == [
        {
            "platform": "discord",
            "user_id": "42",
            "display_name": "Ann",
            "provider": "google",
            "address": "ann@gmail.com",
            "alert_channel_id": None,
        }
    ]
    assert accounts(database) == []  # saved by the OAuth side, when the sign-in completes
    rows = audit_rows(database)
    assert [(e.outcome, e.target) for e in rows] == [
        ("refused", "ann@gmail.com"),
        ("refused", "ann@yahoo.com"),
        ("refused", "ann@gmail.com"),
        ("refused", ""),
        ("done", "ann@gmail.com"),
    ]
    assert all("hunter22" not in json.dumps(e.details) for e in rows)


def test_the_models_mail_tools_cannot_connect_accounts(database: Database, box: SecretBox) -> None:
    from clara.tools import EmailTools  # noqa: PLC0415

    tools = EmailTools(MailToolbox(database, box), "discord", "42")
    specs = tools.specs()
    assert {spec.name for spec in specs} == {"search_email", "read_email"}
    parameters = {name for spec in specs for name in spec.parameters["properties"]}
    assert parameters == {"query", "account", "limit", "reference"}  # no login, no password
