"""experiments: the fingerprint of the data they trained on; driver leases (one driver per experiment)

``lorasweep_data_fingerprints`` holds the sha256 of the task's local data files when the
experiment was created (no row for generated or hub data, nor for experiments made before this
revision: those are resumed without the check). ``lorasweep_driver_leases`` holds the driver that
runs an experiment; it is empty between runs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lorasweep_data_fingerprints",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["lorasweep_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id"),
    )
    op.create_table(
        "lorasweep_driver_leases",
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("experiment"),
    )


def downgrade() -> None:
    op.drop_table("lorasweep_driver_leases")
    op.drop_table("lorasweep_data_fingerprints")
