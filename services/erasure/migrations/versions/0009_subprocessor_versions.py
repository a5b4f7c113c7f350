"""the sub-processor registry's versions as the service met them, so that a change is
announced once (privacy.subprocessors-changed.v1)

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "subprocessor_versions",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("last_changed", sa.String(10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subprocessor_versions")
