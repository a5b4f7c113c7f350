"""payment attempts keep the Checkout Session and the refund they started; a member's Stripe
customer row outlives the customer (customer_id NULL) and counts its generations

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("payment_attempts", sa.Column("checkout_session_id", sa.String(80)))
    op.add_column("payment_attempts", sa.Column("refund_id", sa.String(64)))
    op.create_index("ix_payment_attempts_refund_id", "payment_attempts", ["refund_id"], unique=True)
    with op.batch_alter_table("stripe_customers") as table:
        table.alter_column("customer_id", existing_type=sa.String(64), nullable=True)
        # Customers this member has had at Stripe: part of the idempotency key that makes the
        # next one, so a customer deleted at Stripe can be made anew within the key's 24 h.
        table.add_column(sa.Column("generation", sa.Integer, nullable=False, server_default="1"))
