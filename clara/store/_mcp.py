"""MCP server configurations and their OAuth credentials, as functions over a session."""

from __future__ import annotations

import datetime as dt

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ._records import McpServerConfig, RecordProblem, decode_records
from ._secrets import SecretBox
from .models import McpServer, McpServerSecret, OAuthToken

__all__ = [
    "OAuthCredentials",
    "StoredMcpServer",
    "delete_mcp_server",
    "load_mcp_server_secrets",
    "load_mcp_servers",
    "load_oauth_credentials",
    "save_mcp_server",
    "save_mcp_server_secrets",
    "save_oauth_credentials",
    "set_mcp_server_enabled",
]


class StoredMcpServer(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    source: str
    enabled: bool
    config: McpServerConfig


class OAuthCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """What Clara holds to call a remote server: tokens and the client that got them."""

    access_token: str
    refresh_token: str | None = None
    expires_at: dt.datetime | None = None
    scope: str = ""
    client_id: str = ""
    client_secret: str | None = None
    token_endpoint: str = ""


def load_mcp_servers(session: Session) -> tuple[list[StoredMcpServer], list[RecordProblem]]:
    """Every configured server; a record that cannot be read is reported and skipped."""
    rows = session.execute(
        select(
            McpServer.id, McpServer.name, McpServer.source, McpServer.enabled, McpServer.config
        ).order_by(McpServer.name)
    ).all()
    meta = {row.id: row for row in rows}
    good, problems = decode_records(
        McpServerConfig, "mcp_servers", ((row.id, row.config) for row in rows)
    )
    servers = [
        StoredMcpServer(
            id=record_id,
            name=meta[record_id].name,
            source=meta[record_id].source,
            enabled=meta[record_id].enabled,
            config=config,
        )
        for record_id, config in good
    ]
    return servers, problems


def save_mcp_server(
    session: Session, *, name: str, source: str, config: McpServerConfig, enabled: bool = True
) -> int:
    """Insert or update the server called ``name``; its id."""
    row = session.scalars(select(McpServer).where(McpServer.name == name)).one_or_none()
    if row is None:
        row = McpServer(name=name, source=source)
        session.add(row)
    row.source = source
    row.config = msgspec.to_builtins(config)
    row.enabled = enabled
    session.flush()
    return row.id


def set_mcp_server_enabled(session: Session, name: str, enabled: bool) -> bool:
    """False if there is no such server."""
    row = session.scalars(select(McpServer).where(McpServer.name == name)).one_or_none()
    if row is None:
        return False
    row.enabled = enabled
    return True


def delete_mcp_server(session: Session, name: str) -> bool:
    """Remove a server and every token and secret held for it; False if there was none."""
    session.execute(delete(OAuthToken).where(OAuthToken.server_name == name))
    session.execute(delete(McpServerSecret).where(McpServerSecret.server_name == name))
    result = session.execute(
        delete(McpServer).where(McpServer.name == name).returning(McpServer.id)
    )
    return result.scalar_one_or_none() is not None


def save_oauth_credentials(
    session: Session, box: SecretBox, server_name: str, credentials: OAuthCredentials
) -> None:
    """Insert or replace the server's credentials; every secret encrypted."""
    token = session.scalars(
        select(OAuthToken).where(
            OAuthToken.server_name == server_name, OAuthToken.user_id.is_(None)
        )
    ).one_or_none()
    if token is None:
        token = OAuthToken(server_name=server_name, user_id=None, access_token_encrypted=b"")
        session.add(token)
    token.access_token_encrypted = box.encrypt(credentials.access_token)
    token.refresh_token_encrypted = (
        box.encrypt(credentials.refresh_token) if credentials.refresh_token else None
    )
    token.expires_at = credentials.expires_at
    token.scope = credentials.scope
    token.client_id = credentials.client_id
    token.client_secret_encrypted = (
        box.encrypt(credentials.client_secret) if credentials.client_secret else None
    )
    token.token_endpoint = credentials.token_endpoint
    session.flush()


def load_oauth_credentials(
    session: Session, box: SecretBox, server_name: str
) -> OAuthCredentials | None:
    """The server's credentials in clear, or None; ``SecretKeyError`` if the keys are wrong."""
    token = session.scalars(
        select(OAuthToken).where(
            OAuthToken.server_name == server_name, OAuthToken.user_id.is_(None)
        )
    ).one_or_none()
    if token is None:
        return None
    what = f"oauth_tokens {token.id}"
    return OAuthCredentials(
        access_token=box.decrypt(token.access_token_encrypted, what),
        refresh_token=(
            box.decrypt(token.refresh_token_encrypted, what)
            if token.refresh_token_encrypted is not None
            else None
        ),
        expires_at=token.expires_at,
        scope=token.scope,
        client_id=token.client_id,
        client_secret=(
            box.decrypt(token.client_secret_encrypted, what)
            if token.client_secret_encrypted is not None
            else None
        ),
        token_endpoint=token.token_endpoint,
    )


def save_mcp_server_secrets(
    session: Session, box: SecretBox, server_name: str, values: dict[str, str]
) -> None:
    """Replace the server's secret environment variables, each value encrypted."""
    session.execute(delete(McpServerSecret).where(McpServerSecret.server_name == server_name))
    for name, value in values.items():
        session.add(
            McpServerSecret(server_name=server_name, name=name, value_encrypted=box.encrypt(value))
        )
    session.flush()


def load_mcp_server_secrets(session: Session, box: SecretBox, server_name: str) -> dict[str, str]:
    """The server's secret environment variables in clear ({} if none)."""
    rows = session.scalars(
        select(McpServerSecret).where(McpServerSecret.server_name == server_name)
    )
    return {
        row.name: box.decrypt(row.value_encrypted, f"mcp_server_secrets {row.id}") for row in rows
    }
