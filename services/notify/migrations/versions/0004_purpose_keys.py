"""the message log's purpose holds membership's consent purpose keys (up to 50 characters)

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.alter_column(
            "purpose", existing_type=sa.String(20), type_=sa.String(50), existing_nullable=False
        )
