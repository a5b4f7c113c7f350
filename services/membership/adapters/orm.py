"""Membership's tables. Personal fields are sealed bytes (`*_sealed`), never plaintext."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
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
    Column("label", String(100), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Changes to members, keys and the org: who, what, when, which fields. Never the values.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("object_type", String(30), nullable=False),
    Column("object_id", String(36), nullable=False, index=True),
    Column("fields", String(500), nullable=False, server_default=""),  # space-separated
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
    # GDPR art. 18 and 21: processing restricted since; purposes objected to (space-separated)
    Column("restricted_at", DateTime(timezone=True), nullable=True),
    Column("objections", String(500), nullable=False, server_default=""),
    UniqueConstraint("org_id", "email_index", name="uq_members_org_email"),
)

# The last 10 sessions of each member; device, IP and place are sealed with the member's key.
login_log = Table(
    "login_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False),
    Column("member_id", String(36), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("details_sealed", LargeBinary, nullable=False),  # JSON: device, ip, country, city
)
