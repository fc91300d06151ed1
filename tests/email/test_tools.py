"""The model's mail tools (``search_email``, ``read_email``) against a real dovecot on loopback:
found by sender, subject and body words, newest first and bounded; a message read with its
text and its attachments named, never inlined; only the asker's own accounts, ever; hostile
queries and references are harmless; a refused login or a silent server is a clear error
without the password; the tools are offered only to people with accounts, and the owners
index is kept fresh on the virtual clock.

Real sockets and worker threads cannot run on a virtual clock, except in the timeout test
(the silent server), where jumping to the deadline at once is the point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage

import imapclient
import msgspec
import pytest
import trio
import trio.lowlevel

from clara.actors.channel.subsystem import tools_for
from clara.actors.email.tools import MailOwnersRefresher
from clara.adapters.email import ImapEndpoint, ImapSession, open_session
from clara.config import Settings, load_settings
from clara.store import Database, SecretBox, add_email_account, ensure_user
from clara.store.models import EmailAccount
from clara.testing import ActorTestKit, incoming
from clara.tools import EmailTools, MailToolbox, MailUnreachable
from tests.email.conftest import make_account
from tests.email.dovecot import Dovecot
from tests.email.mail import append

ANN = "ann@test.local"
BOB = "bob@test.local"
ATTACHMENT_SECRET = "TOP-SECRET-ATTACHMENT-CONTENT"


def append_raw(dovecot: Dovecot, user: str, raw: bytes) -> None:
    client = imapclient.IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=10)
    try:
        client.login(user, dovecot.users[user])
        client.append("INBOX", raw)
    finally:
        client.logout()


def with_attachment(subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Carol <carol@example.com>"
    message["To"] = ANN
    message["Subject"] = subject
    message["Date"] = "Tue, 2 Dec 2026 09:00:00 +0000"
    message.set_content(body)
    message.add_attachment(
        (ATTACHMENT_SECRET + "\n") * 100,
        subtype="csv",
        filename="figures.csv",
    )
    message.add_attachment(b"\x89PNG" + b"\0" * 3000, "image", "png", filename="chart.png")
    return message.as_bytes()


class Counting:
    """``open_session``, remembering whom it logged in as."""

    def __init__(self) -> None:
        self.users: list[str] = []

    def __call__(self, endpoint: ImapEndpoint) -> ImapSession:
        self.users.append(endpoint.username)
        return open_session(endpoint)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a store read in a worker thread without moving the virtual clock: checkpoints
    only (autojump waits for every task to block), bounded in real time."""
    deadline = time.monotonic() + 10.0
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await trio.lowlevel.checkpoint()


async def owners_of(toolbox: MailToolbox) -> None:
    await toolbox.owners.refresh()


def ann_tools(toolbox: MailToolbox) -> EmailTools:
    tools = toolbox.tools_for("discord", f"owner-{ANN}")
    assert tools is not None
    return tools


@pytest.fixture
def setup(dovecot: Dovecot, database: Database, box: SecretBox) -> tuple[Dovecot, MailToolbox]:
    make_account(database, box, dovecot, ANN)
    make_account(database, box, dovecot, BOB)
    return dovecot, MailToolbox(database, box, timeout=10.0)


def reference_in(text: str) -> str:
    return next(line.split("reference: ")[1] for line in text.splitlines() if "reference:" in line)


