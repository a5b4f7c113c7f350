"""Membership's tables. Personal fields are sealed bytes (`*_sealed`), never plaintext."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.common.db.erasure_receipts import erasure_receipts_table

metadata = MetaData()

orgs = Table(
    "orgs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("org_number", String(9), nullable=False, unique=True),
    Column("language", String(2), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the org's own contact details, shown to members (not personal data of a member)
    Column("contact_email", String(300), nullable=False, server_default=""),
    Column("contact_phone", String(300), nullable=False, server_default=""),
    Column("contact_address", String(300), nullable=False, server_default=""),
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
    Column("type_id", String(36), nullable=True),
    Column("form_id", String(36), nullable=True),
    # JSON sealed with the member's key: the form's own answers and the guardian, if any
    Column("profile_sealed", LargeBinary, nullable=True),
    Column("period_start", Date, nullable=True),
    Column("period_end", Date, nullable=True),  # last day covered
    Column("policy_version", Integer, nullable=False, server_default="0"),
    Column("terms_version", Integer, nullable=False, server_default="0"),
    # purposes consented to now (space-separated); the history is in `consents`
    Column("consents", String(500), nullable=False, server_default=""),
    # the last privacy page link asked for (a rate limit; goes with the row on erasure)
    Column("privacy_link_sent_at", DateTime(timezone=True), nullable=True),
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


def _serial() -> Column:
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


# Privacy policy and terms versions, numbered 1, 2, ... per org and kind.
policies = Table(
    "policies",
    metadata,
    _serial(),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("version", Integer, nullable=False),
    Column("url", String(500), nullable=False),
    Column("summary", String(2000), nullable=False),
    Column("material", Boolean, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "kind", "version", name="uq_policies_version"),
)

# Registration forms: each publication of a key is a new, immutable version.
forms = Table(
    "forms",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False),
    Column("key", String(50), nullable=False),
    Column("version", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("definition", Text, nullable=False),  # JSON: fields and consent purposes
    Column("published_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "key", "version", name="uq_forms_version"),
)

membership_types = Table(
    "membership_types",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("period", String(10), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("rollover", String(5), nullable=False, server_default=""),
    Column("grace_days", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "name", name="uq_membership_types_name"),
)

# Every grant and withdrawal, never updated: the evidence behind each message sent.
consents = Table(
    "consents",
    metadata,
    _serial(),
    Column("org_id", String(36), ForeignKey("orgs.id"), nullable=False),
    Column("member_id", String(36), nullable=False, index=True),
    Column("purpose", String(50), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("source", String(20), nullable=False),
    Column("policy_version", Integer, nullable=False),
)

# Addresses of members erased at their own request, as the members table's blind index (a
# keyed hash; nothing readable): an import or sync must never bring such a member back.
erased_addresses = Table(
    "erased_addresses",
    metadata,
    Column("org_id", String(36), nullable=False),
    Column("email_index", String(64), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("org_id", "email_index"),
)

# Each erasure's receipt (no personal data), answered again by a repeated Erase.
erasure_receipts = erasure_receipts_table(metadata)
