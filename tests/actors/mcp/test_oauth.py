"""OAuth for remote MCP servers, against a fake authorization server on loopback."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
import trio
import trio.testing
from sqlalchemy import select

from clara.adapters.mcp import (
    FLOW_TIMEOUT,
    FlowState,
    InvalidTransition,
    OAuthClient,
    OAuthError,
    OAuthFlow,
)
from clara.store import (
    Database,
    SecretBox,
    generate_key,
    load_oauth_credentials,
    make_engine,
    save_oauth_credentials,
    upgrade,
)
from clara.store.models import AuditLogEntry
from tests.actors.mcp.fake_oauth import FakeOAuthServer
from tests.actors.mcp.harness import ADMIN, Running, mcp_running

pytestmark = pytest.mark.trio

REDIRECT = "http://127.0.0.1:8080/oauth/callback"


@pytest.fixture
def clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    # Jump only when nothing happens for a whole second: HTTP still flows, and a busy machine
    # (a thread or a server slow to answer for a moment) does not jump past a timeout.
    mock_clock.autojump_threshold = 1.0
    return mock_clock


@asynccontextmanager
async def remote(
    tmp_path: Path,
) -> AsyncIterator[tuple[FakeOAuthServer, Running, Database, SecretBox]]:
    fake = FakeOAuthServer()
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    upgrade(engine)
    database, secrets = Database(engine), SecretBox([generate_key()])
    env = {
        "CLARA_MCP_ALLOWED_SOURCES": "url",
        # The fake lives on loopback: installed only because the operator names its host,
        # and then (a server on this machine) its OAuth URLs may be on loopback too.
        "CLARA_MCP_ALLOW": "http://127.0.0.1:*",
        "CLARA_MCP_OAUTH_REDIRECT_URL": REDIRECT,
    }
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        async with mcp_running(tmp_path, env=env, database=database, secrets=secrets) as running:
            yield fake, running, database, secrets
        nursery.cancel_scope.cancel()


async def sign_in(link: str) -> tuple[str, str]:
    """What a person's browser does: open the link, follow it back; the (state, code)."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(link)
    assert response.status_code == 302, response.text
    location = urllib.parse.urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = dict(urllib.parse.parse_qsl(location.query))
    return query["state"], query["code"]


async def start_install(running: Running, fake: FakeOAuthServer) -> str:
    answer = await running.mcp.admin.run(
        "install", {"source": f"{fake.base}/mcp", "name": "remote"}, ADMIN
    )
    assert answer.startswith("remote needs you to sign in first. Open this link within 30"), answer
    return answer.rsplit("\n", 1)[1]


async def test_the_whole_flow_installs_a_remote_server_with_encrypted_tokens(
    tmp_path: Path, clock: object
) -> None:
    async with remote(tmp_path) as (fake, running, database, secrets):
        link = await start_install(running, fake)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert query["resource"] == f"{fake.base}/mcp" and query["redirect_uri"] == REDIRECT
        state, code = await sign_in(link)
        done = await running.mcp.oauth_callback(state, code, "")
        assert done == "Clara is connected to remote (7 tools). You can close this page."
        assert fake.grants == ["authorization_code"]
        # The server works, with the token on every request.
        added = await running.registry().call("remote__add", {"a": 40, "b": 2}, timeout=30)
        assert added.text == "42"
        # A callback replayed with the same state finds nothing.
        replay = await running.mcp.oauth_callback(state, code, "")
        assert replay.startswith("This sign-in link is unknown or has expired")
        with database.unit_of_work() as session:
            credentials = load_oauth_credentials(session, secrets, "remote")
        assert credentials is not None and credentials.access_token in fake.access_tokens
        assert credentials.client_id == "client-1"
    raw = (tmp_path / "clara.db").read_bytes()
    assert credentials.access_token.encode() not in raw
    assert credentials.refresh_token is not None
    assert credentials.refresh_token.encode() not in raw


async def test_a_token_is_refreshed_five_minutes_before_it_expires(
    tmp_path: Path, clock: object
) -> None:
    async with remote(tmp_path) as (fake, running, database, secrets):
        state, code = await sign_in(await start_install(running, fake))
        await running.mcp.oauth_callback(state, code, "")

        def expire_in(minutes: float) -> None:
            with database.unit_of_work() as session:
                credentials = load_oauth_credentials(session, secrets, "remote")
                assert credentials is not None
                at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
                updated = msgspec.structs.replace(credentials, expires_at=at)
                save_oauth_credentials(session, secrets, "remote", updated)

        expire_in(6)  # more than 5 minutes left: used as it is
        await running.mcp.admin.run("restart", {"name": "remote"}, ADMIN)
        assert (
            await running.registry().call("remote__echo", {"text": "a"}, timeout=30)
        ).text == "a"
        assert fake.grants == ["authorization_code"]
        expire_in(4)  # less than 5 minutes left: refreshed before the next connection
        await running.mcp.admin.run("restart", {"name": "remote"}, ADMIN)
        assert (
            await running.registry().call("remote__echo", {"text": "b"}, timeout=30)
        ).text == "b"
        assert fake.grants == ["authorization_code", "refresh_token"]
        with database.unit_of_work() as session:
            refreshed = load_oauth_credentials(session, secrets, "remote")
        assert refreshed is not None and refreshed.expires_at is not None
        left = refreshed.expires_at - dt.datetime.now(dt.UTC)
        assert dt.timedelta(minutes=59) < left <= dt.timedelta(hours=1)


