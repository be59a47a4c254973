"""signal, drift and drift ratio on each report

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("signal", "drift", "drift_ratio")


def upgrade() -> None:
    with op.batch_alter_table("lorasweep_reports", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lorasweep_reports", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
