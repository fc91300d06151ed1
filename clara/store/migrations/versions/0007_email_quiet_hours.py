"""email: quiet hours per account

Accounts gain ``quiet_start`` and ``quiet_end`` (``HH:MM`` in the owner's own time zone;
NULL for existing accounts, so nobody's alerts start waiting because of an upgrade). Alerts
gain no column: ``held`` is a new value of ``state`` (a plain string column).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ("quiet_start", "quiet_end")


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode, as in 0005 and 0006: on SQLite a batch recreates
    # the table, and dropping the old email_accounts would cascade to every rule and alert.
    for name in _COLUMNS:
        op.add_column("email_accounts", sa.Column(name, sa.String(length=5), nullable=True))


def downgrade() -> None:
    # A held alert means nothing to 0006's code (it would never be sent): hand it back as
    # pending, so it goes out at once after the downgrade rather than never.
    op.execute("UPDATE email_alerts SET state = 'pending' WHERE state = 'held'")
    for name in reversed(_COLUMNS):
        op.drop_column("email_accounts", name)
