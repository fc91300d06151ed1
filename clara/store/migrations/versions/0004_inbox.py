"""the durable inbox: each message addressed to Clara with where its answer stands

Replaces ``processed_messages`` (a dedup key and nothing else): every key it held is kept as
an ``answered`` row, so nothing handled before the upgrade is answered again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("reply", sa.LargeBinary(), nullable=True),
        sa.Column("pieces_sent", sa.Integer(), nullable=False),
        sa.Column("first_piece_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
        sa.UniqueConstraint(
            "platform", "message_id", name=op.f("uq_inbox_messages_platform_message_id")
        ),
    )
    op.create_index("ix_inbox_messages_open", "inbox_messages", ["platform", "channel_id", "state"])
    # Keys handled before the upgrade stay handled; the channel is unknown ("") and no
    # longer matters for a finished row.
    op.execute(
        "INSERT INTO inbox_messages (platform, message_id, channel_id, state, pieces_sent, "
        "attempts, received_at, finished_at) "
        "SELECT platform, message_id, '', 'answered', 0, 0, processed_at, processed_at "
        "FROM processed_messages"
    )
    op.drop_table("processed_messages")


def downgrade() -> None:
    op.create_table(
        "processed_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_messages")),
        sa.UniqueConstraint(
            "platform", "message_id", name=op.f("uq_processed_messages_platform_message_id")
        ),
    )
    op.execute(
        "INSERT INTO processed_messages (platform, message_id, processed_at) "
        "SELECT platform, message_id, received_at FROM inbox_messages"
    )
    op.drop_index("ix_inbox_messages_open", table_name="inbox_messages")
    op.drop_table("inbox_messages")
