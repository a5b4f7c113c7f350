"""Membership's tables. Personal fields are sealed bytes (`*_sealed`), never plaintext."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

orgs = Table(
    "orgs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("org_number", String(9), nullable=False, unique=True),
    Column("language", String(2), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False, index=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),  # space-separated
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

members = Table(
    "members",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False, index=True),
    # personal data, contact category, purpose: membership administration, basis: contract
    Column("name_sealed", LargeBinary, nullable=False),
    Column("email_sealed", LargeBinary, nullable=False),
    Column("phone_sealed", LargeBinary, nullable=False),
    Column("email_index", String(64), nullable=False),  # blind index, see sealing.blind_index
    Column("language", String(2), nullable=False),
    Column("status", String(16), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "email_index", name="uq_members_org_email"),
)
