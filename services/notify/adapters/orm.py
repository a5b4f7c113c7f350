"""Notify's tables. The message log holds the intent to send before any provider hears of it
(one row per event, template and channel); address, subject and bodies are sealed with the
member's key. Delivery events dedupe on the provider's own keys. The suppression list keeps a
keyed hash of an address, never the address, so an opt-out outlives an erasure."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
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

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),  # uuid5(event, template, channel)
    Column("org_id", String(36), nullable=False, index=True),
    Column("member_id", String(36), nullable=False, index=True),
    Column("source_event_id", String(36), nullable=False),
    Column("template", String(50), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(50), nullable=False),
    Column("recipient_sealed", LargeBinary, nullable=False),
    Column("subject_sealed", LargeBinary, nullable=False),
    Column("body_sealed", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_ref", String(100), nullable=True, index=True),  # SendGrid / Twilio id
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("message_class", String(16), nullable=False, server_default="service"),
    Column("legal_basis", String(30), nullable=False, server_default=""),
    # JSON: the consent (purpose, channel, granted at, source, policy version) a marketing
    # message relied on when it was queued.
    Column("consent_evidence", Text, nullable=True),
    Column("html_sealed", LargeBinary, nullable=True),
    Column("provider", String(16), nullable=True),  # sendgrid, twilio, sandbox
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True, index=True),
    Column("last_error", String(100), nullable=True),  # a code, never an address
    Column("segments", Integer, nullable=True),  # SMS only
    Column("fallback_of", String(36), nullable=True),  # the blocked SMS an email replaces
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    # The suppression list's keyed hash of the address (domain/suppression.py): an SMS STOP
    # finds the messages sent to the number by it. Never the address itself.
    Column("recipient_hash", String(64), nullable=True, index=True),
)

# Provider webhooks by the provider's own dedupe key (SendGrid: sg_event_id; Twilio: the
# message SID and status).
delivery_events = Table(
    "delivery_events",
    metadata,
    Column("provider", String(16), nullable=False),
    Column("dedupe_key", String(120), nullable=False),
    Column("message_id", String(36), nullable=True),
    Column("event", String(30), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("provider", "dedupe_key"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("org_id", String(36), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address_hash", String(64), nullable=False),  # keyed hash of the address
    Column("reason", String(20), nullable=False),  # sms-stop, bounce, spamreport, erased
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "channel", "address_hash", name="uq_suppressions_address"),
)

# Each erasure's receipt, answered again by a repeated Erase (services/common/db).
erasure_receipts = erasure_receipts_table(metadata)

# An org's own wording of a template part (subject, html, text, sms) in one language.
template_overrides = Table(
    "template_overrides",
    metadata,
    Column("org_id", String(36), nullable=False),
    Column("template", String(50), nullable=False),
    Column("language", String(2), nullable=False),
    Column("part", String(10), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("org_id", "template", "language", "part"),
)

# A platform announcement to every org (e.g. the sub-processor list changed), recorded with
# the event that brought it: `pending` until every org was told (or could not be), then
# `done`; `superseded` when a newer version came first. No org, no member.
org_announcements = Table(
    "org_announcements",
    metadata,
    Column("kind", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("previous_version", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("kind", "version"),
)

# One org's delivery of an announcement: the only record of it. The org's address and the
# text are not kept (fetched and rendered at send time), so nothing here is sealed.
org_notices = Table(
    "org_notices",
    metadata,
    Column("kind", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("org_id", String(36), nullable=False),
    Column("message_id", String(36), nullable=False),  # the provider's custom arg
    Column("status", String(20), nullable=False),  # sending, sent, failed, no-address
    Column("attempts", Integer, nullable=False),
    Column("provider", String(16), nullable=True),
    Column("provider_ref", String(100), nullable=True),
    Column("last_error", String(100), nullable=True),  # a code, never an address
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("kind", "version", "org_id"),
)

# When a member's membership ended (their newest status change to cancelled or lapsed, as
# membership's events tell it; gone when they come back), for retention rules counted from
# the end of the relationship. Ids and a time only; erased with the member.
relationship_ends = Table(
    "relationship_ends",
    metadata,
    Column("org_id", String(36), nullable=False),
    Column("member_id", String(36), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("org_id", "member_id"),
)
