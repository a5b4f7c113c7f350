"""data-subject requests, their history, erasure tasks and certificates

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0003"
down_revision = "0002"


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False, index=True),
        sa.Column("subject_id", sa.String(36), nullable=False, index=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filed_by", sa.String(100), nullable=False),
        _when("received_at", nullable=False),
        sa.Column("original_due_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("extended_months", sa.Integer, nullable=False),
        sa.Column("extension_reason", sa.Text, nullable=True),
        _when("member_told_at"),
        sa.Column("identity_method", sa.String(50), nullable=True),
        sa.Column("identity_attestation", sa.Text, nullable=True),
        sa.Column("identity_verified_by", sa.String(100), nullable=True),
        _when("identity_verified_at"),
        _when("completed_at"),
        sa.Column("certificate_head_hash", sa.String(64), nullable=True),
        sa.Column("sealed_email", sa.LargeBinary, nullable=True),
    )
    op.create_index(
        "ix_privacy_requests_org_status", "privacy_requests", ["org_id", "status", "received_at"]
    )
    op.create_table(
        "request_history",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.String(36), nullable=False, index=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _when("at", nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "erasure_tasks",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("target", sa.String(50), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _when("next_attempt_at", nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("outcome_json", sa.Text, nullable=True),
        _when("finished_at"),
        sa.PrimaryKeyConstraint("request_id", "target"),
    )
    op.create_index("ix_erasure_tasks_due", "erasure_tasks", ["status", "next_attempt_at"])
    op.create_table(
        "certificate_entries",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("canonical_json", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "seq"),
    )
    for table in ("privacy_requests", "request_history", "erasure_tasks", "certificate_entries"):
        enable_org_row_security(op, table, "org_id")
