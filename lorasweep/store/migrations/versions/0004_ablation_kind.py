"""trial kind: ablation points

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


OLD = sa.Enum("search", "seeds", name="lorasweep_trial_kind")
NEW = sa.Enum("search", "seeds", "ablation", name="lorasweep_trial_kind")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # a native enum type: add the value
        # (allowed inside a transaction since PostgreSQL 12, as long as it is not used there)
        op.execute("ALTER TYPE lorasweep_trial_kind ADD VALUE IF NOT EXISTS 'ablation'")
        return
    # elsewhere the enum is a VARCHAR as long as its longest value: widen it
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=OLD, type_=NEW, existing_nullable=False, existing_server_default="search"
        )


def downgrade() -> None:
    # PostgreSQL cannot drop one value of an enum type; ablation rows would be orphaned anyway.
    op.execute(
        "DELETE FROM lorasweep_reports WHERE trial_id IN (SELECT id FROM lorasweep_trials WHERE kind = 'ablation')"
    )
    op.execute("DELETE FROM lorasweep_trials WHERE kind = 'ablation'")
