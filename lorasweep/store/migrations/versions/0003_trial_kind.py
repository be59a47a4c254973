"""trial kind: search trials and seed re-runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KIND = sa.Enum("search", "seeds", name="lorasweep_trial_kind")


def upgrade() -> None:
    KIND.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", KIND, nullable=False, server_default="search"))


def downgrade() -> None:
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.drop_column("kind")
    KIND.drop(op.get_bind(), checkfirst=True)
