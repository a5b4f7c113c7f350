"""the message log names each message's address by its keyed hash too (the suppression
list's hash), so an SMS STOP finds the orgs and members that texted the number without the
number being stored in clear

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("recipient_hash", sa.String(64), nullable=True))
        batch.create_index("ix_messages_recipient_hash", ["recipient_hash"])
