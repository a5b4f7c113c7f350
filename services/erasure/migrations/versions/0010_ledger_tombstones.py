"""the tombstones stores keep of erased members (membership's blind index of the erased
address: a keyed hash under membership's key), recorded from their Erase receipts so that a
replay can hand them back to a store restored from an older backup (append-only)

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "ledger_tombstones",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("store", sa.String(50), nullable=False),
        sa.Column("tombstone", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "store", "tombstone"),
    )
    enable_org_row_security(op, "ledger_tombstones", "org_id")
