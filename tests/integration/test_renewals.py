"""Renewal invoices on a real database (SQLite and PostgreSQL): one per member and period,
however often (or how many at once) the run runs."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from billing.v1.events_pb2 import InvoiceIssued
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.billing.adapters.orm import invoices
from services.billing.adapters.repository import Repository
from services.billing.domain.fees import FeePlan
from services.billing.domain.invoices import OPEN, RENEWAL
from services.billing.service_layer.invoicing import DefaultFee, Invoicing
from services.billing.service_layer.renewals import Renewals
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import decode
from services.common.grpc.auth import Principal, current_tenant, set_principal
from services.common.topics import INVOICE_ISSUED
from tests.integration.conftest import SERVICES_DIR
from tests.integration.test_lifecycle import Clock

ORG_A, ORG_B = "org-a", "org-b"
FEE = 50_000
YEAR_END = date(2026, 12, 31)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(database, SERVICES_DIR / "billing" / "migrations")
    yield database
    await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(date(2026, 12, 5))  # 30 days' lead: periods ending by Jan 4 are invoiced


def renewals_for(db: Database, clock: Clock, fee: int = FEE, batch_size: int = 2) -> Renewals:
    invoicing = Invoicing(DefaultFee(fee, "NOK", 14), clock=clock)
    return Renewals(db, invoicing, lead_days=30, clock=clock, batch_size=batch_size)


@pytest.fixture
def renewals(db: Database, clock: Clock) -> Renewals:
    return renewals_for(db, clock)


async def track(
    db: Database,
    member_id: str,
    status: str,
    period_end: date | None,
    org_id: str = ORG_A,
    type_id: str | None = None,
) -> None:
    """As billing's consumers of membership's events record it (None keeps the type)."""
    async with db.transaction() as session:
        await Repository(session).track_member(
            org_id,
            member_id,
            datetime.now(UTC),
            status=status,
            membership_type_id=type_id,
            period_end=period_end,
        )


async def renewal_invoices(db: Database, member_id: str) -> list[tuple[date, int, str]]:
    """(period end renewed, amount, status) of the member's renewal invoices."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(invoices)
                .where(invoices.c.member_ref == member_id, invoices.c.reason == RENEWAL)
                .order_by(invoices.c.number)
            )
        ).all()
    return [(r.renews_period_end, r.amount_ore, r.status) for r in rows]


async def issued_events(db: Database, member_id: str) -> list[InvoiceIssued]:
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(outbox.c.topic, outbox.c.value)
                .where(outbox.c.key == member_id)
                .order_by(outbox.c.seq)
            )
        ).all()
    found = []
    for row in rows:
        assert row.topic == INVOICE_ISSUED.name
        payload = InvoiceIssued()
        assert decode(row.value).payload.Unpack(payload)
        found.append(payload)
    return found


def renewals_counted() -> float:
    return REGISTRY.get_sample_value("billing_renewals_issued_total") or 0.0


async def test_members_whose_period_ends_soon_are_invoiced_once(
    db: Database, renewals: Renewals
) -> None:
    await track(db, "soon", "active", YEAR_END)
    await track(db, "in-grace", "grace", date(2026, 11, 30))
    await track(db, "edge", "active", date(2027, 1, 4), org_id=ORG_B)  # the last day in lead
    await track(db, "later", "active", date(2027, 1, 5))
    await track(db, "lapsed", "lapsed", date(2026, 10, 31))
    await track(db, "pending", "pending", None)
    before = renewals_counted()

    # Called during org A's request: org B's member is renewed all the same (on PostgreSQL,
    # row-level security would hide them were the run not the service's own work).
    request = contextvars.copy_context()
    request.run(set_principal, Principal(kind="org", org_id=ORG_A, scopes=frozenset({"admin"})))
    assert await asyncio.create_task(renewals.run(), context=request) == 3
    assert await renewals.run() == 0  # the same day again
    assert await renewal_invoices(db, "soon") == [(YEAR_END, FEE, OPEN)]
    assert await renewal_invoices(db, "in-grace") == [(date(2026, 11, 30), FEE, OPEN)]
    assert await renewal_invoices(db, "edge") == [(date(2027, 1, 4), FEE, OPEN)]
    for member_id in ("later", "lapsed", "pending"):
        assert await renewal_invoices(db, member_id) == []
    [event] = await issued_events(db, "soon")
    assert (event.reason, event.amount_ore, event.due_date) == (RENEWAL, FEE, "2026-12-19")
    assert renewals_counted() - before == 3


async def test_runs_at_the_same_time_issue_one_invoice_each(db: Database, clock: Clock) -> None:
    for i in range(5):
        await track(db, f"m{i}", "active", YEAR_END, org_id=(ORG_A, ORG_B)[i % 2])
    runs = [renewals_for(db, clock), renewals_for(db, clock, batch_size=3)]
    results = await asyncio.gather(*(run.run() for run in runs))
    assert sum(results) == 5
    for i in range(5):
        assert len(await renewal_invoices(db, f"m{i}")) == 1
        assert len(await issued_events(db, f"m{i}")) == 1
    async with db.sessions() as session:  # the losers' invoice numbers were not used up
        numbers = (await session.scalars(select(invoices.c.number).order_by("number"))).all()
    assert sorted(numbers) == [1, 1, 2, 2, 3]


async def test_each_new_period_is_renewed_again(
    db: Database, renewals: Renewals, clock: Clock
) -> None:
    await track(db, "m1", "active", YEAR_END, type_id="type-1")
    async with db.transaction() as session:
        plan = FeePlan("type-1", 75_000)
        await Repository(session).set_fee_plan(ORG_A, plan, datetime.now(UTC))
    assert await renewals.run() == 1
    await track(db, "m1", "active", date(2027, 12, 31))  # paid: the next period
    assert await renewals.run() == 0
    clock.set("2027-12-01")
    assert await renewals.run() == 1
    assert await renewal_invoices(db, "m1") == [
        (YEAR_END, 75_000, OPEN),
        (date(2027, 12, 31), 75_000, OPEN),
    ]


async def test_members_whose_plan_charges_nothing_do_not_stall_the_run(
    db: Database, clock: Clock
) -> None:
    for i in range(5):
        await track(db, f"free{i}", "active", YEAR_END)
    free = renewals_for(db, clock, fee=0, batch_size=2)
    assert await asyncio.wait_for(free.run(), 10) == 0
    assert await renewal_invoices(db, "free0") == []
