"""each erasure's receipt (categories, counts, what is kept until when; no personal data),
answered again by a repeated Erase after a lost reply

Revision ID: 0006
"""

from alembic import op

from services.common.db.erasure_receipts import create_erasure_receipts

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    create_erasure_receipts(op)
