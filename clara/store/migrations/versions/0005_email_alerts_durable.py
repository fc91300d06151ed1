"""email: durable alerts, account status, ordered rules with importance

Alerts become promises (``pending`` → ``delivered`` / ``failed``) with their importance, the
rule that matched, the posted message's id, the attempts made and a ``message_key`` that
recognises a message across a UIDVALIDITY change. Accounts gain their status (``status``,
``failures``, ``last_error``, ``error_notified``), when they were last caught up
(``synced_at``) and last had mail (``last_mail_at``), and where alerts go
(``alert_channel_id``). Rules gain an explicit order, an importance and any/all matching.
Alerts recorded before the upgrade were sent already: they become ``delivered``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _account_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("status", sa.String(length=16), nullable=False, server_default="new"),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("error_notified", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("newest_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("newest_seen_keys", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("last_mail_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_channel_id", sa.String(length=64), nullable=True),
    ]


def _rule_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("importance", sa.String(length=8), nullable=False, server_default="normal"),
        sa.Column("match", sa.String(length=3), nullable=False, server_default="any"),
    ]


def _alert_columns() -> list[sa.Column[object]]:
    # Rows already in the table were alerted by the old monitor: they are delivered.
    return [
        sa.Column("state", sa.String(length=16), nullable=False, server_default="delivered"),
        sa.Column("importance", sa.String(length=8), nullable=False, server_default="normal"),
        sa.Column("rule_name", sa.String(length=200), nullable=True),
        sa.Column("posted_message_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("message_key", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: on SQLite a batch recreates the table, and dropping
    # the old email_accounts would cascade (ON DELETE CASCADE) to every rule and alert.
    for table, columns in _tables():
        for column in columns:
            op.add_column(table, column)
    # The server defaults carried the existing rows over; new rows get theirs from the model
    # (an alert is "pending" when recorded). SQLite cannot drop a default without the
    # recreate above, so there the default stays (SQLAlchemy always sends the model's).
    if op.get_bind().dialect.name != "sqlite":
        for table, columns in _tables():
            for column in columns:
                if column.server_default is not None:
                    op.alter_column(table, column.name, server_default=None)
    op.create_index("ix_email_alerts_open", "email_alerts", ["account_id", "state"])
    op.create_index("ix_email_alerts_message_key", "email_alerts", ["account_id", "message_key"])


def downgrade() -> None:
    op.drop_index("ix_email_alerts_message_key", table_name="email_alerts")
    op.drop_index("ix_email_alerts_open", table_name="email_alerts")
    for table, columns in reversed(_tables()):
        for column in reversed(columns):
            op.drop_column(table, column.name)


def _tables() -> list[tuple[str, list[sa.Column[object]]]]:
    return [
        ("email_accounts", _account_columns()),
        ("email_rules", _rule_columns()),
        ("email_alerts", _alert_columns()),
    ]
