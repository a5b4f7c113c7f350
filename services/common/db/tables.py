"""The outbox and inbox tables every service carries beside its own."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

mechanism_metadata = MetaData()

outbox = Table(
    "outbox",
    mechanism_metadata,
    # Integer on SQLite so it aliases ROWID and autoincrements; BIGINT elsewhere.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(100), nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True, index=True),
)

inbox = Table(
    "inbox",
    mechanism_metadata,
    Column("consumer", String(100), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("consumer", "event_id"),
)


def create_mechanism_tables(op) -> None:  # type: ignore[no-untyped-def]
    """Called from each service's first migration."""
    mechanism_metadata.create_all(op.get_bind())
