"""Interpreter (LLM) sync: per-user last sync, and a record of every run.

Revision ID: 0004_llm_sync
Revises: 0003_suggestion_intents
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from calsync.store.tables import UTCDateTime

revision = "0004_llm_sync"
down_revision = "0003_suggestion_intents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_sync_state",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("last_sync_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_llm_sync_state"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_llm_sync_state_user_id_users"),
    )
    op.create_table(
        "llm_sync_runs",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("users_synced", sa.Integer, nullable=False),
        sa.Column("adjustments_applied", sa.Integer, nullable=False),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("errors", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_llm_sync_runs"),
    )


def downgrade() -> None:
    op.drop_table("llm_sync_runs")
    op.drop_table("llm_sync_state")
