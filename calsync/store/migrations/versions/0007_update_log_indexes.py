"""Indexes that fit the update log's queries: by user and kind.

The newest adjustment row of every target (``WHERE user_id AND kind =
'adjustment' GROUP BY task_type_id``, run by every behavioural update of the
evidence learner) and the newest completion's time (``max(recorded_at)``,
the interpreter sync) were answered by scanning every log row of the user:
cost that grew with the history. With ``(user_id, kind, task_type_id, seq)``
and ``(user_id, kind, recorded_at)`` both are index seeks.

Revision ID: 0007_update_log_indexes
Revises: 0006_installation
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007_update_log_indexes"
down_revision = "0006_installation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_behaviour_updates_user_kind",
        "behaviour_updates",
        ["user_id", "kind", "task_type_id", "seq"],
    )
    op.create_index(
        "ix_behaviour_updates_user_kind_recorded",
        "behaviour_updates",
        ["user_id", "kind", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_behaviour_updates_user_kind_recorded", table_name="behaviour_updates")
    op.drop_index("ix_behaviour_updates_user_kind", table_name="behaviour_updates")
