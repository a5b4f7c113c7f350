"""Billing's tables. Money is integer øre. A row links to its member by id, which becomes a
pseudonym after erasure; nothing here holds contact details (Stripe keeps those, we keep its
ids)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.common.db.erasure_receipts import erasure_receipts_table

metadata = MetaData()


def _serial() -> Column:
    # Integer on SQLite so it aliases ROWID and autoincrements; BIGINT elsewhere.
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


def _counter(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("org_id", String(36), primary_key=True),
        Column("last_number", BigInteger, nullable=False),
    )


invoice_counters = _counter("invoice_counters")
credit_note_counters = _counter("credit_note_counters")

fee_plans = Table(
    "fee_plans",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("membership_type_id", String(36), nullable=False),  # "" is the org's default
    Column("amount_ore", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("period", String(10), nullable=False),
    Column("due_days", Integer, nullable=False),
    Column("vat", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "membership_type_id", name="uq_fee_plans_org_type"),
)

billing_policies = Table(
    "billing_policies",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("kid_scheme", String(5), nullable=False),
    Column("first_reminder_days", Integer, nullable=False),
    Column("max_reminders", Integer, nullable=False),
    Column("reminder_interval_days", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("member_ref", String(64), nullable=False, index=True),
    Column("source_event_id", String(36), nullable=False, unique=True),
    Column("number", BigInteger, nullable=False),
    Column("kid", String(25), nullable=False),
    Column("amount_ore", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("pseudonymised_at", DateTime(timezone=True), nullable=True),
    Column("membership_type_id", String(36), nullable=False, server_default=""),
    Column("reason", String(10), nullable=False, server_default="signup"),
    # The period end a renewal invoice renews from: one renewal invoice per period.
    Column("renews_period_end", Date, nullable=True),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),  # void or uncollectible
    Column("refunded_ore", BigInteger, nullable=False, server_default="0"),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
    Column("next_reminder_on", Date, nullable=True, index=True),
    Column("delete_after", Date, nullable=True),
    UniqueConstraint("org_id", "number", name="uq_invoices_org_number"),
    UniqueConstraint(
        "org_id", "member_ref", "renews_period_end", name="uq_invoices_renewal_period"
    ),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("member_ref", String(64), nullable=False, index=True),
    Column("invoice_id", String(36), nullable=False, index=True),
    Column("number", BigInteger, nullable=False),
    Column("amount_ore", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("refund_id", String(64), nullable=True, unique=True),  # Stripe's, for refunds
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delete_after", Date, nullable=False),
    UniqueConstraint("org_id", "number", name="uq_credit_notes_org_number"),
)

# Append-only: rows are inserted, never updated, except the member link on erasure; deleted
# only by the retention sweep once delete_after has passed.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    _serial(),
    Column("org_id", String(36), nullable=False, index=True),
    Column("member_ref", String(64), nullable=False, index=True),
    Column("invoice_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_ore", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # What the entry records, e.g. "payment:pi_123": the same fact is never booked twice.
    Column("source_ref", String(120), nullable=False, unique=True),
    Column("delete_after", Date, nullable=False, index=True),
)

stripe_customers = Table(
    "stripe_customers",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("member_ref", String(64), primary_key=True),
    # NULL once Stripe deleted the customer: the row stays for its generation, the count of
    # customers this member has had, which keys the creation of the next one.
    Column("customer_id", String(64), nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("generation", Integer, nullable=False, server_default="1"),
)

# The Stripe customers an erasure deleted, by id: written before the deletion call, so that
# every later Erase (a retry after a lost reply) still reports them.
erased_stripe_customers = Table(
    "erased_stripe_customers",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("member_ref", String(64), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# One row per call that may create a PaymentIntent (or Checkout Session) or a refund, written
# before the call: the idempotency key makes a retried call return the same object.
payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("invoice_id", String(36), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("idempotency_key", String(100), nullable=False, unique=True),
    Column("payment_intent_id", String(64), nullable=True, unique=True),
    Column("checkout_session_id", String(80), nullable=True),
    Column("refund_id", String(64), nullable=True, unique=True),  # a refund request's
    Column("status", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("invoice_id", "attempt", name="uq_payment_attempts_invoice_attempt"),
)

# Stripe webhook events by Stripe's event id: the dedupe key and the work queue. Only the
# fields billing acts on are kept, never the raw body (it can carry billing details).
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),  # Stripe's epoch seconds
    Column("data", Text, nullable=False),  # JSON of the fields billing acts on
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=True, index=True),
    Column("outcome", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
)

# What billing knows of each membership, from membership's events: enough to renew.
billed_members = Table(
    "billed_members",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("member_ref", String(64), primary_key=True),
    Column("membership_type_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("period_end", Date, nullable=True, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Each erasure's receipt (no personal data), answered again by a repeated Erase.
erasure_receipts = erasure_receipts_table(metadata)