@pytest.mark.trio
async def test_search_finds_by_sender_subject_and_body_words_newest_first_and_bounded(
    setup: tuple[Dovecot, MailToolbox],
) -> None:
    dovecot, toolbox = setup
    for number in range(5):
        await trio.to_thread.run_sync(
            lambda n=number: append(dovecot, ANN, f"Invoice {n}", body=f"Amount due {n}")
        )
    await trio.to_thread.run_sync(
        lambda: append(dovecot, ANN, "Lunch?", sender="Zed Quux <zed@quux.example>")
    )
    await trio.to_thread.run_sync(
        lambda: append(dovecot, ANN, "Hello", body="the pangolin report is attached")
    )
    await owners_of(toolbox)
    tools = ann_tools(toolbox)

    by_sender = await tools.call("search_email", {"query": "quux"})
    assert "Lunch?" in by_sender and "Invoice" not in by_sender
    assert "reference: mail:" in by_sender and ANN in by_sender
    by_body = await tools.call("search_email", {"query": "PANGOLIN"})
    assert "Hello" in by_body and "pangolin report" in by_body
    by_subject = await tools.call("search_email", {"query": "invoice", "limit": 2})
    assert "the newest 2 of 5" in by_subject
    # UIDs (arrival order) break the tie of equal Date headers: the last appended first.
    assert by_subject.index("Invoice 4") < by_subject.index("Invoice 3")
    assert "Invoice 0" not in by_subject
    both_words = await tools.call("search_email", {"query": "invoice due 3"})
    assert "Invoice 3" in both_words and "Invoice 2" not in both_words
    assert "No message matches" in await tools.call("search_email", {"query": "nothinglikethis"})
    with pytest.raises(ValueError, match="limit"):
        await tools.call("search_email", {"query": "invoice", "limit": 500})


@pytest.mark.trio
async def test_read_gives_headers_text_and_attachments_by_name_never_their_content(
    setup: tuple[Dovecot, MailToolbox],
) -> None:
    dovecot, toolbox = setup
    long_body = "Figures for the quarter. " + "word " * 2000
    await trio.to_thread.run_sync(
        lambda: append_raw(dovecot, ANN, with_attachment("Quarterly figures", long_body))
    )
    await owners_of(toolbox)
    tools = ann_tools(toolbox)
    found = await tools.call("search_email", {"query": "quarterly"})
    assert "has attachments" in found

    text = await tools.call("read_email", {"reference": reference_in(found)})
    assert "From: Carol <carol@example.com>" in text
    assert f"To: {ANN}" in text and "Subject: Quarterly figures" in text
    assert "Figures for the quarter." in text
    assert "- figures.csv (text/csv, 3 KB)" in text
    assert "- chart.png (image/png," in text
    assert ATTACHMENT_SECRET not in text
    assert "cut at 4000 characters" in text and len(text) < 4600


@pytest.mark.trio
async def test_another_persons_account_is_never_searched_nor_read(
    setup: tuple[Dovecot, MailToolbox], database: Database, box: SecretBox
) -> None:
    dovecot, _ = setup
    connect = Counting()
    toolbox = MailToolbox(database, box, timeout=10.0, connect=connect)
    await trio.to_thread.run_sync(lambda: append(dovecot, BOB, "Bob's private wombat"))
    await trio.to_thread.run_sync(lambda: append(dovecot, ANN, "Ann's own note"))
    await owners_of(toolbox)
    bob = toolbox.tools_for("discord", f"owner-{BOB}")
    assert bob is not None
    bobs_reference = reference_in(await bob.call("search_email", {"query": "wombat"}))
    connect.users.clear()

    ann = ann_tools(toolbox)
    assert "No message matches" in await ann.call("search_email", {"query": "wombat"})
    with pytest.raises(ValueError, match="no connected account 'bob@test.local'"):
        await ann.call("search_email", {"query": "wombat", "account": BOB})
    with pytest.raises(ValueError, match="not found") as theirs:
        await ann.call("read_email", {"reference": bobs_reference})
    # Theirs or nobody's: the same answer (only the reference differs).
    with pytest.raises(ValueError, match="not found") as nobodys:
        await ann.call("read_email", {"reference": "mail:999999:1:1"})
    assert str(theirs.value).replace(bobs_reference, "X") == str(nobodys.value).replace(
        "mail:999999:1:1", "X"
    )
    assert connect.users == [ANN]  # Bob's mailbox was never even logged in to
    assert toolbox.tools_for("discord", "someone-without-mail") is None


