"""oauth clients: the registered client and token endpoint kept with the tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_tokens") as batch:
        batch.add_column(
            sa.Column("client_id", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("client_secret_encrypted", sa.LargeBinary(), nullable=True))
        batch.add_column(
            sa.Column("token_endpoint", sa.String(length=500), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_tokens") as batch:
        batch.drop_column("token_endpoint")
        batch.drop_column("client_secret_encrypted")
        batch.drop_column("client_id")
