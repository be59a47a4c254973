"""trial device: the device a trial trained on and the GPUs Ray assigned it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.drop_column("device")
