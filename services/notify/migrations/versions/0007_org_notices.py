"""notices to orgs (not members): a platform announcement heard once per kind and version,
and one delivery record per org, which makes each org's email go out once, through
redeliveries and restarts; neither holds an address or a text. And when each member's
membership ended, from membership's status changes, for retention rules counted from it

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "org_announcements",
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "version"),
    )
    op.create_table(
        "org_notices",
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("provider_ref", sa.String(100), nullable=True),
        sa.Column("last_error", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "version", "org_id"),
    )
    enable_org_row_security(op, "org_notices", "org_id")
    op.create_table(
        "relationship_ends",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("member_id", sa.String(36), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "member_id"),
    )
    enable_org_row_security(op, "relationship_ends", "org_id")
