"""erasure task leases: the runner that holds a task and until when; requests by status

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("erasure_tasks") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_privacy_requests_status", "privacy_requests", ["status", "type"])


def downgrade() -> None:
    op.drop_index("ix_privacy_requests_status", "privacy_requests")
    with op.batch_alter_table("erasure_tasks") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
