"""message log and mechanism tables

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
        "messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False, index=True),
        sa.Column("member_id", sa.String(36), nullable=False, index=True),
        sa.Column("source_event_id", sa.String(36), nullable=False),
        sa.Column("template", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("recipient_sealed", sa.LargeBinary, nullable=False),
        sa.Column("subject_sealed", sa.LargeBinary, nullable=False),
        sa.Column("body_sealed", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
