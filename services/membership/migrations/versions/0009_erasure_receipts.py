"""each erasure's receipt (categories, counts, the tombstone's keyed hash; no personal data),
answered again by a repeated Erase after a lost reply

Revision ID: 0009
"""

from alembic import op

from services.common.db.erasure_receipts import create_erasure_receipts

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    create_erasure_receipts(op)
