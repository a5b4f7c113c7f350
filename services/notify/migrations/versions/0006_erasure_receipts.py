"""each erasure's receipt (categories, counts, the provider ids of the member's messages; no
personal data), answered again by a repeated Erase after a lost reply, so that a retry still
names the providers' copies to delete

Revision ID: 0006
"""

from alembic import op

from services.common.db.erasure_receipts import create_erasure_receipts

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    create_erasure_receipts(op)
