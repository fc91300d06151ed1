"""Hostile OAuth metadata: every URL a remote MCP server names is checked before it is used.

The servers here are real HTTP servers on loopback (``Scripted``: answers set per path, every
request recorded). Loopback is internal, so a test reaches them only through what the design
allows: either the MCP server itself is on loopback (then loopback is allowed), or the client
is told ``trusted_origins`` (a constructor argument meant for exactly this). Names other than
``localhost`` resolve through a fake resolver (no DNS), which also stands for a hostile DNS.

Each case asserts the refusal and that the error names the reason; none reflects a body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clara.adapters.http import serve_http
from clara.adapters.mcp import (
    AuthServer,
    FlowState,
    OAuthClient,
    OAuthError,
    OAuthFlow,
    system_resolver,
)

pytestmark = pytest.mark.trio

REDIRECT = "https://clara.example.test/oauth/callback"
PUBLIC_RESOURCE = "https://mcp.example.test/mcp"
SECRET = "INTERNAL-SECRET-7f3a"


@dataclass
class Scripted:
    """A loopback HTTP server answering what the test sets for each path."""

    base: str = ""
    port: int = 0
    answers: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    hits: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, Host header) of every request, in order."""

    def json(self, path: str, document: object, status: int = 200) -> None:
        self.answers[path] = (status, json.dumps(document).encode(), {})

    def raw(
        self, path: str, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.answers[path] = (status, body, headers or {})

    async def answer(self, request: Request) -> Response:
        path = request.url.path
        self.hits.append((request.method, path, request.headers.get("host", "")))
        status, body, headers = self.answers.get(path, (404, b"{}", {}))
        return Response(body, status, headers=headers, media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.answer, methods=["GET", "POST"])])


@asynccontextmanager
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    async with trio.open_nursery() as nursery:
        server.base = await nursery.start(serve_http, server.app(), "127.0.0.1", 0)
        server.port = int(server.base.rsplit(":", 1)[1])
        yield server
        nursery.cancel_scope.cancel()


