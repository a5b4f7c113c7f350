"""registration forms, membership types, consents, policy versions, org contact

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0006"
down_revision = "0005"


def _id() -> sa.Column:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def _org() -> sa.Column:
    return sa.Column("org_id", sa.String(36), sa.ForeignKey("orgs.id"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("orgs") as batch:
        for column in ("contact_email", "contact_phone", "contact_address"):
            batch.add_column(sa.Column(column, sa.String(300), nullable=False, server_default=""))

    op.create_table(
        "policies",
        _id(),
        _org(),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("summary", sa.String(2000), nullable=False),
        sa.Column("material", sa.Boolean, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "kind", "version", name="uq_policies_version"),
    )
    op.create_table(
        "forms",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("key", sa.String(50), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "key", "version", name="uq_forms_version"),
    )
    op.create_table(
        "membership_types",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("rollover", sa.String(5), nullable=False, server_default=""),
        sa.Column("grace_days", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "name", name="uq_membership_types_name"),
    )
    op.create_table(
        "consents",
        _id(),
        _org(),
        sa.Column("member_id", sa.String(36), nullable=False, index=True),
        sa.Column("purpose", sa.String(50), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("type_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("form_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("profile_sealed", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("period_start", sa.Date, nullable=True))
        batch.add_column(sa.Column("period_end", sa.Date, nullable=True))
        batch.add_column(
            sa.Column("policy_version", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("terms_version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("consents", sa.String(500), nullable=False, server_default=""))
    op.create_index("ix_members_status_period_end", "members", ["status", "period_end"])
    for table in ("policies", "forms", "membership_types", "consents"):
        enable_org_row_security(op, table)