async def test_a_flow_is_abandoned_after_30_minutes_and_cleaned_up(
    tmp_path: Path, clock: object
) -> None:
    async with remote(tmp_path) as (fake, running, database, _):
        link = await start_install(running, fake)
        started = trio.current_time()
        catalog = running.mcp.catalog_ref
        assert (catalog.statistics().details or {})["awaiting_authorization"] == 1
        await trio.sleep(FLOW_TIMEOUT - 1)
        assert (catalog.statistics().details or {})["awaiting_authorization"] == 1
        await trio.sleep(2)
        assert trio.current_time() - started >= FLOW_TIMEOUT
        assert (catalog.statistics().details or {})["awaiting_authorization"] == 0
        state, code = await sign_in(link)  # the person comes back too late
        late = await running.mcp.oauth_callback(state, code, "")
        assert late.startswith("This sign-in link is unknown or has expired")
        assert fake.grants == []  # the late code was never exchanged
        assert "remote" not in running.mcp.catalog.entries
        # The name is free again: a new attempt gets a new link.
        again = await start_install(running, fake)
        assert again != link
    with database.unit_of_work() as session:
        outcomes = [(e.action, e.outcome) for e in session.scalars(select(AuditLogEntry))]
    assert ("mcp.authorize", "abandoned") in outcomes


async def test_a_refused_authorization_ends_the_flow(tmp_path: Path, clock: object) -> None:
    async with remote(tmp_path) as (fake, running, _, _):
        link = await start_install(running, fake)
        state, _code = await sign_in(link)
        refused = await running.mcp.oauth_callback(state, "", "access_denied the user said no")
        assert refused == "Authorization for remote was refused (access_denied the user said no)."
        assert (running.mcp.catalog_ref.statistics().details or {})["awaiting_authorization"] == 0


@pytest.mark.parametrize(
    ("hint", "why"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://10.0.0.1/.well-known/oauth-protected-resource", "10.0.0.1 is a private"),
        ("http://93.184.216.34/.well-known/oauth-protected-resource", "plain http"),
    ],
)
async def test_an_install_stops_when_the_server_names_an_oauth_url_it_may_not(
    tmp_path: Path, clock: object, hint: str, why: str
) -> None:
    async with remote(tmp_path) as (fake, running, _, _):
        fake.hint = hint
        answer = await running.mcp.admin.run(
            "install", {"source": f"{fake.base}/mcp", "name": "remote"}, ADMIN
        )
        assert answer.startswith("/mcp install failed: protected resource metadata"), answer
        assert why in answer
        assert (running.mcp.catalog_ref.statistics().details or {})["awaiting_authorization"] == 0
        assert "remote" not in running.mcp.catalog.entries


async def test_the_state_machine_refuses_invalid_transitions() -> None:
    flow = OAuthFlow("s", "https://mcp.example/mcp", REDIRECT, started_at=0.0, started_by="t")
    with pytest.raises(InvalidTransition, match="no link before discovery and registration"):
        flow.authorization_url()
    with pytest.raises(InvalidTransition, match="cannot go from started to exchanging"):
        flow.advance(FlowState.EXCHANGING)
    async with httpx.AsyncClient() as http:
        with pytest.raises(InvalidTransition, match="register before discovery"):
            await OAuthClient(http).register(flow)
        with pytest.raises(InvalidTransition, match="cannot go from started to exchanging"):
            await OAuthClient(http).exchange(flow, "code")
    flow.advance(FlowState.ABANDONED)
    for target in FlowState:
        with pytest.raises(InvalidTransition, match="cannot go from abandoned"):
            flow.advance(target)
    assert flow.history == [FlowState.STARTED, FlowState.ABANDONED]


async def test_discovery_refuses_a_server_without_pkce_or_with_a_mismatched_issuer(
    clock: object,
) -> None:
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.responses import JSONResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from clara.adapters.http import serve_http  # noqa: PLC0415

    documents: dict[str, object] = {}

    async def metadata(request: object) -> JSONResponse:
        return JSONResponse(documents)

    app = Starlette(routes=[Route("/.well-known/oauth-authorization-server", metadata)])
    async with trio.open_nursery() as nursery, httpx.AsyncClient() as http:
        base = await nursery.start(serve_http, app, "127.0.0.1", 0)
        good = {
            "issuer": base,
            "authorization_endpoint": f"{base}/a",
            "token_endpoint": f"{base}/t",
        }
        for document, why in [
            (good, "does not offer PKCE with S256"),
            ({**good, "code_challenge_methods_supported": ["plain"]}, "PKCE with S256"),
            (
                {
                    **good,
                    "issuer": "https://evil.example",
                    "code_challenge_methods_supported": ["S256"],
                },
                "is not .* mix-up or a spoofed document",
            ),
            ({"issuer": base}, "authorization_endpoint: Field required"),
        ]:
            documents.clear()
            documents.update(document)
            flow = OAuthFlow("s", f"{base}/mcp", REDIRECT, started_at=0.0, started_by="t")
            with pytest.raises(OAuthError, match=why):
                await OAuthClient(http).discover(flow)
            assert flow.state is FlowState.FAILED
        nursery.cancel_scope.cancel()