HOSTILE = [
    'x" LOGOUT',
    "x\r\nA1 LOGOUT\r\n",
    "{5}\r\nhello",
    ") OR ALL (",
    '\\ " ( ) { } * % ]',
    "ünïcödé {999999}",
    "a" * 1_000_000,
    " ".join(["ALL"] * 10_000),
]


@pytest.mark.trio
async def test_hostile_queries_and_references_are_harmless(
    setup: tuple[Dovecot, MailToolbox],
) -> None:
    dovecot, toolbox = setup
    await trio.to_thread.run_sync(lambda: append(dovecot, ANN, "Ordinary mail"))
    await owners_of(toolbox)
    tools = ann_tools(toolbox)
    for query in HOSTILE:
        try:
            answer = await tools.call("search_email", {"query": query})
        except ValueError as error:
            assert "word" in str(error)
            continue
        # Nothing was matched by a smuggled ALL; the session still worked.
        assert "Ordinary mail" not in answer, query[:40]
    for reference in ["mail:1:1:1 OR 1", "mail:-1:1:1", "../../etc", "mail:1:1:" + "9" * 40, ""]:
        with pytest.raises(ValueError, match="not found"):
            await tools.call("read_email", {"reference": reference})
    assert "Ordinary mail" in await tools.call("search_email", {"query": "ordinary"})


