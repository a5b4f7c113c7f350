"""fee plans, billing policies, payments, Stripe events, credit notes, the ledger

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0003"
down_revision = "0002"

ORG_TABLES = (
    "credit_note_counters",
    "fee_plans",
    "billing_policies",
    "credit_notes",
    "ledger_entries",
    "stripe_customers",
    "payment_attempts",
    "billed_members",
)


def _org(primary_key: bool = False) -> sa.Column:
    return sa.Column("org_id", sa.String(36), nullable=False, primary_key=primary_key)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "credit_note_counters",
        _org(primary_key=True),
        sa.Column("last_number", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "fee_plans",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("membership_type_id", sa.String(36), nullable=False),
        sa.Column("amount_ore", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("due_days", sa.Integer, nullable=False),
        sa.Column("vat", sa.Boolean, nullable=False),
        _at("updated_at"),
        sa.UniqueConstraint("org_id", "membership_type_id", name="uq_fee_plans_org_type"),
    )
    op.create_table(
        "billing_policies",
        _org(primary_key=True),
        sa.Column("kid_scheme", sa.String(5), nullable=False),
        sa.Column("first_reminder_days", sa.Integer, nullable=False),
        sa.Column("max_reminders", sa.Integer, nullable=False),
        sa.Column("reminder_interval_days", sa.Integer, nullable=False),
        _at("updated_at"),
    )
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column("membership_type_id", sa.String(36), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("reason", sa.String(10), nullable=False, server_default="signup")
        )
        batch.add_column(sa.Column("renews_period_end", sa.Date, nullable=True))
        batch.add_column(_at("paid_at", nullable=True))
        batch.add_column(_at("closed_at", nullable=True))
        batch.add_column(
            sa.Column("refunded_ore", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("reminders_sent", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_reminder_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("delete_after", sa.Date, nullable=True))
        batch.create_unique_constraint(
            "uq_invoices_renewal_period", ["org_id", "member_ref", "renews_period_end"]
        )
        batch.create_index("ix_invoices_next_reminder_on", ["next_reminder_on"])
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("member_ref", sa.String(64), nullable=False, index=True),
        sa.Column("invoice_id", sa.String(36), nullable=False, index=True),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("amount_ore", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("refund_id", sa.String(64), nullable=True, unique=True),
        _at("created_at"),
        sa.Column("delete_after", sa.Date, nullable=False),
        sa.UniqueConstraint("org_id", "number", name="uq_credit_notes_org_number"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        _org(),
        sa.Column("member_ref", sa.String(64), nullable=False, index=True),
        sa.Column("invoice_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_ore", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _at("recorded_at"),
        sa.Column("source_ref", sa.String(120), nullable=False, unique=True),
        sa.Column("delete_after", sa.Date, nullable=False, index=True),
    )
    op.create_index("ix_ledger_entries_org_id", "ledger_entries", ["org_id"])
    op.create_table(
        "stripe_customers",
        _org(primary_key=True),
        sa.Column("member_ref", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False, unique=True),
        _at("created_at"),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("invoice_id", sa.String(36), nullable=False, index=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
        sa.Column("payment_intent_id", sa.String(64), nullable=True, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        _at("created_at"),
        sa.UniqueConstraint("invoice_id", "attempt", name="uq_payment_attempts_invoice_attempt"),
    )
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        _at("received_at"),
        _at("processed_at", nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_stripe_events_processed_at", "stripe_events", ["processed_at"])
    op.create_table(
        "billed_members",
        _org(primary_key=True),
        sa.Column("member_ref", sa.String(64), primary_key=True),
        sa.Column("membership_type_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("period_end", sa.Date, nullable=True, index=True),
        _at("updated_at"),
    )
    for table in ORG_TABLES:
        enable_org_row_security(op, table, "org_id")
