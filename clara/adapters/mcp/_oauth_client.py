"""The HTTP side of OAuth for remote MCP servers: discovery, registration, exchange, refresh.

Every URL here is one a remote server named, so every request goes through ``_outbound``:
what it may reach follows from where the MCP server is (``reach_of``), each address is
checked before it is used, redirects are never followed, and errors say which step and
which origin failed and the status code, never the answer's text. The one exception is an
OAuth error code from the registered vocabulary (``invalid_grant``), which is a word from a
fixed list and helps the person who reads it (and is raised as ``OAuthRefused`` carrying it).

The exchange and the refresh also serve mail accounts, whose flows have no ``resource``:
then none is sent, and what the token endpoint may reach follows from the endpoint itself
(the operator named it, as the MCP server's own URL is named by its installer).

The protocol's JSON is parsed with the SDK's own pydantic models (``mcp.shared.auth``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import msgspec
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import ValidationError

from ...errors import InvalidTransition, OAuthError
from ._hosts import Resolver, system_resolver
from ._oauth import (
    AuthServer,
    FlowState,
    OAuthFlow,
    OAuthRefused,
    TokenSet,
    resource_metadata_url,
)
from ._outbound import Answer, Outbound, Reach, reach_of
from ._urls import Url

__all__ = ["OAuthClient"]

# RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2, RFC 8707 §2: the error codes an
# answer may carry. Only these are repeated in an error message; any other text is not.
_OAUTH_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "invalid_token",
        "insufficient_scope",
        "invalid_redirect_uri",
        "invalid_client_metadata",
        "invalid_software_statement",
        "unapproved_software_statement",
        "invalid_target",
    }
)


def _well_known(url: Url, name: str) -> list[str]:
    """RFC 8414 / 9728 well-known URLs of ``url``: path-aware first, then the root."""
    path = url.path.rstrip("/")
    urls = [f"{url.origin}/.well-known/{name}{path}"] if path else []
    urls.append(f"{url.origin}/.well-known/{name}")
    return urls


def _error_code(body: bytes) -> str | None:
    """The answer's OAuth ``error`` code, if it is one of the registered ones."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    code = document.get("error") if isinstance(document, dict) else None
    return code if code in _OAUTH_ERROR_CODES else None


def _document(answer: Answer, what: str) -> dict[str, Any]:
    """The answer's JSON object, or ``OAuthError`` naming the step, origin and status."""
    if 300 <= answer.status < 400:
        raise OAuthError(
            f"{what}: {answer.origin} answered with a redirect (HTTP {answer.status}); "
            "OAuth URLs are not followed elsewhere"
        )
    if answer.status >= 400:
        code = _error_code(answer.body)
        if code:
            raise OAuthRefused(
                f"{what}: {answer.origin} answered HTTP {answer.status} ({code})", code
            )
        raise OAuthError(f"{what}: {answer.origin} answered HTTP {answer.status}")
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise OAuthError(f"{what}: the answer from {answer.origin} is not JSON") from None
    if not isinstance(data, dict):
        raise OAuthError(f"{what}: the answer from {answer.origin} is not a JSON object")
    return data


