"""What billing holds of a member. Payment records are kept under the bookkeeping act, so
erasure pseudonymises the member link instead of deleting them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import BOOKKEEPING_BASIS, delete_after, pseudonym
from services.billing.metrics import INVOICES_PSEUDONYMISED
from services.common.db.engine import Database
from services.common.grpc.data_subject import ErasureOutcome, Kept
from services.common.timestamps import iso


class InvoiceSubjectStore:
    def __init__(self, database: Database, pseudonym_key: bytes) -> None:
        self.database = database
        self.pseudonym_key = pseudonym_key

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        async with self.database.sessions() as session:
            rows = await Repository(session).invoices_of(org_id, subject_id)
        return {
            "invoices": [
                {
                    "invoice_id": r.id,
                    "number": r.number,
                    "kid": r.kid,
                    "amount_ore": r.amount_ore,
                    "currency": r.currency,
                    "status": r.status,
                    "issued_at": iso(r.issued_at),
                    "due_date": r.due_date.isoformat(),
                }
                for r in rows
            ]
        }

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        async with self.database.transaction() as session:
            repo = Repository(session)
            rows = await repo.invoices_of(org_id, subject_id)
            if not rows:
                return ErasureOutcome()
            await repo.pseudonymise_member(
                org_id, subject_id, pseudonym(self.pseudonym_key, subject_id), datetime.now(UTC)
            )
        INVOICES_PSEUDONYMISED.inc(len(rows))
        latest = max(r.delete_after or delete_after(r.issued_at.date()) for r in rows)
        return ErasureOutcome(
            kept=[
                Kept(
                    category="payment-records",
                    description=(
                        "invoices, credit notes and ledger entries (numbers, KID, amounts, "
                        "dates) linked to a pseudonym"
                    ),
                    legal_basis=BOOKKEEPING_BASIS,
                    delete_after=latest.isoformat(),
                    count=len(rows),
                    pseudonymised=True,
                )
            ]
        )
