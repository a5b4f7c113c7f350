"""the Stripe customer ids an erasure deleted (ids, not personal data), written before the
deletion so that every later Erase still names them: a lost reply and a retry must not make
the certificate say billing held no Stripe customer

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "erased_stripe_customers",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("member_ref", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "member_ref", "customer_id"),
    )
    enable_org_row_security(op, "erased_stripe_customers", "org_id")
