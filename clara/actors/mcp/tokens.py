"""OAuth access tokens of one remote MCP server, refreshed before they expire."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec
import trio

from ...adapters.mcp import REFRESH_MARGIN, BearerAuth, OAuthClient, OAuthError, ServerGone
from ...store import Database, SecretBox, load_oauth_credentials, save_oauth_credentials

__all__ = ["ServerTokens"]

logger = logging.getLogger(__name__)


class ServerTokens:
    """The access token of one OAuth server: read from the store, refreshed before expiry.

    A token with less than five minutes left (``REFRESH_MARGIN``) is refreshed first, and
    the new tokens are saved (encrypted) before they are used. Concurrent requests share
    one refresh.
    """

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
        self._oauth = oauth
        self._now = now
        self._lock = trio.Lock()
        self.refreshes = 0

    async def __call__(self, force: bool = False) -> str:
        async with self._lock:
            credentials = await self._database.run(
                load_oauth_credentials, self._secrets, self.server
            )
            if credentials is None:
                raise ServerGone(f"{self.server}: not authorized (no tokens): install it again")
            expires = credentials.expires_at
            due = expires is not None and expires.timestamp() - self._now() < REFRESH_MARGIN
            if not (force or due):
                return credentials.access_token
            if not credentials.refresh_token or not credentials.token_endpoint:
                if force or (expires is not None and expires.timestamp() <= self._now()):
                    raise ServerGone(
                        f"{self.server}: the access token expired and cannot be refreshed"
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
            except OAuthError as error:
                raise ServerGone(f"{self.server}: {error}") from error
            self.refreshes += 1
            updated = msgspec.structs.replace(
                credentials,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                expires_at=tokens.expires_at,
                scope=tokens.scope or credentials.scope,
            )
            await self._database.run(save_oauth_credentials, self._secrets, self.server, updated)
            logger.info("mcp %s: access token refreshed", self.server)
            return tokens.access_token

    def auth(self) -> BearerAuth:
        return BearerAuth(self)
