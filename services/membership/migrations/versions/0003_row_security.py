"""row-level security by org on PostgreSQL

Revision ID: 0003
"""

from alembic import op

from services.common.db.row_security import enable_org_row_security

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    enable_org_row_security(op, "orgs", "id")
    enable_org_row_security(op, "api_keys", "org_id")
    enable_org_row_security(op, "members", "org_id")
    enable_org_row_security(op, "audit_log", "org_id")
