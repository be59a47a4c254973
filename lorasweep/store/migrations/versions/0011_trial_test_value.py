"""trial test value: the metric (and every metric) on the test split at a trial's end

Seed re-runs and ablation points are judged on a test split disjoint from the eval split the
search selects on; rows written before have none (NULL).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("test_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("test_metrics", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.drop_column("test_metrics")
        batch_op.drop_column("test_value")
