"""invoices, per-org invoice numbers and mechanism tables

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
        "invoice_counters",
        sa.Column("org_id", sa.String(36), primary_key=True),
        sa.Column("last_number", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False, index=True),
        sa.Column("member_ref", sa.String(64), nullable=False, index=True),
        sa.Column("source_event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("kid", sa.String(25), nullable=False),
        sa.Column("amount_ore", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("pseudonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("org_id", "number", name="uq_invoices_org_number"),
    )
