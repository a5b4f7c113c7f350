"""Queries on billing's tables, scoped by org."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.orm import invoice_counters, invoices

# Built once: they run for every new member.
_BUMP_COUNTER = (
    update(invoice_counters)
    .where(invoice_counters.c.org_id == bindparam("org"))
    .values(last_number=invoice_counters.c.last_number + 1)
    .returning(invoice_counters.c.last_number)
)
_INSERT_INVOICE = insert(invoices)


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_invoice_number(self, org_id: str) -> int:
        """Numbers per org never reset or repeat: the counter row is locked by the update."""
        bumped = await self.session.scalar(_BUMP_COUNTER, {"org": org_id})
        if bumped is not None:
            return int(bumped)
        await self.session.execute(insert(invoice_counters), {"org_id": org_id, "last_number": 1})
        return 1

    async def add_invoice(
        self,
        *,
        invoice_id: str,
        org_id: str,
        member_id: str,
        source_event_id: str,
        number: int,
        kid: str,
        amount_ore: int,
        currency: str,
        issued_at: datetime,
        due: date,
    ) -> None:
        await self.session.execute(
            _INSERT_INVOICE,
            {
                "id": invoice_id,
                "org_id": org_id,
                "member_ref": member_id,
                "source_event_id": source_event_id,
                "number": number,
                "kid": kid,
                "amount_ore": amount_ore,
                "currency": currency,
                "status": "open",
                "issued_at": issued_at,
                "due_date": due,
            },
        )

    async def invoices_of(self, org_id: str, member_id: str) -> list[Row]:
        return list(
            (
                await self.session.execute(
                    select(invoices)
                    .where(invoices.c.org_id == org_id, invoices.c.member_ref == member_id)
                    .order_by(invoices.c.number)
                )
            ).all()
        )

    async def pseudonymise(
        self, org_id: str, member_id: str, pseudonym: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(invoices)
            .where(invoices.c.org_id == org_id, invoices.c.member_ref == member_id)
            .values(member_ref=pseudonym, pseudonymised_at=now)
        )
