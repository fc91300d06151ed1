"""OAuth 2.1 for remote MCP servers: discovery, client registration, PKCE, exchange, refresh.

The flow follows the MCP authorization spec:

1. **discovery**: the server's protected-resource metadata (RFC 9728; from the 401's
   ``WWW-Authenticate: … resource_metadata=…`` or the well-known URL), then its authorization
   server's metadata (RFC 8414, or OpenID discovery). The issuer must match, and PKCE with
   S256 must be offered: a server that does not say so is refused.
2. **registration**: dynamic client registration (RFC 7591) as a public client
   (``token_endpoint_auth_method: none``); a secret the server issues anyway is kept, encrypted.
3. **authorization**: a link with PKCE (S256), a random ``state`` and the ``resource``
   (RFC 8707); the person opens it, the authorization server sends them to the redirect URL.
4. **exchange**: the code and verifier for tokens; **refresh** when the access token has
   less than ``REFRESH_MARGIN`` (5 minutes) left.

``OAuthFlow`` is the explicit state machine of one attempt. Each step moves it along
``TRANSITIONS``; anything else raises ``InvalidTransition``. A flow whose code does not
come back within ``FLOW_TIMEOUT`` (30 minutes) is abandoned by its owner (the catalog
actor's timer), and a late callback for it is refused.

The protocol's JSON is parsed with the SDK's own pydantic models (``mcp.shared.auth``).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import httpx
import httpx2
import msgspec
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import ValidationError

from ...errors import InvalidTransition, OAuthError

__all__ = [
    "FLOW_TIMEOUT",
    "REFRESH_MARGIN",
    "TRANSITIONS",
    "AuthServer",
    "BearerAuth",
    "FlowState",
    "InvalidTransition",
    "OAuthClient",
    "OAuthError",
    "OAuthFlow",
    "TokenSet",
    "pkce_pair",
    "resource_metadata_url",
]

logger = logging.getLogger(__name__)

FLOW_TIMEOUT = 30 * 60.0
"""Seconds a started flow waits for its code before it is abandoned."""
REFRESH_MARGIN = 5 * 60.0
"""An access token with less than this left is refreshed before use."""


class FlowState(enum.Enum):
    STARTED = "started"
    DISCOVERED = "discovered"
    REGISTERED = "registered"
    AWAITING_CODE = "awaiting_code"
    EXCHANGING = "exchanging"
    AUTHORIZED = "authorized"
    FAILED = "failed"
    ABANDONED = "abandoned"


_END = frozenset({FlowState.AUTHORIZED, FlowState.FAILED, FlowState.ABANDONED})
TRANSITIONS: dict[FlowState, frozenset[FlowState]] = {
    FlowState.STARTED: frozenset({FlowState.DISCOVERED, FlowState.FAILED, FlowState.ABANDONED}),
    FlowState.DISCOVERED: frozenset({FlowState.REGISTERED, FlowState.FAILED, FlowState.ABANDONED}),
    FlowState.REGISTERED: frozenset(
        {FlowState.AWAITING_CODE, FlowState.FAILED, FlowState.ABANDONED}
    ),
    FlowState.AWAITING_CODE: frozenset(
        {FlowState.EXCHANGING, FlowState.FAILED, FlowState.ABANDONED}
    ),
    FlowState.EXCHANGING: frozenset({FlowState.AUTHORIZED, FlowState.FAILED}),
    FlowState.AUTHORIZED: frozenset(),
    FlowState.FAILED: frozenset(),
    FlowState.ABANDONED: frozenset(),
}


class AuthServer(msgspec.Struct, frozen=True, kw_only=True):
    """What discovery found."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str | None = None
    scopes: tuple[str, ...] = ()


