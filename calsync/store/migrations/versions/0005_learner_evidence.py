"""Evidence learner: per-user, per-stream slot evidence and the learner fingerprint.

Revision ID: 0005_learner_evidence
Revises: 0004_llm_sync
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from calsync.store.tables import UTCDateTime

revision = "0005_learner_evidence"
down_revision = "0004_llm_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learner_evidence",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(40), nullable=False),
        sa.Column("positive", sa.LargeBinary, nullable=False),
        sa.Column("negative", sa.LargeBinary, nullable=False),
        sa.Column("reference_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "stream", name="pk_learner_evidence"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_learner_evidence_user_id_users"
        ),
    )
    op.create_table(
        "learner_state",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_learner_state"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_learner_state_user_id_users"),
    )


def downgrade() -> None:
    op.drop_table("learner_state")
    op.drop_table("learner_evidence")
