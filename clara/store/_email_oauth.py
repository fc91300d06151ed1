"""Mail accounts that sign in with OAuth (IMAP XOAUTH2): their tokens, encrypted at rest.

An ``oauth2`` account (``email_accounts.auth_method``) keeps its tokens in one
``email_oauth_tokens`` row: access and refresh token and the client secret encrypted with
the ``SecretBox`` (key rotation reaches them: ``ENCRYPTED_COLUMNS``), the token endpoint
and client id in clear (a refresh needs them, and they are not secrets). Its
``password_encrypted`` holds an encrypted empty string.

The credentials travel as the MCP servers' do (``OAuthCredentials``), so the one refresher
(``clara.actors.mcp.tokens.RefreshingToken``) serves both.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ._conversations import ensure_user
from ._email import ConnectedEmailAccount
from ._mcp import OAuthCredentials
from ._secrets import SecretBox
from .models import EmailAccount, EmailOAuthToken

__all__ = [
    "connect_oauth_email_account",
    "load_email_oauth_credentials",
    "save_email_oauth_credentials",
]


def _row(session: Session, account_id: int) -> EmailOAuthToken | None:
    return session.scalars(
        select(EmailOAuthToken).where(EmailOAuthToken.account_id == account_id)
    ).one_or_none()


def load_email_oauth_credentials(
    session: Session, box: SecretBox, account_id: int
) -> OAuthCredentials | None:
    """The account's tokens in clear, or None when it has none.

    Raises:
        SecretKeyError: no configured key opens them.
    """
    token = _row(session, account_id)
    if token is None:
        return None
    what = f"email_oauth_tokens {token.id}"
    return OAuthCredentials(
        access_token=box.decrypt(token.access_token_encrypted, what),
        refresh_token=(
            None
            if token.refresh_token_encrypted is None
            else box.decrypt(token.refresh_token_encrypted, what)
        ),
        expires_at=token.expires_at,
        scope=token.scope,
        client_id=token.client_id,
        client_secret=(
            None
            if token.client_secret_encrypted is None
            else box.decrypt(token.client_secret_encrypted, what)
        ),
        token_endpoint=token.token_endpoint,
    )


def save_email_oauth_credentials(
    session: Session,
    box: SecretBox,
    account_id: int,
    credentials: OAuthCredentials,
    *,
    provider: str | None = None,
) -> None:
    """Replace the account's tokens (a refresh), every secret encrypted; with ``provider``,
    insert them when the account has none yet (a new sign-in).

    Raises:
        LookupError: the account has no tokens and no ``provider`` was given (it was
            disconnected meanwhile, or never signed in with OAuth).
    """
    token = _row(session, account_id)
    if token is None:
        if provider is None:
            raise LookupError(f"email account {account_id} has no OAuth tokens to replace")
        token = EmailOAuthToken(account_id=account_id, provider=provider)
        session.add(token)
    elif provider is not None:
        token.provider = provider
    token.access_token_encrypted = box.encrypt(credentials.access_token)
    token.refresh_token_encrypted = (
        box.encrypt(credentials.refresh_token) if credentials.refresh_token else None
    )
    token.expires_at = credentials.expires_at
    token.scope = credentials.scope[:500]
    token.token_endpoint = credentials.token_endpoint
    token.client_id = credentials.client_id
    token.client_secret_encrypted = (
        box.encrypt(credentials.client_secret) if credentials.client_secret else None
    )
    session.flush()


def connect_oauth_email_account(
    session: Session,
    box: SecretBox,
    *,
    platform: str,
    platform_user_id: str,
    display_name: str,
    address: str,
    provider: str,
    imap_host: str,
    imap_port: int,
    use_tls: bool,
    credentials: OAuthCredentials,
    alert_channel_id: str | None = None,
) -> ConnectedEmailAccount:
    """Save an account that signs in with OAuth for a person (their user row made if
    needed): a new one, or their account with the same address (any case) updated to sign
    in with ``provider`` and these tokens, enabled again and its error forgotten. One unit
    of work: the account and its tokens are saved together or not at all.

    The XOAUTH2 user name is the address. An update that keeps the server and the login
    keeps where alerting stood (so mail that came meanwhile is still alerted); one to another
    server or login starts afresh, as a new account does. ``alert_channel_id`` None keeps an
    existing account's channel (a new one's alerts go to its owner by DM).
    """
    owner = ensure_user(session, platform, platform_user_id, display_name)
    row = session.scalars(
        select(EmailAccount).where(
            EmailAccount.user_id == owner.id,
            func.lower(EmailAccount.address) == address.lower(),
        )
    ).one_or_none()
    created = row is None
    changed = False
    if row is None:
        row = EmailAccount(
            user_id=owner.id,
            address=address,
            imap_host=imap_host,
            imap_port=imap_port,
            username=address,
            password_encrypted=b"",
            use_tls=use_tls,
        )
        session.add(row)
    else:
        changed = (row.imap_host.lower(), row.imap_port, row.username) != (
            imap_host.lower(),
            imap_port,
            address,
        )
        row.imap_host, row.imap_port, row.username, row.use_tls = (
            imap_host,
            imap_port,
            address,
            use_tls,
        )
        row.enabled = True
        row.status, row.failures, row.last_error, row.error_notified = "new", 0, None, False
        if changed:
            row.uidvalidity = row.last_uid = None
            row.synced_at = row.newest_seen_at = None
            row.newest_seen_keys = []
    row.password_encrypted = box.encrypt("")
    row.auth_method, row.oauth_provider = "oauth2", provider
    if alert_channel_id is not None:
        row.alert_channel_id = alert_channel_id
    session.flush()
    save_email_oauth_credentials(session, box, row.id, credentials, provider=provider)
    return ConnectedEmailAccount(id=row.id, created=created, mailbox_changed=changed)
