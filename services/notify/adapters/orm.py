"""The message log. Address, subject and body are sealed with the member's key."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),  # uuid5(event, template, channel)
    Column("org_id", String(36), nullable=False, index=True),
    Column("member_id", String(36), nullable=False, index=True),
    Column("source_event_id", String(36), nullable=False),
    Column("template", String(50), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("recipient_sealed", LargeBinary, nullable=False),
    Column("subject_sealed", LargeBinary, nullable=False),
    Column("body_sealed", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),
    Column("provider_ref", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
