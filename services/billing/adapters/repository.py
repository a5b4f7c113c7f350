"""Queries on billing's own tables (fees, invoices, credit notes, the ledger), scoped by org.
Stripe's ids and webhook events have their own adapter (stripe_store)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, not_, select, union, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.billing.adapters.orm import (
    billed_members,
    billing_policies,
    credit_note_counters,
    credit_notes,
    fee_plans,
    invoice_counters,
    invoices,
    ledger_entries,
    stripe_customers,
)
from services.billing.domain.fees import DEFAULT_POLICY, BillingPolicy, FeePlan
from services.billing.domain.invoices import PSEUDONYM_PREFIX, delete_after
from services.billing.domain.ledger import ledger_entry
from services.common.db.upsert import insert_ignore, upsert


def _bump(counter) -> Any:  # type: ignore[no-untyped-def]
    return (
        update(counter)
        .where(counter.c.org_id == bindparam("org"))
        .values(last_number=counter.c.last_number + 1)
        .returning(counter.c.last_number)
    )


# Built once: they run for every new member.
_BUMP = {"invoice": _bump(invoice_counters), "credit_note": _bump(credit_note_counters)}
_COUNTERS = {"invoice": invoice_counters, "credit_note": credit_note_counters}
_INSERT_INVOICE = insert(invoices)
_INSERT_ENTRY = insert(ledger_entries)
_FEE_PLAN_FOR = (
    select(fee_plans)
    .where(
        fee_plans.c.org_id == bindparam("org"),
        fee_plans.c.membership_type_id.in_([bindparam("type_id"), bindparam("default")]),
    )
    .order_by(fee_plans.c.membership_type_id.desc())
    .limit(1)
)
_POLICY = select(billing_policies).where(billing_policies.c.org_id == bindparam("org"))


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- numbering ---------------------------------------------------------------------

    async def next_number(self, org_id: str, kind: str = "invoice") -> int:
        """Numbers per org and kind never reset or repeat: the counter row is locked by the
        update, and a number is used only if its transaction commits."""
        bumped = await self.session.scalar(_BUMP[kind], {"org": org_id})
        if bumped is not None:
            return int(bumped)
        await self.session.execute(insert(_COUNTERS[kind]), {"org_id": org_id, "last_number": 1})
        return 1

    # --- fee plans and policies --------------------------------------------------------

    async def set_fee_plan(self, org_id: str, plan: FeePlan, now: datetime) -> str:
        values = {**asdict(plan), "updated_at": now}
        await upsert(
            self.session,
            fee_plans,
            {"id": str(uuid.uuid4()), "org_id": org_id, **values},
            ["org_id", "membership_type_id"],
            values,
        )
        return str(
            await self.session.scalar(
                select(fee_plans.c.id).where(
                    fee_plans.c.org_id == org_id,
                    fee_plans.c.membership_type_id == plan.membership_type_id,
                )
            )
        )

    async def fee_plans(self, org_id: str) -> list[Row]:
        result = await self.session.execute(
            select(fee_plans)
            .where(fee_plans.c.org_id == org_id)
            .order_by(fee_plans.c.membership_type_id)
        )
        return list(result.all())

    async def fee_plan_for(self, org_id: str, membership_type_id: str) -> Row | None:
        """The type's own plan, else the org's default plan ("")."""
        result = await self.session.execute(
            _FEE_PLAN_FOR, {"org": org_id, "type_id": membership_type_id, "default": ""}
        )
        return result.first()

    async def policy(self, org_id: str) -> BillingPolicy:
        row = (await self.session.execute(_POLICY, {"org": org_id})).first()
        if row is None:
            return DEFAULT_POLICY
        return BillingPolicy(
            row.kid_scheme,
            row.first_reminder_days,
            row.max_reminders,
            row.reminder_interval_days,
        )

    async def set_policy(self, org_id: str, policy: BillingPolicy, now: datetime) -> None:
        values = {**asdict(policy), "updated_at": now}
        await upsert(
            self.session, billing_policies, {"org_id": org_id, **values}, ["org_id"], values
        )

    # --- invoices ----------------------------------------------------------------------

    async def add_invoice(self, values: dict[str, Any]) -> None:
        await self.session.execute(_INSERT_INVOICE, values)

    async def invoice(
        self, org_id: str, invoice_id: str, *, for_update: bool = False
    ) -> Row | None:
        query = select(invoices).where(invoices.c.org_id == org_id, invoices.c.id == invoice_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def invoice_by_id(self, invoice_id: str, *, for_update: bool = False) -> Row | None:
        """For Stripe's events, which name our invoice in metadata but carry no org."""
        query = select(invoices).where(invoices.c.id == invoice_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def list_invoices(
        self,
        org_id: str,
        member_id: str,
        status: str,
        after_number: int,
        limit: int,
        kid: str = "",
    ) -> list[Row]:
        query = select(invoices).where(
            invoices.c.org_id == org_id, invoices.c.number > after_number
        )
        if member_id:
            query = query.where(invoices.c.member_ref == member_id)
        if status:
            query = query.where(invoices.c.status == status)
        if kid:
            query = query.where(invoices.c.kid == kid)
        result = await self.session.execute(query.order_by(invoices.c.number).limit(limit))
        return list(result.all())

    async def invoices_of(self, org_id: str, member_id: str) -> list[Row]:
        return await self.list_invoices(org_id, member_id, "", 0, 1_000_000)

    async def update_invoice(self, invoice_id: str, **values: Any) -> None:
        await self.session.execute(
            update(invoices).where(invoices.c.id == invoice_id).values(values)
        )

    # --- credit notes and the ledger ---------------------------------------------------

    async def add_credit_note(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(credit_notes), values)

    async def has_credit_note_for_refund(self, refund_id: str) -> bool:
        found = await self.session.scalar(
            select(credit_notes.c.id).where(credit_notes.c.refund_id == refund_id)
        )
        return found is not None

    async def credit_notes_of(self, org_id: str, member_id: str) -> list[Row]:
        result = await self.session.execute(
            select(credit_notes)
            .where(credit_notes.c.org_id == org_id, credit_notes.c.member_ref == member_id)
            .order_by(credit_notes.c.number)
        )
        return list(result.all())

    async def book_on(
        self,
        invoice: Row,
        kind: str,
        source_ref: str,
        amount_ore: int,
        recorded_at: datetime,
        fiscal_day: date | None = None,
    ) -> bool:
        """Books an entry on an invoice (its org, member and currency). `fiscal_day`, when the
        caller knows the Norwegian day, sets the retention date instead of the UTC date."""
        entry = ledger_entry(
            kind,
            source_ref,
            org_id=invoice.org_id,
            member_ref=invoice.member_ref,
            invoice_id=invoice.id,
            amount_ore=amount_ore,
            currency=invoice.currency,
            recorded_at=recorded_at,
        )
        if fiscal_day is not None:
            entry["delete_after"] = delete_after(fiscal_day)
        return await self.book(entry)

    async def book(self, entry: dict[str, Any]) -> bool:
        """Appends a ledger entry; False (and nothing written) if its source_ref is booked."""
        return await insert_ignore(self.session, ledger_entries, entry, ["source_ref"])

    async def ledger(self, org_id: str, member_id: str, after_id: int, limit: int) -> list[Row]:
        query = select(ledger_entries).where(
            ledger_entries.c.org_id == org_id, ledger_entries.c.id > after_id
        )
        if member_id:
            query = query.where(ledger_entries.c.member_ref == member_id)
        result = await self.session.execute(query.order_by(ledger_entries.c.id).limit(limit))
        return list(result.all())

    async def balance(self, org_id: str, member_id: str) -> dict[str, int]:
        """Sums per kind of entry, for one member or (member_id "") the whole org."""
        query = select(ledger_entries.c.kind, func.sum(ledger_entries.c.amount_ore)).where(
            ledger_entries.c.org_id == org_id
        )
        if member_id:
            query = query.where(ledger_entries.c.member_ref == member_id)
        result = await self.session.execute(query.group_by(ledger_entries.c.kind))
        return {kind: int(total or 0) for kind, total in result.all()}

    # --- erasure and retention --------------------------------------------------------

    async def pseudonymise_member(
        self, org_id: str, member_id: str, pseudonym: str, now: datetime
    ) -> None:
        """The member link on kept records becomes the pseudonym; what else tied the member
        to billing (their membership facts) goes."""
        for table in (invoices, credit_notes, ledger_entries):
            values: dict[str, Any] = {"member_ref": pseudonym}
            if table is invoices:
                values["pseudonymised_at"] = now
            await self.session.execute(
                update(table)
                .where(table.c.org_id == org_id, table.c.member_ref == member_id)
                .values(values)
            )
        await self.session.execute(
            delete(billed_members).where(
                billed_members.c.org_id == org_id, billed_members.c.member_ref == member_id
            )
        )

    async def member_refs_after(self, org_id: str, after: str, limit: int) -> list[str]:
        """The members of an org billing holds anything of, ascending: for the erasure
        ledger's replay. Not the pseudonyms an erasure left, nor a Stripe customer's row
        once Stripe deleted it (only its generation count is left)."""
        held = union(
            *(
                select(table.c.member_ref.label("ref")).where(
                    table.c.org_id == org_id, table.c.member_ref > after
                )
                for table in (invoices, credit_notes, ledger_entries, billed_members)
            ),
            select(stripe_customers.c.member_ref).where(
                stripe_customers.c.org_id == org_id,
                stripe_customers.c.member_ref > after,
                stripe_customers.c.customer_id.is_not(None),
            ),
        ).subquery()
        return list(
            await self.session.scalars(
                select(held.c.ref)
                .where(not_(held.c.ref.startswith(PSEUDONYM_PREFIX)))
                .order_by(held.c.ref)
                .limit(limit)
            )
        )

    # --- what billing knows of memberships --------------------------------------------

    async def track_member(
        self,
        org_id: str,
        member_id: str,
        now: datetime,
        *,
        status: str,
        membership_type_id: str | None = None,
        period_end: date | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "period_end": period_end, "updated_at": now}
        if membership_type_id is not None:
            values["membership_type_id"] = membership_type_id
        row = {"org_id": org_id, "member_ref": member_id, "membership_type_id": "", **values}
        await upsert(self.session, billed_members, row, ["org_id", "member_ref"], values)

    # --- the org API's reads ----------------------------------------------------------

    async def ledger_currency(self, org_id: str, member_id: str) -> str | None:
        """The currency of the latest entry (of the member, or of the org for "")."""
        query = select(ledger_entries.c.currency).where(ledger_entries.c.org_id == org_id)
        if member_id:
            query = query.where(ledger_entries.c.member_ref == member_id)
        return await self.session.scalar(query.order_by(ledger_entries.c.id.desc()).limit(1))

    async def invoice_balance(self, org_id: str, invoice_id: str) -> int:
        """What the ledger says is still owed on one invoice."""
        total = await self.session.scalar(
            select(func.sum(ledger_entries.c.amount_ore)).where(
                ledger_entries.c.org_id == org_id, ledger_entries.c.invoice_id == invoice_id
            )
        )
        return int(total or 0)
