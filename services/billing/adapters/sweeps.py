"""Queries of the sweeps that run over every org (dunning, renewals, retention): paged, so that
a run moves on past rows it cannot act on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.orm import (
    billed_members,
    credit_notes,
    invoices,
    ledger_entries,
    payment_attempts,
)
from services.billing.domain.invoices import OPEN


class SweepQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def invoices_coming_up(
        self, today: date, after: tuple[date, str] | None, limit: int
    ) -> list[Row]:
        """Open invoices that have come up by `today`, paged by (next_reminder_on, id) after
        `after`: an invoice a run could not step is not read again in the same run."""
        query = select(invoices.c.id, invoices.c.org_id, invoices.c.next_reminder_on).where(
            invoices.c.status == OPEN, invoices.c.next_reminder_on <= today
        )
        if after is not None:
            on, invoice_id = after
            query = query.where(
                (invoices.c.next_reminder_on > on)
                | and_(invoices.c.next_reminder_on == on, invoices.c.id > invoice_id)
            )
        result = await self.session.execute(
            query.order_by(invoices.c.next_reminder_on, invoices.c.id).limit(limit)
        )
        return list(result.all())

    async def members_to_renew(
        self, until: date, after: tuple[date, str, str] | None, limit: int
    ) -> list[Row]:
        """Active and grace members whose period ends by `until` and who have no renewal invoice
        for it, paged by (period_end, org_id, member_ref) after `after`, so that members whose
        plan charges nothing do not fill every page of a run."""
        renewal = invoices.alias("renewal")
        m = billed_members.c
        query = (
            select(billed_members)
            .outerjoin(
                renewal,
                and_(
                    renewal.c.org_id == m.org_id,
                    renewal.c.member_ref == m.member_ref,
                    renewal.c.renews_period_end == m.period_end,
                ),
            )
            .where(m.status.in_(("active", "grace")), m.period_end <= until, renewal.c.id.is_(None))
        )
        if after is not None:
            end, org_id, member_ref = after
            query = query.where(
                (m.period_end > end)
                | and_(m.period_end == end, m.org_id > org_id)
                | and_(m.period_end == end, m.org_id == org_id, m.member_ref > member_ref)
            )
        result = await self.session.execute(
            query.order_by(m.period_end, m.org_id, m.member_ref).limit(limit)
        )
        return list(result.all())

    async def past_retention(
        self,
        record: str,
        today: date,
        legacy_issued_before: datetime,
        limit: int,
        skip_orgs: frozenset[str] = frozenset(),
    ) -> list[Any]:
        """Ids of up to `limit` records ("invoice", "credit_note", "ledger_entry") whose
        delete_after is before `today`, of orgs but `skip_orgs`. Never an open invoice, nor a
        credit note or ledger entry of one: the claim is still live. Invoices from before
        delete_after was kept count as due when issued before `legacy_issued_before`."""
        if record == "invoice":
            query = select(invoices.c.id).where(
                invoices.c.org_id.not_in(skip_orgs),
                invoices.c.status != OPEN,
                (invoices.c.delete_after < today)
                | and_(
                    invoices.c.delete_after.is_(None),
                    invoices.c.issued_at < legacy_issued_before,
                ),
            )
            return list((await self.session.scalars(query.limit(limit))).all())
        table = credit_notes if record == "credit_note" else ledger_entries
        open_invoices = select(invoices.c.id).where(invoices.c.status == OPEN)
        query = select(table.c.id).where(
            table.c.org_id.not_in(skip_orgs),
            table.c.delete_after < today,
            table.c.invoice_id.not_in(open_invoices),
        )
        return list((await self.session.scalars(query.limit(limit))).all())

    async def delete_records(self, record: str, ids: list[Any]) -> int:
        table = {"invoice": invoices, "credit_note": credit_notes}.get(record, ledger_entries)
        result = await self.session.execute(delete(table).where(table.c.id.in_(ids)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_payment_attempts(self, invoice_ids: list[str]) -> int:
        result = await self.session.execute(
            delete(payment_attempts).where(payment_attempts.c.invoice_id.in_(invoice_ids))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