class FakeDns:
    """Names to addresses, as a hostile DNS server would answer; records every question."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host == "localhost":
            return await system_resolver(host, port)
        if host not in self.names:
            raise OSError(f"no such name: {host}")
        return self.names[host]


DNS = {
    "mcp.example.test": ["93.184.216.34"],
    "auth.example.test": ["93.184.216.34"],
    "internal.example.test": ["10.1.2.3"],
    "metadata.example.test": ["169.254.169.254"],
    "rebind.example.test": ["93.184.216.34", "127.0.0.1"],
    "mapped.example.test": ["::ffff:127.0.0.1"],
    "zone.example.test": ["fe80::1%1"],
    "garbage.example.test": ["not-an-address"],
    "empty.example.test": [],
}


def flow_for(resource: str) -> OAuthFlow:
    return OAuthFlow("s", resource, REDIRECT, started_at=0.0, started_by="t")


def challenge(url: str) -> str:
    return f'Bearer error="invalid_token", resource_metadata="{url}"'


# -- the 401's hint, from a public server: refused before any connection -----------------------

HINTS = [
    ("http://93.184.216.34/.well-known/x", "plain http"),
    ("http://{loopback}/prm", "plain http"),
    ("https://127.0.0.1/x", "127.0.0.1 is a loopback address, which this MCP server may not"),
    ("https://127.0.0.2:8443/x", "loopback address"),
    ("https://[::1]/x", "::1 is a loopback address"),
    ("https://localhost/x", "localhost is a loopback name"),
    ("https://api.localhost/x", "loopback name"),
    ("https://10.0.0.1/x", "10.0.0.1 is a private address"),
    ("https://192.168.0.1/x", "private address"),
    ("https://172.31.255.255/x", "private address"),
    ("https://100.100.100.200/latest/meta-data", "shared \\(carrier-grade NAT\\) address"),
    ("https://[fd00:ec2::254]/latest/meta-data", "unique-local \\(private\\) address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://[fe80::a9fe:a9fe]/", "link-local address"),
    ("https://[fe80::1%25lo]/", "zone"),
    ("https://[::ffff:a9fe:a9fe]/", "IPv4-mapped address of 169.254.169.254, a link-local"),
    ("https://[::ffff:127.0.0.1]/", "IPv4-mapped address of 127.0.0.1, a loopback"),
    ("https://[64:ff9b::a9fe:a9fe]/", "NAT64 address of 169.254.169.254"),
    ("https://[2002:7f00:1::]/", "6to4 address of 127.0.0.1, a loopback"),
    ("https://0.0.0.0/", "unspecified address"),
    ("https://[::]/", "unspecified address"),
    ("https://224.0.0.251/", "multicast address"),
    ("https://[ff02::fb]/", "multicast address"),
    ("https://2852039166/", "non-standard spelling"),
    ("https://0xa9fea9fe/", "non-standard spelling"),
    ("https://0251.0376.0251.0376/", "non-standard spelling"),
    ("https://169.254.43518/", "non-standard spelling"),
    ("https://metadata.google.internal/computeMetadata/v1/", "local-network name"),
    ("https://intranet/x", "single-label"),
    ("https://internal.example.test/x", "resolves to 10.1.2.3, a private address"),
    ("https://metadata.example.test/x", "resolves to 169.254.169.254: .*link-local"),
    ("https://rebind.example.test/x", "resolves to 127.0.0.1, a loopback address"),
    ("https://mapped.example.test/x", "resolves to ::ffff:7f00:1, an IPv4-mapped"),
    ("https://zone.example.test/x", "resolves to fe80::1%1: .*link-local"),
    ("https://garbage.example.test/x", "resolves to not-an-address"),
    ("https://empty.example.test/x", "resolves to no address"),
    ("https://nx.example.test/x", "nx.example.test cannot be resolved"),
    ("https://user@auth.example.test/x", "credentials"),
    ("https://auth.example.test@169.254.169.254/x", "credentials"),
    ("https://auth.example.test\\@169.254.169.254/x", "contains"),
    ("https://auth.example.test./x", "ends with '.'"),
    ("https://xn--80ak6aa92e.com/x", "punycode"),
    ("https://auth.example.test:0/x", "port '0'"),
    ("https://auth.example.test:99999/x", "port '99999'"),
    ("https://auth.example.test/x#y", "fragment"),
    ("file:///etc/passwd", "scheme 'file' is refused"),
    ("gopher://127.0.0.1:70/x", "scheme 'gopher' is refused"),
    ("/relative/metadata", "not an absolute URL"),
]


@pytest.mark.parametrize(("hint", "why"), HINTS)
async def test_a_hostile_hint_from_a_public_server_is_refused_before_any_request(
    hint: str, why: str
) -> None:
    dns = FakeDns(DNS)
    async with scripted() as server, httpx.AsyncClient() as http:
        flow = flow_for(PUBLIC_RESOURCE)
        header = challenge(hint.format(loopback=f"127.0.0.1:{server.port}"))
        with pytest.raises(OAuthError, match=why) as caught:
            await OAuthClient(http, resolve=dns).discover(flow, header)
        assert caught.value.args[0].startswith("protected resource metadata (named by")
        assert flow.state is FlowState.FAILED
        assert server.hits == []


# -- documents a reachable server sends ------------------------------------------------------

ISSUERS = [
    ("http://auth.example.test", "plain http"),
    ("http://127.0.0.1:{other}", "plain http"),
    ("https://127.0.0.1", "127.0.0.1 is a loopback address"),
    ("https://localhost:8443", "localhost is a loopback name"),
    ("https://[::1]", "loopback address"),
    ("https://10.0.0.8", "10.0.0.8 is a private address"),
    ("https://169.254.169.254", "link-local address"),
    ("https://0xa9fea9fe", "link-local address"),  # the SDK's parser reads it as 169.254.169.254
    ("https://2852039166", "link-local address"),
    ("https://internal.example.test", "resolves to 10.1.2.3, a private address"),
    ("https://metadata.google.internal", "local-network name"),
    ("https://\u0430\u0440\u0440\u04cf\u0435.com", "punycode"),  # the SDK turns it into xn--
    ("https://user:pw@auth.example.test", "credentials"),
]


@pytest.mark.parametrize(("issuer", "why"), ISSUERS)
async def test_a_hostile_authorization_server_named_by_the_metadata_is_refused(
    issuer: str, why: str
) -> None:
    dns = FakeDns(DNS)
    async with scripted() as server, httpx.AsyncClient() as http:
        server.json(
            "/prm",
            {
                "resource": PUBLIC_RESOURCE,
                "authorization_servers": [issuer.format(other=server.port + 1)],
            },
        )
        client = OAuthClient(http, resolve=dns, trusted_origins=[server.base])
        with pytest.raises(OAuthError, match=why):
            await client.discover(flow_for(PUBLIC_RESOURCE), challenge(f"{server.base}/prm"))
        assert [path for _, path, _ in server.hits] == ["/prm"]


def metadata(base: str, **changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "registration_endpoint": f"{base}/register",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }
    document.update(changes)
    return document


ENDPOINTS = [
    ("token_endpoint", "https://169.254.169.254/token", "169.254.169.254 is a link-local"),
    ("token_endpoint", "https://127.0.0.1:1/token", "loopback address"),
    ("token_endpoint", "https://[::ffff:7f00:1]/token", "IPv4-mapped address of 127.0.0.1"),
    ("token_endpoint", "http://auth.example.test/token", "plain http"),
    ("registration_endpoint", "https://10.0.0.1/register", "10.0.0.1 is a private address"),
    ("registration_endpoint", "https://user@auth.example.test/r", "credentials"),
    ("authorization_endpoint", "http://auth.example.test/authorize", "plain http"),
    ("authorization_endpoint", "https://192.168.1.1/authorize", "private address"),
    ("authorization_endpoint", "javascript:alert(1)", "authorization_endpoint: URL scheme"),
]


@pytest.mark.parametrize(("endpoint", "url", "why"), ENDPOINTS)
async def test_a_hostile_endpoint_in_the_authorization_server_metadata_fails_discovery(
    endpoint: str, url: str, why: str
) -> None:
    async with scripted() as server, httpx.AsyncClient() as http:
        server.json("/prm", {"resource": PUBLIC_RESOURCE, "authorization_servers": [server.base]})
        document = metadata(server.base, **{endpoint: url})
        server.json("/.well-known/oauth-authorization-server", document)
        client = OAuthClient(http, resolve=FakeDns(DNS), trusted_origins=[server.base])
        with pytest.raises(OAuthError, match=f"{endpoint}: .*{why}|{why}"):
            await client.discover(flow_for(PUBLIC_RESOURCE), challenge(f"{server.base}/prm"))


ANSWERS = [
    (302, b"", {"location": "/secret"}, "answered with a redirect \\(HTTP 302\\)"),
    (307, b"", {"location": "http://169.254.169.254/"}, "redirect \\(HTTP 307\\)"),
    (500, SECRET.encode(), {}, "answered HTTP 500$"),
    (403, json.dumps({"error": SECRET}).encode(), {}, "answered HTTP 403$"),
    (
        400,
        json.dumps({"error": "invalid_request", "error_description": SECRET}).encode(),
        {},
        "answered HTTP 400 \\(invalid_request\\)$",
    ),
    (200, f"<html>{SECRET}</html>".encode(), {}, "is not JSON$"),
    (200, json.dumps([SECRET]).encode(), {}, "is not a JSON object$"),
    (
        200,
        json.dumps({"resource": SECRET, "authorization_servers": SECRET}).encode(),
        {},
        "resource: Input should be a valid URL",
    ),
    (200, b"{" + b" " * (300 * 1024) + b"}", {}, "larger than 256 KB"),
]


@pytest.mark.parametrize(("status", "body", "headers", "why"), ANSWERS)
async def test_an_odd_answer_is_reported_by_status_never_by_its_text(
    status: int, body: bytes, headers: dict[str, str], why: str
) -> None:
    async with scripted() as server, httpx.AsyncClient() as http:
        server.raw("/prm", status, body, headers)
        server.json("/secret", {"resource": PUBLIC_RESOURCE, "authorization_servers": [SECRET]})
        client = OAuthClient(http, resolve=FakeDns(DNS), trusted_origins=[server.base])
        with pytest.raises(OAuthError, match=why) as caught:
            await client.discover(flow_for(PUBLIC_RESOURCE), challenge(f"{server.base}/prm"))
        assert SECRET not in str(caught.value)
        assert [path for _, path, _ in server.hits] == ["/prm"]  # a redirect is not followed


# -- registration, exchange and refresh go through the same checks ----------------------------

TOKEN_ENDPOINTS = [
    ("https://169.254.169.254/token", "link-local address"),
    ("https://internal.example.test/token", "resolves to 10.1.2.3, a private address"),
    ("https://rebind.example.test/token", "resolves to 127.0.0.1, a loopback address"),
    ("http://auth.example.test/token", "plain http"),
    ("https://2130706433/token", "non-standard spelling"),
]


@pytest.mark.parametrize(("endpoint", "why"), TOKEN_ENDPOINTS)
async def test_a_stored_token_endpoint_is_checked_again_at_each_refresh(
    endpoint: str, why: str
) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(OAuthError, match=f"token refresh: .*{why}"):
            await OAuthClient(http, resolve=FakeDns(DNS)).refresh(
                endpoint, "refresh-1", client_id="c", client_secret=None, resource=PUBLIC_RESOURCE
            )


async def test_a_public_server_cannot_point_a_refresh_at_loopback() -> None:
    async with scripted() as server, httpx.AsyncClient() as http:
        server.json("/token", {"access_token": "a", "token_type": "Bearer"})
        with pytest.raises(OAuthError, match="plain http"):
            await OAuthClient(http, resolve=FakeDns(DNS)).refresh(
                f"{server.base}/token",
                "r",
                client_id="c",
                client_secret=None,
                resource=PUBLIC_RESOURCE,
            )
        assert server.hits == []


async def test_a_token_error_says_its_code_but_never_its_description_or_the_secrets_sent() -> None:
    async with scripted() as server, httpx.AsyncClient() as http:
        echo = {"error": "invalid_grant", "error_description": f"{SECRET} refresh-token-xyz"}
        server.json("/token", echo, status=400)
        client = OAuthClient(http, resolve=FakeDns(DNS), trusted_origins=[server.base])
        with pytest.raises(
            OAuthError, match=r"token refresh: .* answered HTTP 400 \(invalid_grant\)$"
        ) as caught:
            await client.refresh(
                f"{server.base}/token",
                "refresh-token-xyz",
                client_id="c",
                client_secret="client-secret-xyz",
                resource=PUBLIC_RESOURCE,
            )
        for secret in (SECRET, "refresh-token-xyz", "client-secret-xyz"):
            assert secret not in str(caught.value)


async def test_registration_and_exchange_refuse_hostile_endpoints() -> None:
    async with httpx.AsyncClient() as http:
        client = OAuthClient(http, resolve=FakeDns(DNS))
        flow = flow_for(PUBLIC_RESOURCE)
        flow.auth_server = AuthServer(
            issuer="https://auth.example.test",
            authorization_endpoint="https://auth.example.test/authorize",
            token_endpoint="https://10.9.9.9/token",
            registration_endpoint="https://169.254.169.254/register",
        )
        flow.advance(FlowState.DISCOVERED)
        with pytest.raises(OAuthError, match="client registration: .*link-local"):
            await client.register(flow)
        assert flow.state is FlowState.FAILED
        flow = flow_for(PUBLIC_RESOURCE)
        flow.auth_server = AuthServer(
            issuer="https://auth.example.test",
            authorization_endpoint="https://auth.example.test/authorize",
            token_endpoint="https://10.9.9.9/token",
        )
        for state in (FlowState.DISCOVERED, FlowState.REGISTERED, FlowState.AWAITING_CODE):
            flow.advance(state)
        with pytest.raises(OAuthError, match="code exchange: 10.9.9.9 is a private address"):
            await client.exchange(flow, "code")
        assert flow.state is FlowState.FAILED


async def test_a_loopback_server_may_not_name_the_local_network() -> None:
    async with scripted() as server, httpx.AsyncClient() as http:
        server.json(
            "/prm",
            {"resource": f"{server.base}/mcp", "authorization_servers": ["https://10.0.0.8"]},
        )
        with pytest.raises(OAuthError, match="10.0.0.8 is a private address"):
            await OAuthClient(http).discover(
                flow_for(f"{server.base}/mcp"), challenge(f"{server.base}/prm")
            )


# -- look-alikes that must still work -----------------------------------------------------------


async def test_a_loopback_server_may_name_loopback_by_name_and_over_http() -> None:
    async with scripted() as server, httpx.AsyncClient() as http:
        issuer = f"http://localhost:{server.port}"
        server.json("/prm", {"resource": f"{server.base}/mcp", "authorization_servers": [issuer]})
        server.json("/.well-known/oauth-authorization-server", metadata(issuer))
        found = await OAuthClient(http).discover(
            flow_for(f"{server.base}/mcp"), challenge(f"{server.base}/prm")
        )
        assert found.issuer == issuer and found.token_endpoint == f"{issuer}/token"


async def test_the_request_goes_to_the_address_that_was_checked_with_the_name_as_host() -> None:
    dns = FakeDns({**DNS, "auth.example.test": ["127.0.0.1"]})
    async with scripted() as server, httpx.AsyncClient() as http:
        origin = f"http://auth.example.test:{server.port}"
        server.json("/prm", {"resource": PUBLIC_RESOURCE, "authorization_servers": [origin]})
        server.json("/.well-known/oauth-authorization-server", metadata(origin))
        client = OAuthClient(http, resolve=dns, trusted_origins=[origin])
        found = await client.discover(flow_for(PUBLIC_RESOURCE), challenge(f"{origin}/prm"))
        assert found.issuer == origin
        # The system's resolver knows no auth.example.test: the connection used the checked
        # address, once per request, and the server saw the name.
        assert dns.asked == ["auth.example.test", "auth.example.test"]
        assert [host for _, _, host in server.hits] == [f"auth.example.test:{server.port}"] * 2


async def test_the_suite_has_enough_hostile_metadata_cases() -> None:
    hostile = HINTS + ISSUERS + ENDPOINTS + ANSWERS + TOKEN_ENDPOINTS
    assert len(hostile) >= 80