def _first_problem(error: ValidationError) -> str:
    """``field: message`` of a pydantic error (its message, never the input it got)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


class OAuthClient:
    """The HTTP side of the flow (httpx on trio).

    Args:
        http: the client requests go through (never asked to follow redirects).
        client_name: the name registered with authorization servers.
        now: wall-clock seconds (token expiry times).
        resolve: how host names are resolved (the system's resolver by default).
        trusted_origins: origins reached whatever the rules say (tests' loopback fakes).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_name: str = "Clara",
        now: Callable[[], float] = time.time,
        resolve: Resolver = system_resolver,
        trusted_origins: Sequence[str] = (),
    ) -> None:
        self.http = http
        self.client_name = client_name
        self.now = now
        self.outbound = Outbound(http, resolve=resolve, trusted_origins=trusted_origins)

    async def _get_first(self, urls: list[str], reach: Reach, what: str) -> dict[str, Any] | None:
        """The first of ``urls`` that is not a 404, as a JSON object; None if all are."""
        for url in urls:
            answer = await self.outbound.request("GET", url, reach=reach, what=what)
            if answer.status == 404:
                continue
            return _document(answer, what)
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
        reach = reach_of(resource)
        resource_url = self.outbound.check(resource, reach, "the server's URL")
        hinted = resource_metadata_url(www_authenticate)
        if hinted:
            what = "protected resource metadata (named by the server's 401)"
            urls = [hinted]
        else:
            what = "protected resource metadata"
            urls = _well_known(resource_url, "oauth-protected-resource")
        document = await self._get_first(urls, reach, what)
        scopes: tuple[str, ...] = ()
        if document is not None:
            try:
                metadata = ProtectedResourceMetadata.model_validate(document)
            except ValidationError as error:
                raise OAuthError(f"{what}: {_first_problem(error)}") from None
            named = str(metadata.authorization_servers[0]).rstrip("/")
            issuer_url = self.outbound.check(named, reach, f"{what}: authorization server")
            scopes = tuple(metadata.scopes_supported or ())
        else:  # older servers: the authorization server is the resource's origin
            issuer_url = self.outbound.check(resource_url.origin, reach, "the server's origin")
        issuer = str(issuer_url)
        what = "authorization server metadata"
        found = await self._get_first(
            _well_known(issuer_url, "oauth-authorization-server")
            + _well_known(issuer_url, "openid-configuration"),
            reach,
            what,
        )
        if found is None:
            raise OAuthError(f"{what}: none found for {issuer}")
        try:
            auth = OAuthMetadata.model_validate(found)
        except ValidationError as error:
            raise OAuthError(f"{what}: {_first_problem(error)}") from None
        if str(auth.issuer).rstrip("/") != issuer:
            raise OAuthError(
                f"{what}: the document's issuer is not {issuer} (a mix-up or a spoofed document)"
            )
        if "S256" not in (auth.code_challenge_methods_supported or []):
            raise OAuthError(
                f"{issuer} does not offer PKCE with S256; Clara does not authorize without it"
            )
        endpoints = {
            "authorization_endpoint": str(auth.authorization_endpoint),
            "token_endpoint": str(auth.token_endpoint),
        }
        if auth.registration_endpoint:
            endpoints["registration_endpoint"] = str(auth.registration_endpoint)
        for field, url in endpoints.items():
            # Checked now (a bad document fails discovery), and again on every request.
            self.outbound.check(url, reach, f"{what}: {field}")
        return AuthServer(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            registration_endpoint=endpoints.get("registration_endpoint"),
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
        what = "client registration"
        answer = await self.outbound.request(
            "POST",
            server.registration_endpoint,
            reach=reach_of(flow.resource),
            what=what,
            json=body,
        )
        data = _document(answer, what)
        try:
            return OAuthClientInformationFull.model_validate(data)
        except ValidationError as error:
            raise OAuthError(f"{what}: {_first_problem(error)}") from None

    async def exchange(self, flow: OAuthFlow, code: str) -> TokenSet:
        """Trade the code (and the PKCE verifier) for tokens; AUTHORIZED or FAILED."""
        flow.advance(FlowState.EXCHANGING)
        assert flow.auth_server is not None
        endpoint = flow.auth_server.token_endpoint
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "client_id": flow.client_id,
            "code_verifier": flow.verifier,
        }
        if flow.resource:
            form["resource"] = flow.resource
        if flow.client_secret:
            form["client_secret"] = flow.client_secret
        try:
            tokens = await self._token(
                endpoint, form, reach_of(flow.resource or endpoint), "code exchange"
            )
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
        resource: str | None,
    ) -> TokenSet:
        """New tokens for ``refresh_token`` (the token endpoint is checked like any other).

        ``resource``: the MCP server's URL, sent and deciding what the endpoint may reach;
        None (a mail provider): none is sent, and the endpoint's own place decides.

        Raises:
            OAuthRefused: the server answered an OAuth error code (``invalid_grant``: the
                refresh token is revoked or expired).
            OAuthError: any other failure (unreachable, refused URL, unusable answer).
        """
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        }
        if resource:
            form["resource"] = resource
        if client_secret:
            form["client_secret"] = client_secret
        reach = reach_of(resource or token_endpoint)
        tokens = await self._token(token_endpoint, form, reach, "token refresh")
        if tokens.refresh_token is None:  # the server kept the old one valid
            tokens = msgspec.structs.replace(tokens, refresh_token=refresh_token)
        return tokens

    async def _token(
        self, endpoint: str, form: dict[str, str], reach: Reach, what: str
    ) -> TokenSet:
        answer = await self.outbound.request("POST", endpoint, reach=reach, what=what, data=form)
        data = _document(answer, what)
        try:
            token = OAuthToken.model_validate(data)
        except ValidationError as error:
            raise OAuthError(f"{what}: {_first_problem(error)}") from None
        expires_at = None
        if token.expires_in is not None:
            expires_at = dt.datetime.fromtimestamp(self.now() + token.expires_in, dt.UTC)
        return TokenSet(
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=expires_at,
            scope=token.scope or "",
        )
