"""Event mirror: one row per occurrence of every source.

Revision ID: 0002_event_mirror
Revises: 0001_initial
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from calsync.store.tables import UTCDateTime

revision = "0002_event_mirror"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("key", sa.String(1200), nullable=False),
        sa.Column("start_at", UTCDateTime(), nullable=False),
        sa.Column("end_at", UTCDateTime(), nullable=False),
        sa.Column("suggestion_id", sa.String(100), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name="pk_events"),
    )
    op.create_index("ix_events_end_at", "events", ["end_at"])
    op.create_index("ix_events_suggestion_id", "events", ["suggestion_id"])


def downgrade() -> None:
    op.drop_index("ix_events_suggestion_id", "events")
    op.drop_index("ix_events_end_at", "events")
    op.drop_table("events")
