"""Fresh OAuth access tokens for the mail accounts that sign in with XOAUTH2.

The MCP servers' refresher (``RefreshingToken``) with the mail accounts' store: a token with
less than five minutes left is refreshed before it is handed out, the new tokens are saved
(encrypted) before anyone uses them, and every caller in this process shares one refresh per
account (the account's actor and the mail tools ask the same ``EmailTokens``). A refresh
token the provider refuses (``invalid_grant``: revoked, expired, the password changed) is
``AuthorizationLost``: only the person signing in again helps.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...adapters.mcp import OAuthClient
from ...store import (
    Database,
    OAuthCredentials,
    SecretBox,
    load_email_oauth_credentials,
    save_email_oauth_credentials,
)
from ..mcp.tokens import RefreshingToken

__all__ = ["EmailTokens"]


class EmailTokens:
    """The access tokens of every OAuth mail account, one ``RefreshingToken`` per account
    (made at its first use, dropped by ``forget``).

    Args:
        database: the store the tokens live in.
        secrets: encrypts and decrypts them.
        oauth: the HTTP side of a refresh (its token endpoint checks).
        now: wall-clock seconds (token expiry times are wall-clock; a test moves it).
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretBox,
        oauth: OAuthClient,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.secrets = secrets
        self.oauth = oauth
        self.now = now
        self._tokens: dict[int, RefreshingToken] = {}

    def _of(self, account_id: int) -> RefreshingToken:
        token = self._tokens.get(account_id)
        if token is None:
            database, secrets = self.database, self.secrets

            async def load() -> OAuthCredentials | None:
                found: OAuthCredentials | None = await database.run(
                    load_email_oauth_credentials, secrets, account_id
                )
                return found

            async def save(credentials: OAuthCredentials) -> None:
                await database.write(save_email_oauth_credentials, secrets, account_id, credentials)

            token = RefreshingToken(
                f"email account {account_id}",
                load=load,
                save=save,
                oauth=lambda: self.oauth,
                resource=None,
                now=self.now,
            )
            self._tokens[account_id] = token
        return token

    async def access_token(self, account_id: int, *, force: bool = False) -> str:
        """The account's access token, refreshed first when it has less than five minutes
        left (or when ``force``: the server refused it).

        Raises:
            AuthorizationLost: no tokens, or none that can be refreshed (the refresh token
                was refused): the owner must connect the account again.
            OAuthError: the refresh failed otherwise (the provider unreachable): try later.
        """
        return await self._of(account_id)(force)

    def refreshes(self, account_id: int) -> int:
        """How many times this process refreshed the account's token."""
        token = self._tokens.get(account_id)
        return 0 if token is None else token.refreshes

    def forget(self, account_id: int) -> None:
        """Drop what is kept for an account (disconnected)."""
        self._tokens.pop(account_id, None)
