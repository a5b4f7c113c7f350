"""The bookkeeping retention sweep: payment records go once the bookkeeping act no longer
requires them (5 years after the end of the fiscal year, domain.invoices.delete_after). An open
invoice is never deleted, nor its credit notes or ledger entries: the claim is still live.
It is the default for every org whose retention profile has no payment-records rule (and for
erased members' pseudonymised rows, each with its own date); an org whose profile has one is
swept by retention_profiles.py instead."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.billing.adapters.sweeps import SweepQueries
from services.billing.domain.invoices import RETENTION_YEARS
from services.billing.metrics import RETENTION_DELETED
from services.common.clock import Clock, oslo_today
from services.common.db.engine import Database
from services.common.logging import get_logger

log = get_logger(__name__)

# What refers to an invoice goes before the invoice: a sweep cut short leaves no entry whose
# invoice (of the same fiscal year) is already gone.
RECORDS = ("ledger_entry", "credit_note", "invoice")


@dataclass(frozen=True)
class RetentionResult:
    ledger_entries: int = 0
    credit_notes: int = 0
    invoices: int = 0
    payment_attempts: int = 0


def legacy_cutoff(today: date) -> datetime:
    """Invoices from before delete_after was stored count as delete_after(issued_at.date());
    that date (Dec 31 five years on) is before `today` exactly when the invoice was issued
    before Jan 1 of the year five years back."""
    return datetime(today.year - RETENTION_YEARS, 1, 1, tzinfo=UTC)


class RetentionSweep:
    def __init__(
        self, database: Database, clock: Clock = oslo_today, batch_size: int = 500
    ) -> None:
        self.database = database
        self.clock = clock
        self.batch_size = batch_size

    async def run(
        self, today: date | None = None, skip_orgs: frozenset[str] = frozenset()
    ) -> RetentionResult:
        """Deletes for every org but `skip_orgs`, in a fresh context (tenant "*"), whoever
        calls it."""
        day = today or self.clock()
        return await asyncio.create_task(self._run(day, skip_orgs), context=contextvars.Context())

    async def _run(self, today: date, skip_orgs: frozenset[str]) -> RetentionResult:
        deleted = dict.fromkeys((*RECORDS, "payment_attempt"), 0)
        for record in RECORDS:
            while True:
                # Each batch its own transaction: short on SQLite, where it holds the writer.
                async with self.database.transaction() as session:
                    repo = SweepQueries(session)
                    ids = await repo.past_retention(
                        record, today, legacy_cutoff(today), self.batch_size, skip_orgs
                    )
                    if ids and record == "invoice":
                        deleted["payment_attempt"] += await repo.delete_payment_attempts(ids)
                    if ids:
                        deleted[record] += await repo.delete_records(record, ids)
                if len(ids) < self.batch_size:
                    break
        for record, count in deleted.items():
            if count:
                RETENTION_DELETED.labels(record).inc(count)
        result = RetentionResult(
            deleted["ledger_entry"],
            deleted["credit_note"],
            deleted["invoice"],
            deleted["payment_attempt"],
        )
        if result != RetentionResult():
            log.info(
                "billing_retention_sweep",
                ledger_entries=result.ledger_entries,
                credit_notes=result.credit_notes,
                invoices=result.invoices,
                payment_attempts=result.payment_attempts,
            )
        return result
