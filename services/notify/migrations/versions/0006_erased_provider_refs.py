"""the provider ids (SendGrid message ids, Twilio SIDs) of an erased member's messages, kept
when the messages are deleted so that every later Erase still names them: a lost reply and a
retry must not leave the providers' copies undeleted

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "erased_provider_refs",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("member_id", sa.String(36), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "member_id", "provider", "provider_ref"),
    )
    enable_org_row_security(op, "erased_provider_refs", "org_id")
