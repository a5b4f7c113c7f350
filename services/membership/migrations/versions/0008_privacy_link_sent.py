"""when a member was last emailed a link to their privacy page (one per interval)

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(
            sa.Column("privacy_link_sent_at", sa.DateTime(timezone=True), nullable=True)
        )
