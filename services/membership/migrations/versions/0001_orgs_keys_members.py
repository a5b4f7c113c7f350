"""orgs, api keys, members and mechanism tables

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
        "orgs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_number", sa.String(9), nullable=False, unique=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("orgs.id"), nullable=False, index=True),
        sa.Column("name_sealed", sa.LargeBinary, nullable=False),
        sa.Column("email_sealed", sa.LargeBinary, nullable=False),
        sa.Column("phone_sealed", sa.LargeBinary, nullable=False),
        sa.Column("email_index", sa.String(64), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "email_index", name="uq_members_org_email"),
    )
