"""the erasure ledger: keyed hashes of erased subjects, their scope and time (append-only)

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "erasure_ledger",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False, index=True),
        sa.Column("scope", sa.String(60), nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    enable_org_row_security(op, "erasure_ledger", "org_id")
