"""Suggestions: the slot calsync chose, and the intent of a move in flight.

Revision ID: 0003_suggestion_intents
Revises: 0002_event_mirror
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from calsync.store.tables import UTCDateTime

revision = "0003_suggestion_intents"
down_revision = "0002_event_mirror"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("planned_start", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("pending_start", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("pending_end", UTCDateTime(), nullable=True))
        batch.create_index("ix_suggestions_user_target", ["user_id", "target"])


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_index("ix_suggestions_user_target")
        batch.drop_column("pending_end")
        batch.drop_column("pending_start")
        batch.drop_column("planned_start")
