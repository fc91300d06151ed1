"""Mail accounts that sign in with OAuth, against a real dovecot whose oauth2 passdb asks a
fake provider on loopback (``test_oauth_fake``): the sign-in from link to saved account, the
account actor logging in with XOAUTH2, tokens refreshed before they expire and when the
server refuses them, a revoked grant told to the owner once, and every failure of the
sign-in saving nothing. No token ever reaches a log or a page."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from sqlalchemy import select

from clara.actors import ActorRef
from clara.actors.email import (
    AccountOptions,
    EmailAccountActor,
    EmailOAuth,
    EmailTokens,
    NoticeKind,
    shared_oauth_callback,
)
from clara.actors.email.connect import OAuthConnector
from clara.adapters.email import (
    ImapEndpoint,
    ImapLoginRefused,
    OAuthProvider,
    oauth_providers,
    open_session,
)
from clara.adapters.mcp import OAuthClient
from clara.adapters.mcp._oauth import AuthorizationLost
from clara.config import load_settings
from clara.store import Database, SecretBox, email_password, load_email_oauth_credentials
from clara.store.models import AuditLogEntry, EmailAccount, EmailOAuthToken
from clara.supervisors import Backoff
from clara.testing import ActorTestKit, FakeTransport, throwaway_database
from clara.tools import MailToolbox, MailUnreachable
from tests.email.conftest import account_row
from tests.email.dovecot import Dovecot, dovecot_binary
from tests.email.mail import append
from tests.email.test_account import RecordingSink, wait_sent, wait_state
from tests.email.test_oauth_fake import FakeProvider
from tests.helpers import require

USER = "ann@test.local"
FAST = AccountOptions(imap_timeout=5.0, idle_renew=30.0, failure_threshold=1000)

pytestmark = pytest.mark.trio


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    provider.start()
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture
def dovecot(fake: FakeProvider) -> Iterator[Dovecot]:
    """A dovecot that takes XOAUTH2 logins, checked against the fake's introspection."""
    require(dovecot_binary(), "dovecot (dovecot-imapd)")
    server = Dovecot(oauth2_introspection=f"{fake.base}/introspect")
    server.add_user(USER)
    server.add_user("mallory@test.local")
    server.start()
    try:
        yield server
    finally:
        server.close()


class WallClock:
    """Wall-clock seconds a test moves (token expiry); trio's clock is another matter."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def configured_providers(fake: FakeProvider, dovecot: Dovecot) -> dict[str, OAuthProvider]:
    """The operator's provider ``testmail``, through the setting as an operator writes it."""
    document = {
        "testmail": {
            "title": "TestMail",
            "authorization_url": f"{fake.base}/authorize",
            "token_url": f"{fake.base}/token",
            "scopes": ["mail", "offline"],
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_tls": False,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
        }
    }
    env = {"CLARA_EMAIL_OAUTH_PROVIDERS": json.dumps(document)}
    return oauth_providers(load_settings(env, data_dir_needed=False).email)


@dataclass
class Rig:
    fake: FakeProvider
    dovecot: Dovecot
    database: Database
    box: SecretBox
    oauth: EmailOAuth
    tokens: EmailTokens
    wall: WallClock
    connected: list[int] = field(default_factory=list)

    async def start(self, address: str = USER) -> str:
        """What ``/email connect provider:testmail`` shows: the link."""
        text = await self.oauth.start(
            platform="discord",
            user_id="owner-1",
            display_name="Ann",
            provider="testmail",
            address=address,
            alert_channel_id="alerts",
        )
        assert "within 30 minutes" in text, text
        return text.rsplit("\n", 1)[1]

    async def sign_in(self, address: str = USER) -> str:
        """The whole sign-in: the link, the browser's round trip, the callback's page."""
        state, code, error = await browse(await self.start(address))
        page = await self.oauth.finish(state, code, error)
        assert page is not None
        return page

    def account_id(self) -> int:
        with self.database.unit_of_work() as session:
            found = session.scalars(select(EmailAccount.id)).all()
        assert len(found) == 1, found
        return found[0]

    def actor(
        self, account_id: int, sink: RecordingSink, options: AccountOptions = FAST
    ) -> EmailAccountActor:
        return EmailAccountActor(
            account_id,
            database=self.database,
            secrets=self.box,
            sink=sink,
            limiter=trio.CapacityLimiter(4),
            options=options,
            tokens=self.tokens,
        )


