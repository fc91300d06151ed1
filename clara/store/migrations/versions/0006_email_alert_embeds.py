"""email: alerts as embeds, with a snippet and an optional ping of the owner

Accounts gain ``ping_owner`` (whether an alert notifies its owner; off for existing
accounts, so nobody starts being pinged by an upgrade). Alerts gain ``snippet``, the start
of the message's text, kept with the alert so one resent after a restart still shows it;
alerts recorded before the upgrade have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, sa.Column[object]]]:
    return [
        (
            "email_accounts",
            sa.Column("ping_owner", sa.Boolean(), nullable=False, server_default=sa.false()),
        ),
        (
            "email_alerts",
            sa.Column("snippet", sa.String(length=300), nullable=False, server_default=""),
        ),
    ]


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode, as in 0005: on SQLite a batch recreates the table,
    # and dropping the old email_accounts would cascade to every rule and alert.
    for table, column in _tables():
        op.add_column(table, column)
    # The server defaults carried the existing rows over; new rows get theirs from the model.
    # SQLite cannot drop a default without the recreate above, so there it stays.
    if op.get_bind().dialect.name != "sqlite":
        for table, column in _tables():
            op.alter_column(table, column.name, server_default=None)


def downgrade() -> None:
    for table, column in reversed(_tables()):
        op.drop_column(table, column.name)
