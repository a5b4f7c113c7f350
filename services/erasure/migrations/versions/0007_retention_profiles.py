"""retention profiles: each load of an org's profile, the newest the active one

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "retention_profile_loads",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(120), nullable=False),
        sa.Column("profile_yaml", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "revision"),
    )
    enable_org_row_security(op, "retention_profile_loads", "org_id")


def downgrade() -> None:
    op.drop_table("retention_profile_loads")