@asynccontextmanager
async def rig(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> AsyncIterator[Rig]:
    wall = WallClock()
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = OAuthClient(http, now=wall)
        connected: list[int] = []

        async def on_connected(account_id: int) -> None:
            connected.append(account_id)

        oauth = EmailOAuth(
            configured_providers(fake, dovecot),
            database=database,
            secrets=box,
            oauth=client,
            redirect_url="http://127.0.0.1:8787/oauth/callback",
            on_connected=on_connected,
            imap_timeout=5.0,
        )
        tokens = EmailTokens(database, box, client, now=wall)
        yield Rig(fake, dovecot, database, box, oauth, tokens, wall, connected)


async def browse(link: str) -> tuple[str, str, str]:
    """What the person's browser does: open the link, come back; (state, code, error) as
    the status endpoint hands them over (error and its description in one string). A plain
    ``http.client``: the browser is not Clara, and logs nothing Clara's logs are checked for.
    """
    url = urllib.parse.urlsplit(link)

    def get() -> tuple[int, str]:
        connection = http.client.HTTPConnection(url.netloc, timeout=10)
        try:
            connection.request("GET", f"{url.path}?{url.query}")
            response = connection.getresponse()
            return response.status, response.getheader("Location") or ""
        finally:
            connection.close()

    status, where = await trio.to_thread.run_sync(get)
    assert status == 302, status
    location = urllib.parse.urlsplit(where)
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "http://127.0.0.1:8787/oauth/callback"
    )
    query = dict(urllib.parse.parse_qsl(location.query))
    error = f"{query.get('error', '')} {query.get('error_description', '')}".strip()
    return query["state"], query.get("code", ""), error


def stored_bytes(database: Database) -> bytes:
    """Every byte of the SQLite database (its WAL too)."""
    path = Path(str(database.engine.url.database))
    return b"".join(
        part.read_bytes() for part in path.parent.glob(path.name + "*") if part.is_file()
    )


def nothing_saved(database: Database) -> bool:
    with database.unit_of_work() as session:
        return not session.scalars(select(EmailAccount)).all() and not (
            session.scalars(select(EmailOAuthToken)).all()
        )


async def put(dovecot: Dovecot, subject: str) -> None:
    await trio.to_thread.run_sync(append, dovecot, USER, subject)


async def until(condition: object, limit: float = 15.0) -> None:
    assert callable(condition)
    with trio.fail_after(limit):
        while not condition():
            await trio.sleep(0.02)


# -- the whole way ------------------------------------------------------------------------


