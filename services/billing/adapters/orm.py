"""Billing's tables. An invoice links to its member by id (a pseudonym after erasure)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("last_number", BigInteger, nullable=False),
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
    UniqueConstraint("org_id", "number", name="uq_invoices_org_number"),
)
