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

The same machinery signs mail accounts in (``clara.actors.email.oauth``) with a client the
operator registered by hand: ``OAuthFlow.configured`` starts such a flow where discovery and
registration would have left it, without RFC 8707's ``resource`` (mail providers take none).

``OAuthFlow`` is the explicit state machine of one attempt. Each step moves it along
``TRANSITIONS``; anything else raises ``InvalidTransition``. A flow whose code does not
come back within ``FLOW_TIMEOUT`` (30 minutes) is abandoned by its owner (the catalog
actor's timer), and a late callback for it is refused.

The HTTP side (discovery, registration, exchange, refresh) is ``OAuthClient`` in
``_oauth_client``; every URL it follows is one a remote server named, checked by
``_outbound``.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import re
import secrets
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

import httpx2
import msgspec

from ...errors import InvalidTransition, OAuthError

__all__ = [
    "FLOW_TIMEOUT",
    "REFRESH_MARGIN",
    "TRANSITIONS",
    "AuthServer",
    "AuthorizationLost",
    "BearerAuth",
    "FlowState",
    "InvalidTransition",
    "OAuthError",
    "OAuthFlow",
    "OAuthRefused",
    "TokenSet",
    "pkce_pair",
    "resource_metadata_url",
]

FLOW_TIMEOUT = 30 * 60.0
"""Seconds a started flow waits for its code before it is abandoned."""
REFRESH_MARGIN = 5 * 60.0
"""An access token with less than this left is refreshed before use."""


class OAuthRefused(OAuthError):
    """An authorization server answered with one of OAuth's registered error codes
    (RFC 6749 §5.2: ``invalid_grant``, ...); ``code`` is that word, nothing of its text."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class AuthorizationLost(OAuthError):
    """No usable grant is left: no tokens are stored, the access token expired without a
    refresh token, or the refresh token was refused (``invalid_grant``: revoked or expired).
    Only a new authorization by the person helps; retrying does not.

    ``reason`` is ``no_tokens``, ``expired`` or ``revoked``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


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
        server: the MCP server's name in Clara (for a mail account: the provider's).
        resource: the server's URL (the token's audience); empty: no ``resource`` parameter
            is sent (mail providers take none; Microsoft's v2 endpoint refuses it).
        redirect_uri: where the authorization server sends the person back.
        started_at: trio's clock at the start (the 30-minute window counts from it).
        started_by: who asked for it (``discord:123``).
        authorization_params: more query parameters for the link (Google's
            ``access_type=offline``, a ``login_hint``); they never replace the flow's own.
    """

    def __init__(
        self,
        server: str,
        resource: str,
        redirect_uri: str,
        *,
        started_at: float,
        started_by: str,
        authorization_params: Mapping[str, str] | None = None,
    ) -> None:
        self.server = server
        self.resource = resource
        self.redirect_uri = redirect_uri
        self.authorization_params = dict(authorization_params or {})
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

    @classmethod
    def configured(
        cls,
        name: str,
        auth_server: AuthServer,
        redirect_uri: str,
        *,
        client_id: str,
        client_secret: str | None,
        started_at: float,
        started_by: str,
        resource: str = "",
        authorization_params: Mapping[str, str] | None = None,
    ) -> OAuthFlow:
        """A flow for a client registered by hand (the operator's, for a known provider):
        its endpoints and client are given, so it starts REGISTERED (through DISCOVERED,
        as the history shows), ready for ``authorization_url``.

        Raises:
            ValueError: ``client_id`` is empty.
        """
        if not client_id:
            raise ValueError(f"OAuth flow for {name}: client_id must not be empty")
        flow = cls(
            name,
            resource,
            redirect_uri,
            started_at=started_at,
            started_by=started_by,
            authorization_params=authorization_params,
        )
        flow.auth_server = auth_server
        flow.advance(FlowState.DISCOVERED)
        flow.client_id, flow.client_secret = client_id, client_secret
        flow.advance(FlowState.REGISTERED)
        return flow

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
            **self.authorization_params,
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            "state": self.key,
        }
        if self.resource:
            query["resource"] = self.resource
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
