"""sandbox: every run in a person's sandbox, and each server's sandbox settings

Two new tables, nothing else touched. ``sandbox_runs`` is the audit of code runs (who, where,
which tool, the code's SHA-256, how it ended), written before a run starts and finished after
it, so a run cut short stays visible; ``sandbox_server_settings`` holds, per server, who may
run code (``mode``) and whether sandboxes have a network.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("guild_id", sa.String(length=64), nullable=True),
        sa.Column("tool", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output_bytes", sa.BigInteger(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("killed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_runs")),
    )
    op.create_index("ix_sandbox_runs_person", "sandbox_runs", ["platform", "user_id", "started_at"])
    op.create_index("ix_sandbox_runs_started_at", "sandbox_runs", ["started_at"])
    op.create_table(
        "sandbox_server_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("guild_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("network", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_server_settings")),
        sa.UniqueConstraint(
            "platform", "guild_id", name=op.f("uq_sandbox_server_settings_platform_guild_id")
        ),
    )


def downgrade() -> None:
    # The run audit and the servers' choices go with the tables: 0009's code has no sandbox.
    op.drop_table("sandbox_server_settings")
    op.drop_index("ix_sandbox_runs_started_at", table_name="sandbox_runs")
    op.drop_index("ix_sandbox_runs_person", table_name="sandbox_runs")
    op.drop_table("sandbox_runs")
