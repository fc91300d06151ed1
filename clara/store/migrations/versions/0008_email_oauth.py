"""email: accounts that sign in with OAuth (IMAP XOAUTH2)

Accounts gain ``auth_method`` (``password`` or ``oauth2``; every existing account signs in
with its password) and ``oauth_provider`` (the provider's name in Clara: ``google``,
``microsoft`` or one configured by the operator). An OAuth account's tokens live in the new
``email_oauth_tokens`` (one row per account, encrypted like the MCP servers' tokens); its
``password_encrypted`` holds an encrypted empty string.

Alerts gain ``digest_key``: set on held alerts, durably, before their digest is posted, so a
digest cut off by a crash is posted again as the same digest (same alerts, same nonce), never
merged into a later one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode, as in 0005-0007: on SQLite a batch recreates the
    # table, and dropping the old email_accounts would cascade to every rule and alert.
    op.add_column(
        "email_accounts",
        sa.Column("auth_method", sa.String(length=16), nullable=False, server_default="password"),
    )
    op.add_column(
        "email_accounts", sa.Column("oauth_provider", sa.String(length=64), nullable=True)
    )
    op.add_column("email_alerts", sa.Column("digest_key", sa.String(length=64), nullable=True))
    op.create_table(
        "email_oauth_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("email_accounts.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("access_token_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("refresh_token_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("token_endpoint", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("client_id", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("client_secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    # 0007's code knows only passwords: an OAuth account would try its empty one forever.
    # Turn such accounts off (their owners connect them again after an upgrade).
    op.execute("UPDATE email_accounts SET enabled = false WHERE auth_method = 'oauth2'")
    op.drop_table("email_oauth_tokens")
    op.drop_column("email_alerts", "digest_key")
    op.drop_column("email_accounts", "oauth_provider")
    op.drop_column("email_accounts", "auth_method")
