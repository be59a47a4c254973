"""trial state: interrupted (cut short by a stop or a crash, re-run by compare --resume)

Rows written before this revision recorded such trials as ``failed`` with an error starting
"interrupted"; they keep that state (PostgreSQL cannot use a new enum value in the transaction
that adds it), and :func:`lorasweep.search.runner.finished` still reads them as interrupted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


OLD = sa.Enum("running", "complete", "pruned", "failed", "diverged", name="lorasweep_trial_state")
NEW = sa.Enum("running", "complete", "pruned", "failed", "diverged", "interrupted", name="lorasweep_trial_state")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # a native enum type: add the value
        # (allowed inside a transaction since PostgreSQL 12, as long as it is not used there)
        op.execute("ALTER TYPE lorasweep_trial_state ADD VALUE IF NOT EXISTS 'interrupted'")
        return
    # elsewhere the enum is a VARCHAR as long as its longest value: widen it
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=OLD, type_=NEW, existing_nullable=False)


def downgrade() -> None:
    # PostgreSQL cannot drop one value of an enum type: interrupted rows go back to what earlier
    # releases wrote for them (failed, with an error that starts with "interrupted").
    op.execute(
        "UPDATE lorasweep_trials SET state = 'failed', "
        "error = CASE WHEN error LIKE 'interrupted%' THEN error ELSE 'interrupted: ' || COALESCE(error, '') END "
        "WHERE state = 'interrupted'"
    )
