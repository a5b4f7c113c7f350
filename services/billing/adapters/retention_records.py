"""What billing's retention sweep reads of one org (payment records, Stripe customers, when
each member's relationship ended) and deletes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.orm import (
    billed_members,
    credit_notes,
    invoices,
    ledger_entries,
    payment_attempts,
    stripe_customers,
)
from services.billing.domain.invoices import OPEN
from services.billing.domain.retention import Customer, PaymentRecord
from services.common.timestamps import as_utc

ENDED = ("cancelled", "lapsed")
TABLES = {"invoice": invoices, "credit_note": credit_notes, "ledger_entry": ledger_entries}


class RetentionRecords:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ended(self, org_id: str) -> dict[str, datetime]:
        """member_ref -> when the relationship ended: billing's last sight of a cancelled or
        lapsed member, or an erased member's pseudonymisation."""
        b = billed_members.c
        rows = await self.session.execute(
            select(b.member_ref, b.updated_at).where(b.org_id == org_id, b.status.in_(ENDED))
        )
        ended = {row.member_ref: as_utc(row.updated_at) for row in rows.all()}
        i = invoices.c
        pseudonymised = await self.session.execute(
            select(i.member_ref, i.pseudonymised_at).where(
                i.org_id == org_id, i.pseudonymised_at.is_not(None)
            )
        )
        for row in pseudonymised.all():
            ended.setdefault(row.member_ref, as_utc(row.pseudonymised_at))
        return ended

    async def payment_records(self, org_id: str) -> list[PaymentRecord]:
        i = invoices.c
        rows = await self.session.execute(
            select(i.id, i.member_ref, i.issued_at, i.delete_after, i.status).where(
                i.org_id == org_id
            )
        )
        found = [
            PaymentRecord(
                "invoice",
                r.id,
                r.member_ref,
                r.id,
                as_utc(r.issued_at),
                r.delete_after,
                r.status == OPEN,
            )
            for r in rows.all()
        ]
        open_ids = {r.id for r in found if r.open_claim}
        for kind, table, made in (
            ("credit_note", credit_notes, credit_notes.c.created_at),
            ("ledger_entry", ledger_entries, ledger_entries.c.recorded_at),
        ):
            t = table.c
            rows = await self.session.execute(
                select(
                    t.id, t.member_ref, t.invoice_id, made.label("made_at"), t.delete_after
                ).where(t.org_id == org_id)
            )
            found += [
                PaymentRecord(
                    kind,
                    str(r.id),
                    r.member_ref,
                    r.invoice_id,
                    as_utc(r.made_at),
                    r.delete_after,
                    r.invoice_id in open_ids,
                )
                for r in rows.all()
            ]
        return found

    async def customers(self, org_id: str) -> list[Customer]:
        s = stripe_customers.c
        rows = await self.session.execute(
            select(s.member_ref, s.created_at).where(s.org_id == org_id, s.customer_id.is_not(None))
        )
        return [Customer(r.member_ref, as_utc(r.created_at)) for r in rows.all()]

    async def delete(self, org_id: str, kind: str, ids: list[Any]) -> int:
        table = TABLES[kind]
        if kind == "ledger_entry":
            ids = [int(i) for i in ids]
        if kind == "invoice":
            await self.session.execute(
                delete(payment_attempts).where(payment_attempts.c.invoice_id.in_(ids))
            )
        result = await self.session.execute(
            delete(table).where(table.c.org_id == org_id, table.c.id.in_(ids))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
