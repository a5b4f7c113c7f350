"""What billing holds of a member. Payment records are kept under the bookkeeping act, so
erasure pseudonymises the member link instead of deleting them.

The member's Stripe customer is deleted through Stripe's API. Its id (not personal data) is
recorded before that call and reported by every Erase from then on, so that a retry after a
lost reply still tells the erasure service that Stripe held the member's data. The receipt
(what was pseudonymised and kept, until when) is recorded with the erasure and answered again
by a repeated Erase, which finds nothing left to pseudonymise."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select

from services.billing.adapters.orm import (
    erased_stripe_customers,
    erasure_receipts,
    stripe_customers,
)
from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import BOOKKEEPING_BASIS, delete_after, pseudonym
from services.billing.metrics import INVOICES_PSEUDONYMISED
from services.common.db.engine import Database
from services.common.db.erasure_receipts import settle
from services.common.db.upsert import insert_ignore
from services.common.grpc.data_subject import ErasureOutcome, Kept, Removed
from services.common.timestamps import iso


class StripeCustomers(Protocol):
    async def forget_customer(self, org_id: str, member_id: str) -> bool: ...


class InvoiceSubjectStore:
    def __init__(
        self,
        database: Database,
        pseudonym_key: bytes,
        stripe_customers: StripeCustomers | None = None,
    ) -> None:
        self.database = database
        self.pseudonym_key = pseudonym_key
        self.stripe_customers = stripe_customers

    async def export(self, org_id: str, subject_id: str) -> dict[str, Any]:
        """Every payment record of the member, and the Stripe customer that holds their
        payment details (ids only: the details themselves are Stripe's to export)."""
        async with self.database.sessions() as session:
            repo = Repository(session)
            invoice_rows = await repo.invoices_of(org_id, subject_id)
            note_rows = await repo.credit_notes_of(org_id, subject_id)
            entry_rows = await repo.ledger(org_id, subject_id, 0, 1_000_000)
            customer_id = await session.scalar(
                select(stripe_customers.c.customer_id).where(
                    stripe_customers.c.org_id == org_id,
                    stripe_customers.c.member_ref == subject_id,
                )
            )
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
                    "reason": r.reason,
                    "paid_at": iso(r.paid_at),
                    "closed_at": iso(r.closed_at),
                    "refunded_ore": r.refunded_ore,
                    "reminders_sent": r.reminders_sent,
                }
                for r in invoice_rows
            ],
            "credit_notes": [
                {
                    "credit_note_id": r.id,
                    "number": r.number,
                    "invoice_id": r.invoice_id,
                    "amount_ore": r.amount_ore,
                    "currency": r.currency,
                    "reason": r.reason,
                    "created_at": iso(r.created_at),
                }
                for r in note_rows
            ],
            "ledger_entries": [
                {
                    "entry_id": r.id,
                    "invoice_id": r.invoice_id,
                    "kind": r.kind,
                    "amount_ore": r.amount_ore,
                    "currency": r.currency,
                    "recorded_at": iso(r.recorded_at),
                }
                for r in entry_rows
            ],
            "stripe_customer_id": customer_id,
        }

    async def _erased_customers(self, org_id: str, subject_id: str) -> tuple[bool, list[str]]:
        """Records the member's Stripe customer as erased (before it is deleted); returns
        whether there was one now, and every customer id recorded so for the member."""
        erased = erased_stripe_customers.c
        async with self.database.transaction() as session:
            customer_id = await session.scalar(
                select(stripe_customers.c.customer_id).where(
                    stripe_customers.c.org_id == org_id,
                    stripe_customers.c.member_ref == subject_id,
                )
            )
            if customer_id is not None:
                await insert_ignore(
                    session,
                    erased_stripe_customers,
                    {
                        "org_id": org_id,
                        "member_ref": subject_id,
                        "customer_id": customer_id,
                        "erased_at": datetime.now(UTC),
                    },
                    ["org_id", "member_ref", "customer_id"],
                )
            return customer_id is not None, list(
                (
                    await session.scalars(
                        select(erased.customer_id)
                        .where(erased.org_id == org_id, erased.member_ref == subject_id)
                        .order_by(erased.customer_id)
                    )
                ).all()
            )

    async def erase(self, org_id: str, subject_id: str) -> ErasureOutcome:
        removed: list[Removed] = []
        customers: list[str] = []
        found_customer = False
        if self.stripe_customers is not None:
            found_customer, customers = await self._erased_customers(org_id, subject_id)
            # Stripe's deletion API outside the transaction (it is a slow call).
            await self.stripe_customers.forget_customer(org_id, subject_id)
        if customers:
            removed.append(
                Removed(
                    category="payment-provider-customer",
                    description="the Stripe customer (contact details) and billing's link to it",
                    count=len(customers),
                )
            )
        providers = {"stripe": customers} if customers else {}
        async with self.database.transaction() as session:
            repo = Repository(session)
            rows = await repo.invoices_of(org_id, subject_id)
            kept: list[Kept] = []
            if rows:
                await repo.pseudonymise_member(
                    org_id, subject_id, pseudonym(self.pseudonym_key, subject_id), datetime.now(UTC)
                )
                latest = max(r.delete_after or delete_after(r.issued_at.date()) for r in rows)
                kept.append(
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
                )
            outcome = await settle(
                session,
                erasure_receipts,
                org_id,
                subject_id,
                ErasureOutcome(removed=removed, kept=kept, provider_records=providers),
                bool(rows) or found_customer,
            )
        if rows:
            INVOICES_PSEUDONYMISED.inc(len(rows))
        # Every customer id recorded so far, an erasure's before a lost reply included.
        return replace(outcome, provider_records=providers)
