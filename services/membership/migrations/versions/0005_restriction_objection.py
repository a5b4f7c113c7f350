"""restriction of processing and objections per purpose

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("objections", sa.String(500), nullable=False, server_default=""))
