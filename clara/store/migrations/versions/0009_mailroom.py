"""mailroom: Clara's own inbox, and where each reply to it stands

Two new tables, nothing else touched. ``mailroom_mailboxes`` keeps where reading Clara's own
mailbox stands (UIDVALIDITY, last UID, the newest message seen); ``mailroom_messages`` one row
per message to Clara's address, with its summary, its draft reply, the operator's decision and
the reply's Message-ID (minted before the send, kept for every retry).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailroom_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=True),
        sa.Column("newest_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailroom_mailboxes")),
        sa.UniqueConstraint("address", name=op.f("uq_mailroom_mailboxes_address")),
    )
    op.create_table(
        "mailroom_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("reply_to", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.Column("thread_references", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("skip_reason", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.Column("edited_by", sa.String(length=100), nullable=True),
        sa.Column("posted_message_id", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("reply_message_id", sa.String(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailroom_mailboxes.id"],
            name=op.f("fk_mailroom_messages_mailbox_id_mailroom_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailroom_messages")),
        sa.UniqueConstraint(
            "mailbox_id",
            "uidvalidity",
            "uid",
            name=op.f("uq_mailroom_messages_mailbox_id_uidvalidity_uid"),
        ),
    )
    op.create_index("ix_mailroom_messages_open", "mailroom_messages", ["mailbox_id", "state"])
    op.create_index("ix_mailroom_messages_key", "mailroom_messages", ["mailbox_id", "message_key"])


def downgrade() -> None:
    # The replies still awaiting a decision or a send go with the tables: 0008's code has
    # no mailroom to keep them.
    op.drop_index("ix_mailroom_messages_key", table_name="mailroom_messages")
    op.drop_index("ix_mailroom_messages_open", table_name="mailroom_messages")
    op.drop_table("mailroom_messages")
    op.drop_table("mailroom_mailboxes")
