"""access and portability: the archives behind one-time links, the password until then

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("privacy_requests") as batch:
        batch.add_column(sa.Column("sealed_password", sa.LargeBinary, nullable=True))
    op.create_table(
        "export_archives",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("sealed_archive", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_export_archives_expires", "export_archives", ["expires_at"])
    enable_org_row_security(op, "export_archives", "org_id")


def downgrade() -> None:
    op.drop_table("export_archives")
    with op.batch_alter_table("privacy_requests") as batch:
        batch.drop_column("sealed_password")
