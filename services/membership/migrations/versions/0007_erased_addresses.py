"""tombstones of erased members' addresses (blind index only), so imports never re-create them

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "erased_addresses",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("email_index", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "email_index"),
    )
    enable_org_row_security(op, "erased_addresses", "org_id")
