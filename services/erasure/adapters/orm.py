from __future__ import annotations

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table

metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("subject_hash", String(64), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("wrapped_key", LargeBinary, nullable=True),  # NULL once shredded
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True), nullable=True),
)
