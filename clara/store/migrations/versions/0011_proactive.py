"""proactive: one schedule per person, promises kept once, notes that decay, servers' opt-out

``proactive_people`` is each person's proactive state: their opt-out and quiet hours, where
Clara reaches them, the next check (``next_check_at``: timers end with an actor's
incarnation, so the schedule lives here), the last decision and counts, their calendar feed
(encrypted URL) and the actor's snapshot when passivated.

``proactive_messages`` become promises: ``claimed`` (recorded with the idempotency key before
sending) → ``delivered`` (with the posted message's id) or ``failed``; a reply links to its
message (``replied_at``, ``reply_message_id``). Rows from before were sent: ``delivered``.

``proactive_notes`` gain their kind, confidence, relevance (decaying), expiry, the message
ids they stand on, and when they were archived. ``proactive_assessments`` say whether the
model's answer was valid. ``interaction_patterns`` gain the last channel a person wrote in.
``proactive_server_settings`` holds each server's opt-out.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _message_columns() -> list[sa.Column[object]]:
    # Rows already in the table were sent by the old engine: they are delivered.
    return [
        sa.Column("state", sa.String(length=16), nullable=False, server_default="delivered"),
        sa.Column("kind", sa.String(length=32), nullable=False, server_default="check_in"),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("platform_message_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_message_id", sa.String(length=64), nullable=True),
    ]


def _note_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sa.String(length=32), nullable=False, server_default="follow_up"),
        sa.Column("confidence", sa.Double(), nullable=False, server_default="0.5"),
        sa.Column("relevance", sa.Double(), nullable=False, server_default="1.0"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _assessment_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("valid", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _pattern_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("last_channel_id", sa.String(length=64), nullable=True),
        sa.Column("last_guild_id", sa.String(length=64), nullable=True),
    ]


def _tables() -> list[tuple[str, list[sa.Column[object]]]]:
    return [
        ("proactive_messages", _message_columns()),
        ("proactive_notes", _note_columns()),
        ("proactive_assessments", _assessment_columns()),
        ("interaction_patterns", _pattern_columns()),
    ]


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (a batch on SQLite recreates the table).
    for table, columns in _tables():
        for column in columns:
            op.add_column(table, column)
    if op.get_bind().dialect.name != "sqlite":
        for table, columns in _tables():
            for column in columns:
                if column.server_default is not None:
                    op.alter_column(table, column.name, server_default=None)
    op.create_index("ix_proactive_messages_open", "proactive_messages", ["state"])
    op.create_index("ix_proactive_notes_user", "proactive_notes", ["user_id", "archived_at"])
    op.create_table(
        "proactive_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("quiet_hours", sa.String(length=5), nullable=True),
        sa.Column("reach_channel_id", sa.String(length=64), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_decision", sa.String(length=16), nullable=True),
        sa.Column("last_reason", sa.String(length=500), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("speaks", sa.Integer(), nullable=False),
        sa.Column("thinks", sa.Integer(), nullable=False),
        sa.Column("waits", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("calendar_url", sa.LargeBinary(), nullable=True),
        sa.Column("calendar_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("calendar_error", sa.String(length=300), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_proactive_people_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proactive_people")),
        sa.UniqueConstraint("user_id", name=op.f("uq_proactive_people_user_id")),
    )
    op.create_index("ix_proactive_people_due", "proactive_people", ["next_check_at"])
    op.create_table(
        "proactive_server_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("guild_id", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proactive_server_settings")),
        sa.UniqueConstraint(
            "platform", "guild_id", name=op.f("uq_proactive_server_settings_platform_guild_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("proactive_server_settings")
    op.drop_index("ix_proactive_people_due", table_name="proactive_people")
    op.drop_table("proactive_people")
    op.drop_index("ix_proactive_notes_user", table_name="proactive_notes")
    op.drop_index("ix_proactive_messages_open", table_name="proactive_messages")
    for table, columns in reversed(_tables()):
        for column in reversed(columns):
            op.drop_column(table, column.name)