@pytest.mark.trio
async def test_a_refused_login_names_the_account_and_never_the_password(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    make_account(database, box, dovecot, ANN, password="wrong-Pa55word")
    toolbox = MailToolbox(database, box, timeout=10.0)
    await owners_of(toolbox)
    with pytest.raises(MailUnreachable) as caught:
        await ann_tools(toolbox).call("search_email", {"query": "anything"})
    message = str(caught.value)
    assert message.startswith(f"your account {ANN} cannot be reached:")
    assert "refused the login" in message
    assert "wrong-Pa55word" not in message and "secret" not in message


@pytest.mark.trio
async def test_a_silent_server_is_given_up_at_the_timeout(
    autojump_clock: trio.testing.MockClock, database: Database, box: SecretBox
) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    with database.unit_of_work() as session:
        owner = ensure_user(session, "discord", "quiet-owner", "Owner")
        session.flush()
        add_email_account(
            session,
            box,
            user_id=owner.id,
            address="q@test.local",
            imap_host="127.0.0.1",
            imap_port=port,
            username="q@test.local",
            password="pw-never-shown",
            use_tls=False,
        )
    # A short real socket timeout too, so the abandoned thread ends soon after the test.
    toolbox = MailToolbox(database, box, timeout=2.0)
    await toolbox.owners.refresh()
    tools = toolbox.tools_for("discord", "quiet-owner")
    assert tools is not None
    started = trio.current_time()
    with pytest.raises(MailUnreachable, match=r"q@test.local cannot be reached: .*within 2 s"):
        await tools.call("search_email", {"query": "hello"})
    assert trio.current_time() - started == pytest.approx(2.0)
    listener.close()


@pytest.mark.trio
async def test_the_tools_are_offered_only_with_email_on_and_an_account_connected(
    setup: tuple[Dovecot, MailToolbox],
) -> None:
    _, toolbox = setup
    settings = load_settings({})

    def offered(author: str, chosen: Settings = settings) -> set[str]:
        registry_for = tools_for(chosen, None, None, mail=toolbox)
        return {spec.name for spec in registry_for(incoming("hi", author=author)).specs()}

    mail_tools = {"email__search_email", "email__read_email"}
    assert not mail_tools & offered(f"owner-{ANN}")  # the index is not loaded yet
    await owners_of(toolbox)
    assert offered(f"owner-{ANN}") >= mail_tools
    assert not mail_tools & offered("ada")
    toolbox.owners.note_connected("discord", "ada")
    assert offered("ada") >= mail_tools
    disabled = msgspec.structs.replace(
        settings, email=msgspec.structs.replace(settings.email, enabled=False)
    )
    assert not mail_tools & offered(f"owner-{ANN}", disabled)
    assert not mail_tools & {
        spec.name for spec in tools_for(settings, None, None)(incoming("hi")).specs()
    }


@pytest.mark.trio
async def test_the_owners_index_is_loaded_at_start_and_refreshed_on_its_period(
    autojump_clock: trio.testing.MockClock, database: Database, box: SecretBox
) -> None:
    toolbox = MailToolbox(database, box)
    dovecot_less = "nobody@test.local"
    async with ActorTestKit() as kit:
        await kit.spawn(lambda: MailOwnersRefresher(toolbox, every=60.0), name="mail_tools")
        await until(lambda: toolbox.owners.loaded)
        assert toolbox.tools_for("discord", "late") is None
        with database.unit_of_work() as session:
            owner = ensure_user(session, "discord", "late", "Late")
            session.flush()
            add_email_account(
                session,
                box,
                user_id=owner.id,
                address=dovecot_less,
                imap_host="127.0.0.1",
                imap_port=1,
                username=dovecot_less,
                password="pw",
                use_tls=False,
            )
        await trio.sleep(30.0)
        assert toolbox.tools_for("discord", "late") is None
        await trio.sleep(31.0)  # past the next refresh (its store read may still be running)
        await until(lambda: toolbox.tools_for("discord", "late") is not None)
        with database.unit_of_work() as session:
            for row in session.query(EmailAccount).all():
                row.enabled = False
        await trio.sleep(60.0)
        await until(lambda: toolbox.tools_for("discord", "late") is None)


@pytest.mark.trio
async def test_an_account_in_error_is_named_and_never_logged_in_to_while_the_others_are_searched(
    dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    make_account(database, box, dovecot, ANN)
    broken = make_account(database, box, dovecot, "ann2@test.local", password="changed")
    with database.unit_of_work() as session:  # where the account actor leaves a refused one
        row = session.get(EmailAccount, broken)
        assert row is not None
        row.user_id = session.query(EmailAccount).filter_by(address=ANN).one().user_id
        row.status, row.last_error = "error", "the server refused the login"
    await trio.to_thread.run_sync(append, dovecot, ANN, "Quarterly figures")
    counting = Counting()
    toolbox = MailToolbox(database, box, timeout=10.0, connect=counting)
    await owners_of(toolbox)
    found = await ann_tools(toolbox).call("search_email", {"query": "figures"})
    assert "Quarterly figures" in found
    assert "your account ann2@test.local is in error: the server refused the login" in found
    with pytest.raises(MailUnreachable, match="ann2@test.local is in error"):
        await ann_tools(toolbox).call("read_email", {"reference": f"mail:{broken}:1:1"})
    assert counting.users == [ANN]  # the broken account was never tried


@pytest.mark.trio
async def test_accounts_are_searched_at_once_so_silent_ones_cost_one_timeout_not_the_sum(
    mock_clock: trio.testing.MockClock, database: Database, box: SecretBox
) -> None:
    # The clock jumps only once every task has waited a real half second: each account's
    # password is read from the store (a worker thread) before any deadline is reached.
    mock_clock.autojump_threshold = 0.5
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    with database.unit_of_work() as session:
        owner = ensure_user(session, "discord", "quiet-owner", "Owner")
        session.flush()
        for index in range(3):  # three silent servers of hers
            add_email_account(
                session,
                box,
                user_id=owner.id,
                address=f"silent{index}@test.local",
                imap_host="127.0.0.1",
                imap_port=listener.getsockname()[1],
                username=f"silent{index}",
                password="pw",
                use_tls=False,
            )
    toolbox = MailToolbox(database, box, timeout=2.0)
    await toolbox.owners.refresh()
    tools = toolbox.tools_for("discord", "quiet-owner")
    assert tools is not None
    started = trio.current_time()
    with pytest.raises(MailUnreachable) as caught:
        await tools.call("search_email", {"query": "figures"})
    assert str(caught.value).count("cannot be reached") == 3
    # One after another they would have taken three timeouts (6 s of virtual time).
    assert trio.current_time() - started == pytest.approx(2.0)
    listener.close()
