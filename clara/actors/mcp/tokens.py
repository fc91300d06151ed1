"""OAuth access tokens, refreshed before they expire: one remote MCP server's
(``ServerTokens``), and the same rules for anything else that keeps OAuth tokens in the
store (``RefreshingToken``: the mail accounts that sign in with XOAUTH2 use it too)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
import trio

from ...adapters.mcp import REFRESH_MARGIN, BearerAuth, OAuthClient, OAuthError, ServerGone
from ...adapters.mcp._oauth import AuthorizationLost, OAuthRefused
from ...store import (
    Database,
    OAuthCredentials,
    SecretBox,
    load_oauth_credentials,
    save_oauth_credentials,
)

__all__ = ["RefreshingToken", "ServerTokens"]

logger = logging.getLogger(__name__)


class RefreshingToken:
    """One access token kept usable: read from the store, refreshed before expiry.

    A token with less than five minutes left (``REFRESH_MARGIN``), or any token when the
    caller forces it (the server refused it), is refreshed first, and the new tokens are
    saved (encrypted, by ``save``) before they are used. Concurrent callers share one
    refresh: they wait on one lock and the later ones read what the first saved.

    Args:
        name: what the token is for, in messages and logs (``mcp remote``).
        load: the stored credentials, decrypted; None when there are none.
        save: stores refreshed credentials, encrypted.
        oauth: the HTTP side of the refresh.
        resource: RFC 8707's resource sent with a refresh (an MCP server's URL); None for
            providers that take none (mail).
        now: wall-clock seconds (token expiry times are wall-clock).
    """

    def __init__(
        self,
        name: str,
        *,
        load: Callable[[], Awaitable[OAuthCredentials | None]],
        save: Callable[[OAuthCredentials], Awaitable[None]],
        oauth: Callable[[], OAuthClient],
        resource: str | None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._load = load
        self._save = save
        self._oauth = oauth
        self.resource = resource
        self._now = now
        self._lock = trio.Lock()
        self.refreshes = 0

    async def __call__(self, force: bool = False) -> str:
        """The access token, refreshed first when due (or when ``force``).

        Raises:
            AuthorizationLost: no tokens, an expired token without a refresh token, or the
                refresh token refused (``invalid_grant``): only a new authorization helps.
            OAuthError: the refresh failed otherwise (unreachable, a server error): later.
        """
        async with self._lock:
            credentials = await self._load()
            if credentials is None:
                raise AuthorizationLost("not authorized (no tokens)", "no_tokens")
            expires = credentials.expires_at
            due = expires is not None and expires.timestamp() - self._now() < REFRESH_MARGIN
            if not (force or due):
                return credentials.access_token
            if not credentials.refresh_token or not credentials.token_endpoint:
                if force or (expires is not None and expires.timestamp() <= self._now()):
                    raise AuthorizationLost(
                        "the access token expired and cannot be refreshed", "expired"
                    )
                return credentials.access_token
            try:
                tokens = await self._oauth().refresh(
                    credentials.token_endpoint,
                    credentials.refresh_token,
                    client_id=credentials.client_id,
                    client_secret=credentials.client_secret,
                    resource=self.resource,
                )
            except OAuthRefused as error:
                if error.code == "invalid_grant":
                    raise AuthorizationLost(str(error), "revoked") from error
                raise
            self.refreshes += 1
            updated = msgspec.structs.replace(
                credentials,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                expires_at=tokens.expires_at,
                scope=tokens.scope or credentials.scope,
            )
            await self._save(updated)
            logger.info("%s: access token refreshed", self.name)
            return tokens.access_token


class ServerTokens:
    """The access token of one OAuth server: read from the store, refreshed before expiry
    (``RefreshingToken``); every failure is the server's ``ServerGone``."""

    def __init__(
        self,
        server: str,
        resource: str,
        database: Database,
        secrets: SecretBox,
        oauth: Callable[[], OAuthClient],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.resource = resource
        self._database = database
        self._secrets = secrets
        self._token = RefreshingToken(
            f"mcp {server}",
            load=self._load,
            save=self._save,
            oauth=oauth,
            resource=resource,
            now=now,
        )

    @property
    def refreshes(self) -> int:
        return self._token.refreshes

    async def _load(self) -> OAuthCredentials | None:
        credentials: OAuthCredentials | None = await self._database.run(
            load_oauth_credentials, self._secrets, self.server
        )
        return credentials

    async def _save(self, credentials: OAuthCredentials) -> None:
        await self._database.run(save_oauth_credentials, self._secrets, self.server, credentials)

    async def __call__(self, force: bool = False) -> str:
        try:
            return await self._token(force)
        except AuthorizationLost as error:
            again = ": install it again" if error.reason == "no_tokens" else ""
            raise ServerGone(f"{self.server}: {error}{again}") from error
        except OAuthError as error:
            raise ServerGone(f"{self.server}: {error}") from error

    def auth(self) -> BearerAuth:
        return BearerAuth(self)
