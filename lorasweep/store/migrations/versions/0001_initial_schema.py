"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 13:33:07.119250
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lorasweep_experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("running", "complete", "failed", "interrupted", name="lorasweep_experiment_status"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "lorasweep_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("space", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("optuna_study_name", sa.String(length=255), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.Enum("maximize", "minimize", name="lorasweep_direction"), nullable=False),
        sa.Column("space_config", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["lorasweep_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment_id", "space", "rank", name="uq_lorasweep_study"),
        sa.UniqueConstraint("optuna_study_name"),
    )
    op.create_table(
        "lorasweep_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("ray_trial_id", sa.String(length=64), nullable=False),
        sa.Column("optuna_number", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("running", "complete", "pruned", "failed", "diverged", name="lorasweep_trial_state"),
            nullable=False,
        ),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("r", sa.Integer(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("c", sa.Float(), nullable=False),
        sa.Column("lr", sa.Float(), nullable=False),
        sa.Column("scaling", sa.Float(), nullable=False),
        sa.Column("effective_step", sa.Float(), nullable=False),
        sa.Column("use_rslora", sa.Boolean(), nullable=False),
        sa.Column("final_value", sa.Float(), nullable=True),
        sa.Column("best_value", sa.Float(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("diverged_step", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_seconds", sa.Float(), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["lorasweep_studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "ray_trial_id", name="uq_lorasweep_trial"),
    )
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lorasweep_trials_study_id"), ["study_id"], unique=False)

    op.create_table(
        "lorasweep_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("device_seconds", sa.Float(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["lorasweep_trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lorasweep_reports", schema=None) as batch_op:
        batch_op.create_index("ix_lorasweep_reports_trial_step", ["trial_id", "step"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lorasweep_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_lorasweep_reports_trial_step")

    op.drop_table("lorasweep_reports")
    with op.batch_alter_table("lorasweep_trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lorasweep_trials_study_id"))

    op.drop_table("lorasweep_trials")
    op.drop_table("lorasweep_studies")
    op.drop_table("lorasweep_experiments")
    for name in ("lorasweep_trial_state", "lorasweep_direction", "lorasweep_experiment_status"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)  # PostgreSQL keeps enum types
