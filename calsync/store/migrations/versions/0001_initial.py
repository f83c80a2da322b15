"""Initial schema: users, task types, arrays, update log, insights, sync state, suggestions.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from calsync.store.tables import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_table(
        "task_types",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_types"),
        sa.UniqueConstraint("name", name="uq_task_types_name"),
    )
    op.create_table(
        "habit_arrays",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("task_type_id", sa.Integer, nullable=False),
        sa.Column("slots", sa.LargeBinary, nullable=False),
        sa.Column("completion_count", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "task_type_id", name="pk_habit_arrays"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_habit_arrays_user_id_users"),
        sa.ForeignKeyConstraint(
            ["task_type_id"], ["task_types.id"], name="fk_habit_arrays_task_type_id_task_types"
        ),
    )
    op.create_table(
        "energy_arrays",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("slots", sa.LargeBinary, nullable=False),
        sa.Column("update_count", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_energy_arrays"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_energy_arrays_user_id_users"),
    )
    op.create_table(
        "behaviour_updates",
        sa.Column("seq", sa.Integer, autoincrement=True),
        sa.Column("idempotency_key", sa.String(500), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("task_type_id", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=True),
        sa.Column("slot", sa.Integer, nullable=True),
        sa.Column("success", sa.Float, nullable=True),
        sa.Column("energy_after", sa.Float, nullable=True),
        sa.Column("adjustments", sa.JSON, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_behaviour_updates"),
        sa.UniqueConstraint("idempotency_key", name="uq_behaviour_updates_idempotency_key"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_behaviour_updates_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["task_type_id"],
            ["task_types.id"],
            name="fk_behaviour_updates_task_type_id_task_types",
        ),
    )
    op.create_index(
        "ix_behaviour_updates_user_task",
        "behaviour_updates",
        ["user_id", "task_type_id", "seq"],
    )
    op.create_table(
        "behaviour_update_history",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("update_seq", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("task_type_id", sa.Integer, nullable=True),
        sa.Column("slot", sa.Integer, nullable=True),
        sa.Column("success", sa.Float, nullable=True),
        sa.Column("energy_after", sa.Float, nullable=True),
        sa.Column("replaced_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_behaviour_update_history"),
        sa.ForeignKeyConstraint(
            ["update_seq"],
            ["behaviour_updates.seq"],
            name="fk_behaviour_update_history_update_seq_behaviour_updates",
        ),
    )
    op.create_table(
        "insights",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("confidence", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("meta", sa.JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_insights"),
        sa.UniqueConstraint("user_id", "fingerprint", name="uq_insights_user_fingerprint"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_insights_user_id_users"),
    )
    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("needs_reauth", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_sync_state"),
    )
    op.create_table(
        "suggestions",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("task_type_id", sa.Integer, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("remote_id", sa.String(1024), nullable=True),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suggestions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_suggestions_user_id_users"),
        sa.ForeignKeyConstraint(
            ["task_type_id"], ["task_types.id"], name="fk_suggestions_task_type_id_task_types"
        ),
    )


def downgrade() -> None:
    for table in (
        "suggestions",
        "sync_state",
        "insights",
        "behaviour_update_history",
        "behaviour_updates",
        "energy_arrays",
        "habit_arrays",
        "task_types",
        "users",
    ):
        op.drop_table(table)
