"""study repeat: repeated searches of one (space, rank) (``compare --repeats K``)

Each study is one search; repeat ``i`` of every space of an experiment shares its sampler seed, so
repeats pair across spaces. Existing studies are repeat 0, and a study is unique per
(experiment, space, rank, repeat).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lorasweep_studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint("uq_lorasweep_study", type_="unique")
        batch_op.create_unique_constraint("uq_lorasweep_study", ["experiment_id", "space", "rank", "repeat"])


def downgrade() -> None:
    # the repeats past the first have no place in the old schema: their studies (and, through the
    # cascade, their trials and reports) go
    op.execute(
        "DELETE FROM lorasweep_reports WHERE trial_id IN (SELECT t.id FROM lorasweep_trials t "
        "JOIN lorasweep_studies s ON t.study_id = s.id WHERE s.repeat > 0)"
    )
    op.execute("DELETE FROM lorasweep_trials WHERE study_id IN (SELECT id FROM lorasweep_studies WHERE repeat > 0)")
    op.execute("DELETE FROM lorasweep_studies WHERE repeat > 0")
    with op.batch_alter_table("lorasweep_studies", schema=None) as batch_op:
        batch_op.drop_constraint("uq_lorasweep_study", type_="unique")
        batch_op.create_unique_constraint("uq_lorasweep_study", ["experiment_id", "space", "rank"])
        batch_op.drop_column("repeat")
