"""row-level security by org on PostgreSQL

Revision ID: 0002
"""

from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    enable_org_row_security(op, "data_keys", "org_id")
