"""Installation id: a ``meta`` key/value table holding this database's random installation id.

The id is generated here, once, when the database is created or upgraded,
and never changes: every block calsync writes carries it in its marker, so a
block written by another installation (another machine, a re-created state
directory) sharing the calendar is recognised and left alone.

Revision ID: 0006_installation
Revises: 0005_learner_evidence
Create Date: 2026-12-04
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from calsync.store.tables import UTCDateTime

revision = "0006_installation"
down_revision = "0005_learner_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    # 64 random bits as 16 hex digits: valid in a Google private property and an
    # iCalendar X- property, and (hex being a subset of base32hex) in event ids.
    op.bulk_insert(
        meta,
        [
            {
                "key": "installation_id",
                "value": secrets.token_hex(8),
                "created_at": datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("meta")
