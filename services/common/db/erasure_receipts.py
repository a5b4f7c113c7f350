"""The receipt of a store's erasure, recorded per (org, subject) in the transaction that
erases. A repeated Erase (a retry after a lost reply, a ledger replay) finds nothing left to
erase and answers the recorded receipt again, marked as a repeat, so that the certificate
still says what was removed and kept. A receipt holds categories, counts, legal bases, dates,
provider ids and keyed hashes: no personal data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.row_security import enable_org_row_security
from services.common.db.upsert import upsert
from services.common.grpc.data_subject import ErasureOutcome

KEYS = ("org_id", "subject_id")


def create_erasure_receipts(op) -> None:  # type: ignore[no-untyped-def]
    """The table, in a service's migration (alembic `op`), with row-level security by org."""
    op.create_table(
        "erasure_receipts",
        Column("org_id", String(36), nullable=False),
        Column("subject_id", String(64), nullable=False),
        Column("receipt_json", Text, nullable=False),
        Column("erased_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("org_id", "subject_id"),
    )
    enable_org_row_security(op, "erasure_receipts", "org_id")


def erasure_receipts_table(metadata: MetaData) -> Table:
    return Table(
        "erasure_receipts",
        metadata,
        Column("org_id", String(36), primary_key=True),
        Column("subject_id", String(64), primary_key=True),
        Column("receipt_json", Text, nullable=False),
        Column("erased_at", DateTime(timezone=True), nullable=False),
    )


async def settle(
    session: AsyncSession,
    table: Table,
    org_id: str,
    subject_id: str,
    outcome: ErasureOutcome,
    erased: bool,
) -> ErasureOutcome:
    """`erased`: whether this call found the subject to erase. Then its outcome is recorded
    (replacing an earlier one: a restore had brought the subject back) and answered; if not,
    the recorded one is answered as a repeat, or `outcome` when there is none (the store
    never held the subject)."""
    if erased:
        receipt = outcome.to_json()
        at = datetime.now(UTC)
        await upsert(
            session,
            table,
            {"org_id": org_id, "subject_id": subject_id, "receipt_json": receipt, "erased_at": at},
            KEYS,
            {"receipt_json": receipt, "erased_at": at},
        )
        return outcome
    recorded = await session.scalar(
        select(table.c.receipt_json).where(
            table.c.org_id == org_id, table.c.subject_id == subject_id
        )
    )
    if recorded is None:
        return outcome
    return replace(ErasureOutcome.from_json(recorded), repeat=True)
