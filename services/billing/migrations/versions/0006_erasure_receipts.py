"""each erasure's receipt (categories, counts, what is kept until when; no personal data),
answered again by a repeated Erase after a lost reply

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "erasure_receipts",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("receipt_json", sa.Text, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "subject_id"),
    )
    enable_org_row_security(op, "erasure_receipts", "org_id")