async def test_a_sign_in_saves_the_account_and_its_actor_alerts_new_mail_over_xoauth2(
    fake: FakeProvider,
    dovecot: Dovecot,
    database: Database,
    box: SecretBox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    async with rig(fake, dovecot, database, box) as r:
        connector: OAuthConnector = r.oauth  # what /email connect is built against
        assert connector.providers() == ["testmail"]
        link = await r.start()
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        assert link.startswith(f"{fake.base}/authorize?")
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert len(query["state"]) >= 43 and query["client_id"] == fake.client_id
        assert query["scope"] == "mail offline" and query["login_hint"] == USER
        assert query["redirect_uri"] == "http://127.0.0.1:8787/oauth/callback"
        assert "resource" not in query and fake.client_secret not in link
        state, code, error = await browse(link)
        page = await r.oauth.finish(state, code, error)
        assert page == (
            f"Connected: Clara now watches {USER} (signed in with TestMail). You can close "
            "this page."
        )
        account_id = r.account_id()
        assert r.connected == [account_id]
        assert fake.grants == ["authorization_code"]
        row = account_row(database, account_id)
        assert (row.auth_method, row.oauth_provider, row.username) == ("oauth2", "testmail", USER)
        assert (row.imap_port, row.use_tls, row.alert_channel_id) == (dovecot.port, False, "alerts")
        with database.unit_of_work() as session:
            assert email_password(session, box, account_id) == ""
            credentials = load_email_oauth_credentials(session, box, account_id)
        assert credentials is not None
        assert credentials.access_token == fake.current_access_token()
        assert credentials.client_secret == fake.client_secret
        assert credentials.token_endpoint == f"{fake.base}/token"
        # Then the account's actor logs in with the token and alerts new mail.
        async with ActorTestKit() as kit:
            ref = await kit.spawn(lambda: r.actor(account_id, sink), name="account")
            await wait_state(ref, "idle")
            await put(dovecot, "Hello over OAuth")
            await wait_sent(transport, 1)
        assert "Subject: Hello over OAuth" in transport.sent[0].text
        assert fake.grants == ["authorization_code"]  # the token had an hour left: no refresh
        # Replaying the callback does nothing more.
        again = await r.oauth.finish(state, code, error)
        assert again is not None and again.startswith(f"This sign-in link for {USER} was already")
        assert r.connected == [account_id]
    assert "method=XOAUTH2" in dovecot.log_tail(200)
    raw = stored_bytes(database)
    for secret in [*fake.issued, fake.client_secret]:
        assert secret not in caplog.text and secret not in page
        assert secret.encode() not in raw
        sasl = base64.b64encode(f"user={USER}\x01auth=Bearer {secret}\x01\x01".encode())
        assert sasl.decode() not in caplog.text  # nor the XOAUTH2 string on the wire
    assert all(secret not in sent.text for sent in transport.sent for secret in fake.issued)
    with database.unit_of_work() as session:
        outcomes = [entry.outcome for entry in session.scalars(select(AuditLogEntry))]
    assert outcomes == ["done"]


async def test_a_token_near_its_expiry_is_refreshed_and_saved_encrypted_before_a_reconnect(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    transport = FakeTransport()
    async with rig(fake, dovecot, database, box) as r:
        await r.sign_in()
        account_id = r.account_id()
        first = fake.current_access_token()
        async with ActorTestKit(
            backoff=Backoff(min=0.05, max=0.2, jitter=0.0), max_restarts=1000
        ) as kit:
            ref = await kit.spawn(
                lambda: r.actor(account_id, RecordingSink(transport)), name="account"
            )
            await wait_state(ref, "idle")
            # 56 minutes on: four are left, less than the five-minute margin. The IDLE
            # session lives on (the server keeps it); the reconnect needs a new token.
            r.wall.now += 56 * 60
            dovecot.kill()
            dovecot.start()
            await until(lambda: len(fake.grants) == 2)
            await wait_state(ref, "idle")
            await put(dovecot, "after the refresh")
            await wait_sent(transport, 1)
        assert fake.grants == ["authorization_code", "refresh_token"]
        second = fake.current_access_token()
        assert second != first and r.tokens.refreshes(account_id) == 1
        with database.unit_of_work() as session:
            credentials = load_email_oauth_credentials(session, box, account_id)
        assert credentials is not None and credentials.access_token == second
        assert credentials.expires_at is not None
        assert credentials.expires_at.timestamp() == pytest.approx(r.wall.now + 3600, abs=5)
        raw = stored_bytes(database)
        assert second.encode() not in raw and credentials.refresh_token is not None
        assert credentials.refresh_token.encode() not in raw
        # Callers at once share one refresh.
        r.wall.now += 58 * 60
        results: list[str] = []

        async def ask() -> None:
            results.append(await r.tokens.access_token(account_id))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(ask)
        assert fake.grants == ["authorization_code", "refresh_token", "refresh_token"]
        assert len(set(results)) == 1 and results[0] == fake.current_access_token()


async def test_a_token_the_server_refuses_early_is_refreshed_once_and_the_login_retried(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    transport = FakeTransport()
    sink = RecordingSink(transport)
    async with rig(fake, dovecot, database, box) as r:
        await r.sign_in()
        account_id = r.account_id()
        fake.retire_access_tokens()  # revoked with most of its hour left
        async with ActorTestKit() as kit:
            ref = await kit.spawn(lambda: r.actor(account_id, sink), name="account")
            await wait_state(ref, "idle")
            await put(dovecot, "still watched")
            await wait_sent(transport, 1)
            restarts = ref.statistics().restarts
    assert fake.grants == ["authorization_code", "refresh_token"]
    assert sink.notices == [] and restarts == 0


async def test_a_revoked_grant_puts_the_account_in_error_and_tells_the_owner_once(
    fake: FakeProvider,
    dovecot: Dovecot,
    database: Database,
    box: SecretBox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = FakeTransport()
    sink = RecordingSink(transport)
    async with rig(fake, dovecot, database, box) as r:
        await r.sign_in()
        account_id = r.account_id()
        fake.revoke_refresh_tokens()  # the person removed Clara's access at the provider
        r.wall.now += 2 * 3600  # and the access token has expired
        async with ActorTestKit() as kit:
            ref: ActorRef = await kit.spawn(
                lambda: r.actor(
                    account_id, sink, AccountOptions(imap_timeout=5.0, login_retry=0.05)
                ),
                name="account",
            )
            await until(lambda: len(fake.refused) >= 3)  # tried again, slowly; no loop
            described = await wait_state(ref, "error")
            restarts = ref.statistics().restarts
    assert restarts == 0 and fake.refused == ["refresh_token"] * len(fake.refused)
    assert [notice.kind for notice in sink.notices] == [NoticeKind.AUTHORIZATION_LOST]
    assert len(transport.sent) == 1
    told = transport.sent[0].text
    assert "/email connect provider:testmail" in told and "invalid_grant" in told
    assert "/email connect provider:testmail" in described["error"]
    row = account_row(database, account_id)
    assert (row.status, row.error_notified) == ("error", True)
    for secret in [*fake.issued, fake.client_secret]:
        assert secret not in caplog.text and secret not in told


async def test_without_a_tokens_service_an_oauth_account_is_in_error_not_crashing(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    sink = RecordingSink(FakeTransport())
    async with rig(fake, dovecot, database, box) as r:
        await r.sign_in()
        account_id = r.account_id()
        actor = EmailAccountActor(  # no tokens=: run.py forgot to wire them
            account_id,
            database=database,
            secrets=box,
            sink=sink,
            limiter=trio.CapacityLimiter(1),
            options=AccountOptions(login_retry=3600.0),
        )
        async with ActorTestKit() as kit:
            ref = await kit.spawn(actor, name="account")
            described = await wait_state(ref, "error")
    assert "/email connect provider:testmail" in described["error"]
    assert [notice.kind for notice in sink.notices] == [NoticeKind.AUTHORIZATION_LOST]


# -- the sign-in's failures save nothing ----------------------------------------------------


async def test_a_refused_consent_saves_nothing_and_says_so(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    fake.deny = True
    async with rig(fake, dovecot, database, box) as r:
        page = await r.sign_in()
        assert r.connected == []
    assert page == (
        f"You did not allow Clara to read {USER} at TestMail. Nothing was saved; run "
        "/email connect provider:testmail to try again."
    )
    assert "said no" not in page  # the provider's own words are not repeated
    assert nothing_saved(database) and fake.grants == []
    with database.unit_of_work() as session:
        entry = session.scalars(select(AuditLogEntry)).one()
    assert (entry.outcome, entry.details["error"]) == ("refused", "access_denied")


async def test_a_bad_code_saves_nothing_and_says_why(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    async with rig(fake, dovecot, database, box) as r:
        state, _code, _error = await browse(await r.start())
        page = await r.oauth.finish(state, "not-the-code", "")
        assert r.connected == []
    assert page is not None
    assert page.startswith("Signing in with TestMail failed: code exchange: ")
    assert "(invalid_grant)" in page
    assert page.endswith("Nothing was saved; run /email connect provider:testmail to try again.")
    assert nothing_saved(database)


async def test_a_token_for_another_mailbox_is_refused_by_the_server_and_nothing_is_saved(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    fake.user = "mallory@test.local"  # the person signed in with another account
    async with rig(fake, dovecot, database, box) as r:
        page = await r.sign_in()
        assert r.connected == []
    assert page.startswith(
        f"You signed in, but 127.0.0.1:{dovecot.port} refused Clara's access to {USER}: is "
        "that the account you signed in with? Nothing was saved"
    )
    assert fake.grants == ["authorization_code"] and nothing_saved(database)
    assert all(secret not in page for secret in fake.issued)


async def test_a_state_that_is_not_an_email_flow_is_left_to_the_next_handler(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    async def mcp_callback(state: str, code: str, error: str) -> str:
        return f"mcp saw {state}"

    async with rig(fake, dovecot, database, box) as r:
        assert await r.oauth.finish("someone-elses-state", "code", "") is None
        shared = shared_oauth_callback(r.oauth.finish, mcp_callback)
        assert await shared("someone-elses-state", "code", "") == "mcp saw someone-elses-state"
        alone = shared_oauth_callback(r.oauth.finish, None)
        assert (await alone("nope", "", "")).startswith("This sign-in link is unknown")
        state, code, error = await browse(await r.start())
        page = await shared(state, code, error)  # the email flow answers first
    assert page.startswith("Connected: Clara now watches")


async def test_unknown_providers_and_addresses_get_no_link(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    async with rig(fake, dovecot, database, box) as r:
        unknown = await r.oauth.start(
            platform="discord",
            user_id="1",
            display_name="A",
            provider="gmail",
            address=USER,
            alert_channel_id=None,
        )
        bad = await r.oauth.start(
            platform="discord",
            user_id="1",
            display_name="A",
            provider="testmail",
            address="not an address",
            alert_channel_id=None,
        )
    assert unknown == "There is no sign-in provider called 'gmail' (offered: testmail)."
    assert bad == "'not an address' is not an email address (name@domain)."
    assert fake.authorizations == []


# -- the adapter's XOAUTH2 login ------------------------------------------------------------


async def test_a_refused_xoauth2_login_is_a_refused_login_naming_no_token(
    fake: FakeProvider, dovecot: Dovecot
) -> None:
    endpoint = ImapEndpoint(
        host="127.0.0.1",
        port=dovecot.port,
        username=USER,
        access_token="tok-not-issued-0123456789",
        use_tls=False,
        timeout=5.0,
    )
    assert "tok-not-issued" not in repr(endpoint) and "access_token=***" in repr(endpoint)
    with pytest.raises(ImapLoginRefused) as refused:
        await trio.to_thread.run_sync(open_session, endpoint)
    message = str(refused.value)
    assert "wrong user name or access token" in message and "tok-not-issued" not in message
    assert fake.introspections == 1


# -- virtual time: a link lasts 30 minutes ---------------------------------------------------


async def test_a_link_expires_after_30_minutes_on_trios_clock(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, box: SecretBox
) -> None:
    provider = OAuthProvider(
        name="testmail",
        title="TestMail",
        authorization_url="http://127.0.0.1:9/authorize",  # never reached
        token_url="http://127.0.0.1:9/token",
        scopes=("mail",),
        imap_host="127.0.0.1",
        imap_port=9,
        imap_tls=False,
        client_id="clara",
    )
    with throwaway_database(tmp_path) as database:
        async with httpx.AsyncClient() as http:

            async def on_connected(account_id: int) -> None:
                raise AssertionError("nothing connects")

            oauth = EmailOAuth(
                {"testmail": provider},
                database=database,
                secrets=box,
                oauth=OAuthClient(http),
                redirect_url="http://127.0.0.1:8787/oauth/callback",
                on_connected=on_connected,
            )
            text = await oauth.start(
                platform="discord",
                user_id="1",
                display_name="A",
                provider="testmail",
                address=USER,
                alert_channel_id=None,
            )
            state = dict(
                urllib.parse.parse_qsl(urllib.parse.urlsplit(text.rsplit("\n", 1)[1]).query)
            )["state"]
            started = trio.current_time()
            await trio.sleep(30 * 60)
            assert trio.current_time() - started == 30 * 60
            page = await oauth.finish(state, "a-code", "")
            later = await oauth.finish(state, "a-code", "")
        assert page == (
            f"This sign-in link for {USER} has expired (links last 30 minutes). Nothing was "
            "saved; run /email connect provider:testmail to try again."
        )
        assert later is not None and "already used" in later
        assert nothing_saved(database)
        # Long after, the flow is forgotten altogether: the state is someone else's.
        await trio.sleep(7 * 3600)
        assert await oauth.finish(state, "a-code", "") is None


async def test_tokens_for_an_account_without_any_are_lost_authorization(
    tmp_path: Path, box: SecretBox
) -> None:
    with throwaway_database(tmp_path) as database:
        async with httpx.AsyncClient() as http:
            tokens = EmailTokens(database, box, OAuthClient(http))
            with pytest.raises(AuthorizationLost) as lost:
                await tokens.access_token(42)
    assert lost.value.reason == "no_tokens"


async def test_a_persons_fourth_waiting_link_replaces_their_oldest(
    tmp_path: Path, box: SecretBox
) -> None:
    provider = OAuthProvider(
        name="testmail",
        title="TestMail",
        authorization_url="https://id.example/authorize",  # never reached
        token_url="https://id.example/token",
        scopes=("mail",),
        imap_host="imap.example",
        client_id="clara",
    )

    async def on_connected(account_id: int) -> None:
        raise AssertionError("nothing connects")

    with throwaway_database(tmp_path) as database:
        async with httpx.AsyncClient() as http:
            oauth = EmailOAuth(
                {"testmail": provider},
                database=database,
                secrets=box,
                oauth=OAuthClient(http),
                redirect_url="https://clara.example/oauth/callback",
                on_connected=on_connected,
            )
            states = []
            for user_id in ("1", "1", "1", "1", "2"):
                text = await oauth.start(
                    platform="discord",
                    user_id=user_id,
                    display_name="A",
                    provider="testmail",
                    address=USER,
                    alert_channel_id=None,
                )
                link = urllib.parse.urlsplit(text.rsplit("\n", 1)[1])
                states.append(dict(urllib.parse.parse_qsl(link.query))["state"])
            assert len(set(states)) == 5
            assert await oauth.finish(states[0], "", "access_denied") is None  # replaced
            for state in states[1:]:
                page = await oauth.finish(state, "", "access_denied")
                assert page is not None and page.startswith("You did not allow Clara")


# -- the model's mail tools ---------------------------------------------------------------


async def test_the_mail_tools_search_an_oauth_account_and_name_a_lost_sign_in(
    fake: FakeProvider, dovecot: Dovecot, database: Database, box: SecretBox
) -> None:
    async with rig(fake, dovecot, database, box) as r:
        await r.sign_in()
        await put(dovecot, "Boarding pass")
        toolbox = MailToolbox(database, box, timeout=10.0, tokens=r.tokens)
        await toolbox.owners.refresh()
        tools = toolbox.tools_for("discord", "owner-1")
        assert tools is not None
        fake.retire_access_tokens()  # refused at the login: refreshed once, tried again
        found = await tools.call("search_email", {"query": "boarding"})
        assert "Boarding pass" in found
        assert fake.grants == ["authorization_code", "refresh_token"]

        fake.revoke_refresh_tokens()
        fake.retire_access_tokens()
        with pytest.raises(MailUnreachable) as caught:
            await tools.call("search_email", {"query": "boarding"})
    told = str(caught.value)
    assert "sign-in with testmail no longer works" in told
    assert "/email connect provider:testmail" in told
    for secret in [*fake.issued, fake.client_secret]:
        assert secret not in told