class TokenSet(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str | None = None
    expires_at: dt.datetime | None = None
    scope: str = ""


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (43+ characters) and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


class OAuthFlow:
    """One authorization attempt for one server: its state machine and its secrets.

    Args:
        server: the MCP server's name in Clara.
        resource: the server's URL (the token's audience).
        redirect_uri: where the authorization server sends the person back.
        started_at: trio's clock at the start (the 30-minute window counts from it).
        started_by: who asked for it (``discord:123``).
    """

    def __init__(
        self, server: str, resource: str, redirect_uri: str, *, started_at: float, started_by: str
    ) -> None:
        self.server = server
        self.resource = resource
        self.redirect_uri = redirect_uri
        self.started_at = started_at
        self.started_by = started_by
        self.state = FlowState.STARTED
        self.key = secrets.token_urlsafe(32)
        """The ``state`` parameter: unguessable, and how the callback finds its flow."""
        self.verifier, self.challenge = pkce_pair()
        self.auth_server: AuthServer | None = None
        self.client_id = ""
        self.client_secret: str | None = None
        self.error = ""
        self.history: list[FlowState] = [FlowState.STARTED]

    @property
    def deadline(self) -> float:
        return self.started_at + FLOW_TIMEOUT

    @property
    def finished(self) -> bool:
        return self.state in _END

    def advance(self, to: FlowState, error: str = "") -> None:
        if to not in TRANSITIONS[self.state]:
            raise InvalidTransition(
                f"OAuth flow for {self.server}: cannot go from {self.state.value} to {to.value}"
            )
        self.state = to
        self.history.append(to)
        if error:
            self.error = error

    def authorization_url(self) -> str:
        """The link the person opens (the flow then waits for its code)."""
        server = self.auth_server
        if server is None or not self.client_id:
            raise InvalidTransition(
                f"OAuth flow for {self.server}: no link before discovery and registration"
            )
        self.advance(FlowState.AWAITING_CODE)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            "state": self.key,
            "resource": self.resource,
        }
        if server.scopes:
            query["scope"] = " ".join(server.scopes)
        separator = "&" if "?" in server.authorization_endpoint else "?"
        return server.authorization_endpoint + separator + urllib.parse.urlencode(query)


def resource_metadata_url(www_authenticate: str | None) -> str | None:
    """The ``resource_metadata`` URL of a 401's ``WWW-Authenticate`` header, if it has one."""
    if not www_authenticate:
        return None
    match = re.search(r'resource_metadata="?([^",\s]+)"?', www_authenticate)
    return match.group(1) if match else None


def _well_known(base: str, name: str) -> list[str]:
    """RFC 8414 / 9728 well-known URLs of ``base``: path-aware first, then the root."""
    parts = urllib.parse.urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    urls = [f"{origin}/.well-known/{name}{path}"] if path else []
    urls.append(f"{origin}/.well-known/{name}")
    return urls


