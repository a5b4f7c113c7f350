"""keyring and mechanism tables

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.tables import create_mechanism_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_mechanism_tables(op)
    op.create_table(
        "data_keys",
        sa.Column("subject_hash", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False, index=True),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
    )
