"""mcp server secrets: environment variables MCP servers need, encrypted

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_server_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_name", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_server_secrets")),
        sa.UniqueConstraint(
            "server_name", "name", name=op.f("uq_mcp_server_secrets_server_name_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("mcp_server_secrets")