class OAuthClient:
    """The HTTP side of the flow (httpx on trio)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_name: str = "Clara",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.client_name = client_name
        self.now = now

    async def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise OAuthError(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
        except ValueError as error:
            raise OAuthError(f"{what}: the answer is not JSON") from error
        if not isinstance(data, dict):
            raise OAuthError(f"{what}: the answer is not a JSON object")
        return data

    async def _get_first(self, urls: list[str], what: str) -> dict[str, Any] | None:
        for url in urls:
            try:
                response = await self.http.get(url, headers={"Accept": "application/json"})
            except httpx.HTTPError as error:
                raise OAuthError(f"{what}: {url}: {error}") from error
            if response.status_code == 404:
                continue
            return await self._json(response, f"{what} ({url})")
        return None

    async def discover(self, flow: OAuthFlow, www_authenticate: str | None = None) -> AuthServer:
        """Find the authorization server of ``flow.resource``; the flow moves to DISCOVERED."""
        try:
            server = await self._discover(flow.resource, www_authenticate)
        except OAuthError as error:
            flow.advance(FlowState.FAILED, str(error))
            raise
        flow.auth_server = server
        flow.advance(FlowState.DISCOVERED)
        return server

    async def _discover(self, resource: str, www_authenticate: str | None) -> AuthServer:
        hinted = resource_metadata_url(www_authenticate)
        urls = [hinted] if hinted else _well_known(resource, "oauth-protected-resource")
        document = await self._get_first(urls, "protected resource metadata")
        scopes: tuple[str, ...] = ()
        if document is not None:
            try:
                metadata = ProtectedResourceMetadata.model_validate(document)
            except ValidationError as error:
                raise OAuthError(
                    f"protected resource metadata: {error.errors()[0]['msg']}"
                ) from None
            issuer = str(metadata.authorization_servers[0]).rstrip("/")
            scopes = tuple(metadata.scopes_supported or ())
        else:  # older servers: the authorization server is the resource's origin
            parts = urllib.parse.urlsplit(resource)
            issuer = f"{parts.scheme}://{parts.netloc}"
        found = await self._get_first(
            _well_known(issuer, "oauth-authorization-server")
            + _well_known(issuer, "openid-configuration"),
            "authorization server metadata",
        )
        if found is None:
            raise OAuthError(f"authorization server metadata: none found for {issuer}")
        try:
            auth = OAuthMetadata.model_validate(found)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise OAuthError(f"authorization server metadata: {where}: {first['msg']}") from None
        if str(auth.issuer).rstrip("/") != issuer:
            raise OAuthError(
                f"authorization server metadata: issuer {auth.issuer} is not {issuer} "
                "(a mix-up or a spoofed document)"
            )
        if "S256" not in (auth.code_challenge_methods_supported or []):
            raise OAuthError(
                f"{issuer} does not offer PKCE with S256; Clara does not authorize without it"
            )
        return AuthServer(
            issuer=issuer,
            authorization_endpoint=str(auth.authorization_endpoint),
            token_endpoint=str(auth.token_endpoint),
            registration_endpoint=(
                str(auth.registration_endpoint) if auth.registration_endpoint else None
            ),
            scopes=scopes,
        )

    async def register(self, flow: OAuthFlow) -> None:
        """Dynamic client registration; the flow moves to REGISTERED."""
        server = flow.auth_server
        if server is None:
            raise InvalidTransition(f"OAuth flow for {flow.server}: register before discovery")
        if flow.state is not FlowState.DISCOVERED:
            raise InvalidTransition(
                f"OAuth flow for {flow.server}: cannot register from {flow.state.value}"
            )
        try:
            client = await self._register(flow, server)
        except OAuthError as error:
            flow.advance(FlowState.FAILED, str(error))
            raise
        flow.client_id = client.client_id
        flow.client_secret = client.client_secret
        flow.advance(FlowState.REGISTERED)

    async def _register(self, flow: OAuthFlow, server: AuthServer) -> OAuthClientInformationFull:
        if server.registration_endpoint is None:
            raise OAuthError(
                f"{server.issuer} offers no dynamic client registration; register a client "
                "there by hand"
            )
        body = {
            "client_name": self.client_name,
            "redirect_uris": [flow.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        try:
            response = await self.http.post(server.registration_endpoint, json=body)
        except httpx.HTTPError as error:
            raise OAuthError(f"client registration: {error}") from error
        data = await self._json(response, "client registration")
        try:
            return OAuthClientInformationFull.model_validate(data)
        except ValidationError as error:
            raise OAuthError(f"client registration: {error.errors()[0]['msg']}") from None

    async def exchange(self, flow: OAuthFlow, code: str) -> TokenSet:
        """Trade the code (and the PKCE verifier) for tokens; AUTHORIZED or FAILED."""
        flow.advance(FlowState.EXCHANGING)
        assert flow.auth_server is not None
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "client_id": flow.client_id,
            "code_verifier": flow.verifier,
            "resource": flow.resource,
        }
        if flow.client_secret:
            form["client_secret"] = flow.client_secret
        try:
            tokens = await self._token(flow.auth_server.token_endpoint, form, "code exchange")
        except OAuthError as error:
            flow.advance(FlowState.FAILED, str(error))
            raise
        flow.advance(FlowState.AUTHORIZED)
        return tokens

    async def refresh(
        self,
        token_endpoint: str,
        refresh_token: str,
        *,
        client_id: str,
        client_secret: str | None,
        resource: str,
    ) -> TokenSet:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "resource": resource,
        }
        if client_secret:
            form["client_secret"] = client_secret
        tokens = await self._token(token_endpoint, form, "token refresh")
        if tokens.refresh_token is None:  # the server kept the old one valid
            tokens = msgspec.structs.replace(tokens, refresh_token=refresh_token)
        return tokens

    async def _token(self, endpoint: str, form: dict[str, str], what: str) -> TokenSet:
        try:
            response = await self.http.post(
                endpoint, data=form, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as error:
            raise OAuthError(f"{what}: {error}") from error
        data = await self._json(response, what)
        try:
            token = OAuthToken.model_validate(data)
        except ValidationError as error:
            raise OAuthError(f"{what}: {error.errors()[0]['msg']}") from None
        expires_at = None
        if token.expires_in is not None:
            expires_at = dt.datetime.fromtimestamp(self.now() + token.expires_in, dt.UTC)
        return TokenSet(
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=expires_at,
            scope=token.scope or "",
        )


class BearerAuth(httpx2.Auth):
    """Puts a fresh bearer token on every request of an MCP connection.

    ``token(force)`` returns the access token, refreshed first when it is within the refresh
    margin of expiry (or when ``force``, after the server answered 401 once).
    """

    def __init__(self, token: Callable[[bool], Awaitable[str]]) -> None:
        self._token = token

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {await self._token(False)}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._token(True)}"
            yield request
