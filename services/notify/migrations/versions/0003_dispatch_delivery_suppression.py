"""message intents and dispatch state, delivery events, suppressions, template overrides

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0003"
down_revision = "0002"


def _at(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("message_class", sa.String(16), nullable=False, server_default="service")
        )
        batch.add_column(sa.Column("legal_basis", sa.String(30), nullable=False, server_default=""))
        batch.add_column(sa.Column("consent_evidence", sa.Text, nullable=True))
        batch.add_column(sa.Column("html_sealed", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("provider", sa.String(16), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(_at("next_attempt_at"))
        batch.add_column(sa.Column("last_error", sa.String(100), nullable=True))
        batch.add_column(sa.Column("segments", sa.Integer, nullable=True))
        batch.add_column(sa.Column("fallback_of", sa.String(36), nullable=True))
        batch.add_column(_at("sent_at"))
        batch.add_column(_at("delivered_at"))
        batch.add_column(_at("updated_at"))
        batch.create_index("ix_messages_next_attempt_at", ["next_attempt_at"])
        batch.create_index("ix_messages_provider_ref", ["provider_ref"])
    op.create_table(
        "delivery_events",
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(120), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("event", sa.String(30), nullable=False),
        _at("received_at", nullable=False),
        sa.PrimaryKeyConstraint("provider", "dedupe_key"),
    )
    op.create_table(
        "suppressions",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        _at("created_at", nullable=False),
        sa.UniqueConstraint("org_id", "channel", "address_hash", name="uq_suppressions_address"),
    )
    op.create_table(
        "template_overrides",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("template", sa.String(50), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("part", sa.String(10), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        _at("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "template", "language", "part"),
    )
    for table in ("suppressions", "template_overrides"):
        enable_org_row_security(op, table, "org_id")
