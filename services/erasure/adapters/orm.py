from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("subject_hash", String(64), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("wrapped_key", LargeBinary, nullable=True),  # NULL once shredded
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True), nullable=True),
)

# Data-subject requests. No personal data but the member's id, except `sealed_email`: the
# address SendGrid's erasure API asks for, captured before membership forgets it, sealed with
# the member's own data key (so unreadable once the key is shredded) and cleared on completion.
privacy_requests = Table(
    "privacy_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("subject_id", String(36), nullable=False, index=True),
    Column("type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("filed_by", String(100), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("original_due_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("extended_months", Integer, nullable=False, default=0),
    Column("extension_reason", Text, nullable=True),
    Column("member_told_at", DateTime(timezone=True), nullable=True),
    Column("identity_method", String(50), nullable=True),
    Column("identity_attestation", Text, nullable=True),
    Column("identity_verified_by", String(100), nullable=True),
    Column("identity_verified_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("certificate_head_hash", String(64), nullable=True),
    Column("sealed_email", LargeBinary, nullable=True),
    Column("purpose", String(40), nullable=True),  # an objection's purpose key
    # An access or portability archive's password, sealed with the member's key from the
    # identity check until the archive is made, then cleared: stored nowhere readable.
    Column("sealed_password", LargeBinary, nullable=True),
    Index("ix_privacy_requests_org_status", "org_id", "status", "received_at"),
    Index("ix_privacy_requests_status", "status", "type"),  # the runners' in-progress scan
)

request_history = Table(
    "request_history",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("org_id", String(36), nullable=False),
    Column("status", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

# One row per (request, target): the state of the plan lives only here, so a restart resumes.
erasure_tasks = Table(
    "erasure_tasks",
    metadata,
    Column("request_id", String(36), nullable=False),
    Column("target", String(50), nullable=False),
    Column("org_id", String(36), nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", String(200), nullable=True),
    Column("outcome_json", Text, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # A runner's lease on the task while it calls the target (several replicas share one
    # PostgreSQL database): its id and when the lease lapses, if it died meanwhile.
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("request_id", "target"),
    Index("ix_erasure_tasks_due", "status", "next_attempt_at"),
)

certificate_entries = Table(
    "certificate_entries",
    metadata,
    Column("request_id", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("org_id", String(36), nullable=False),
    Column("canonical_json", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("request_id", "seq"),
)

# The erasure ledger, append-only: one row per shredded key, naming the member only by a keyed
# hash (services/erasure/domain/ledger.py), so that erasures can be re-applied after a restore.
erasure_ledger = Table(
    "erasure_ledger",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("subject_key", String(64), nullable=False, index=True),
    Column("scope", String(60), nullable=False),
    Column("targets", Text, nullable=False, default=""),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

# The tombstones a store keeps of erased members (membership: the blind index of the erased
# address, a keyed hash under membership's own key, which this service cannot invert), as the
# stores' Erase receipts named them; append-only. A replay hands them back to a store restored
# from a backup that predates them.
ledger_tombstones = Table(
    "ledger_tombstones",
    metadata,
    Column("org_id", String(36), nullable=False),
    Column("store", String(50), nullable=False),
    Column("tombstone", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("org_id", "store", "tombstone"),
)

# Access and portability archives, one per request: the encrypted ZIP sealed again with the
# member's key (so an erasure's key shredding makes it unreadable), emptied when downloaded
# (the one time its link works) or when the link expires; the row stays, for the 410 answer.
export_archives = Table(
    "export_archives",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("subject_id", String(36), nullable=False),
    Column("sealed_archive", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("downloaded_at", DateTime(timezone=True), nullable=True),
    Index("ix_export_archives_expires", "expires_at"),
)

# The sub-processor registry's versions as this service met them at start: a version not
# recorded yet is a change, announced once (privacy.subprocessors-changed.v1). Platform-wide,
# no personal data.
subprocessor_versions = Table(
    "subprocessor_versions",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("last_changed", String(10), nullable=False),  # ISO date, as the file states it
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
