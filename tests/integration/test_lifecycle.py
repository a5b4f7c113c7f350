"""The status lifecycle on a real database (SQLite and PostgreSQL): billing's events through
the idempotent consumer, and the sweep, with an injected clock that runs years in moments."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from billing.v1.events_pb2 import DunningExhausted, PaymentSucceeded
from events.v1.envelope_pb2 import Envelope
from google.protobuf.message import Message
from membership.v1.events_pb2 import MemberStatusChanged
from sqlalchemy import insert, select

from services.common.consumer import EventConsumer, Handler
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import new_envelope, unpack
from services.common.grpc.auth import Principal, current_tenant, set_principal
from services.common.kafka import Publisher
from services.common.metrics import ServiceMetrics
from services.common.topics import MEMBER_STATUS_CHANGED, TopicSpec
from services.membership.adapters.orm import audit_log, members, orgs
from services.membership.adapters.repository import Repository
from services.membership.service_layer.lifecycle import MemberLifecycle, SweepResult
from tests.integration.conftest import SERVICES_DIR

ORG_A, ORG_B = "org-a", "org-b"
FIXED_YEAR = "type-fixed-year"  # calendar year, rollover Oct 1, 30 days' grace
ROLLING_MONTH = "type-rolling-month"  # a month from the payment, no grace


class Clock:
    def __init__(self, today: date) -> None:
        self.today = today

    def __call__(self) -> date:
        return self.today

    def set(self, text: str) -> None:
        self.today = date.fromisoformat(text)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    # Scoped like the service: the caller's org when there is one, else every org ("*").
    database = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(database, SERVICES_DIR / "membership" / "migrations")
    now = datetime.now(UTC)
    async with database.transaction() as session:
        repo = Repository(session)
        for org, number in ((ORG_A, "916476507"), (ORG_B, "974760673")):
            await session.execute(
                insert(orgs).values(
                    id=org, name=org, org_number=number, language="nb", created_at=now
                )
            )
        for type_id, period, kind, rollover, grace in (
            (FIXED_YEAR, "yearly", "fixed", "10-01", 30),
            (ROLLING_MONTH, "monthly", "rolling", "", 0),
        ):
            await repo.add_membership_type(
                {
                    "id": type_id,
                    "org_id": ORG_A,
                    "name": type_id,
                    "period": period,
                    "kind": kind,
                    "rollover": rollover,
                    "grace_days": grace,
                    "created_at": now,
                }
            )
    yield database
    await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(date(2025, 3, 10))


@pytest.fixture
def lifecycle(db: Database, clock: Clock) -> MemberLifecycle:
    return MemberLifecycle(db, clock=clock, batch_size=2)


def consumer(
    name: str, handler: Handler, db: Database, publisher: Publisher, metrics: ServiceMetrics
) -> EventConsumer:
    # A topic of its own: the real one is only needed if the handler fails (it must not).
    topic = TopicSpec(f"test.{name}.{uuid.uuid4().hex[:8]}.v1")
    return EventConsumer(name, topic, handler, database=db, producer=publisher, metrics=metrics)


@pytest.fixture
def billing(
    db: Database, lifecycle: MemberLifecycle, publisher: Publisher, metrics: ServiceMetrics
) -> Billing:
    return Billing(
        consumer("payment", lifecycle.on_payment_succeeded, db, publisher, metrics),
        consumer("dunning", lifecycle.on_dunning_exhausted, db, publisher, metrics),
    )


class Billing:
    """Billing's side: events as billing emits them, handled as the membership consumers do."""

    def __init__(self, payments: EventConsumer, dunning: EventConsumer) -> None:
        self.payments = payments
        self.dunning = dunning

    @staticmethod
    def envelope(member_id: str, org_id: str, payload: Message) -> Envelope:
        kind = "payment-succeeded" if isinstance(payload, PaymentSucceeded) else "dunning-exhausted"
        return new_envelope(f"billing.{kind}", payload, org_id=org_id, subject_id=member_id)

    async def pay(self, member_id: str, org_id: str = ORG_A) -> tuple[str, Envelope]:
        paid = PaymentSucceeded(
            invoice_id=str(uuid.uuid4()),
            member_id=member_id,
            org_id=org_id,
            amount_ore=50000,
            currency="NOK",
        )
        envelope = self.envelope(member_id, org_id, paid)
        return await self.deliver(self.payments, envelope), envelope

    async def exhaust(self, member_id: str, org_id: str = ORG_A) -> str:
        payload = DunningExhausted(invoice_id=str(uuid.uuid4()), member_id=member_id, org_id=org_id)
        return await self.deliver(self.dunning, self.envelope(member_id, org_id, payload))

    @staticmethod
    async def deliver(consumer: EventConsumer, envelope: Envelope) -> str:
        return await consumer.process(
            envelope.SerializeToString(), envelope.subject_id.encode(), attempt=0
        )


async def add_member(
    db: Database,
    member_id: str,
    org_id: str = ORG_A,
    status: str = "pending",
    type_id: str | None = FIXED_YEAR,
    period_end: str | None = None,
) -> None:
    async with db.transaction() as session:
        await session.execute(
            insert(members).values(
                id=member_id,
                org_id=org_id,
                name_sealed=b"\x01sealed",
                email_sealed=b"\x01sealed",
                phone_sealed=b"\x01sealed",
                email_index=f"idx-{member_id}",
                language="nb",
                status=status,
                registered_at=datetime.now(UTC),
                type_id=type_id,
                period_end=date.fromisoformat(period_end) if period_end else None,
            )
        )


async def state(db: Database, member_id: str) -> tuple[str, str, str]:
    """(status, period start, period end) of a member, dates as YYYY-MM-DD."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(members.c.status, members.c.period_start, members.c.period_end).where(
                    members.c.id == member_id
                )
            )
        ).one()
    return (
        row.status,
        row.period_start.isoformat() if row.period_start else "",
        row.period_end.isoformat() if row.period_end else "",
    )


async def events(db: Database, member_id: str) -> list[tuple[str, str, str, str]]:
    """(old status, new status, period end, reason) of each MemberStatusChanged, in order."""
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
        assert row.topic == MEMBER_STATUS_CHANGED.name
        envelope = Envelope()
        envelope.ParseFromString(row.value)
        e = unpack(envelope, MemberStatusChanged)
        assert (e.member_id, envelope.subject_id) == (member_id, member_id)
        found.append((e.old_status, e.new_status, e.period_end, e.reason))
    return found


async def audit_entries(db: Database, member_id: str) -> list[tuple[str, str, str]]:
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(audit_log.c.actor, audit_log.c.action, audit_log.c.fields)
                .where(audit_log.c.object_id == member_id)
                .order_by(audit_log.c.id)
            )
        ).all()
    return [(r.actor, r.action, r.fields) for r in rows]


async def test_a_whole_cycle_payment_grace_lapse_and_back(
    db: Database, lifecycle: MemberLifecycle, billing: Billing, clock: Clock
) -> None:
    await add_member(db, "m1")
    assert (await billing.pay("m1"))[0] == "processed"
    assert await state(db, "m1") == ("active", "2025-03-10", "2025-12-31")

    clock.set("2025-12-31")  # the last day covered
    assert (await lifecycle.sweep()).to_grace == 0
    clock.set("2026-01-01")
    assert (await lifecycle.sweep()).to_grace == 1
    assert (await state(db, "m1"))[0] == "grace"
    clock.set("2026-01-30")  # the last day of grace: Dec 31 + 30 days
    assert (await lifecycle.sweep()).to_lapsed == 0
    clock.set("2026-01-31")
    assert (await lifecycle.sweep()).to_lapsed == 1
    assert (await state(db, "m1"))[0] == "lapsed"

    clock.set("2026-02-15")  # lapsed: the new period starts today
    await billing.pay("m1")
    assert await state(db, "m1") == ("active", "2026-02-15", "2026-12-31")
    clock.set("2026-11-20")  # active: the next period continues the current one
    await billing.pay("m1")
    assert await state(db, "m1") == ("active", "2027-01-01", "2027-12-31")

    assert await events(db, "m1") == [
        ("pending", "active", "2025-12-31", "payment"),
        ("active", "grace", "2025-12-31", "expiry"),
        ("grace", "lapsed", "2025-12-31", "expiry"),
        ("lapsed", "active", "2026-12-31", "payment"),
        ("active", "active", "2027-12-31", "payment"),
    ]
    assert await audit_entries(db, "m1") == [
        ("service", "member.renewed", "status period_start period_end"),
        ("service", "member.status-changed", "status"),
        ("service", "member.status-changed", "status"),
        ("service", "member.renewed", "status period_start period_end"),
        ("service", "member.renewed", "period_start period_end"),
    ]


async def test_payment_in_grace_continues_from_the_end_of_the_period(
    db: Database, lifecycle: MemberLifecycle, billing: Billing, clock: Clock
) -> None:
    await add_member(db, "m1", status="grace", period_end="2025-12-31")
    clock.set("2026-01-20")
    await billing.pay("m1")
    assert await state(db, "m1") == ("active", "2026-01-01", "2026-12-31")


async def test_the_same_event_twice_has_one_effect(
    db: Database, billing: Billing, clock: Clock
) -> None:
    await add_member(db, "m1")
    outcome, envelope = await billing.pay("m1")
    assert outcome == "processed"
    clock.set("2025-06-01")
    assert await billing.deliver(billing.payments, envelope) == "duplicate"
    assert await state(db, "m1") == ("active", "2025-03-10", "2025-12-31")
    assert len(await events(db, "m1")) == 1
    assert len(await audit_entries(db, "m1")) == 1


async def test_dunning_exhausted_lapses(db: Database, billing: Billing) -> None:
    for member_id, status in (("p", "pending"), ("a", "active"), ("g", "grace")):
        await add_member(db, member_id, status=status, period_end="2025-12-31")
        assert await billing.exhaust(member_id) == "processed"
        assert (await state(db, member_id))[0] == "lapsed"
        assert await events(db, member_id) == [(status, "lapsed", "2025-12-31", "dunning")]
    await add_member(db, "l", status="lapsed")
    await billing.exhaust("l")
    assert await events(db, "l") == []


async def test_a_payment_for_a_cancelled_member_is_ignored(db: Database, billing: Billing) -> None:
    await add_member(db, "c", status="cancelled")
    assert (await billing.pay("c"))[0] == "processed"  # handled: nothing to do
    assert await state(db, "c") == ("cancelled", "", "")
    assert await events(db, "c") == [] and await audit_entries(db, "c") == []


async def test_members_gone_or_of_another_org_are_skipped(db: Database, billing: Billing) -> None:
    await add_member(db, "m1", org_id=ORG_A)
    assert (await billing.pay("m1", org_id=ORG_B))[0] == "processed"
    assert await billing.exhaust("m1", org_id=ORG_B) == "processed"
    assert (await billing.pay("erased-long-ago"))[0] == "processed"
    assert await state(db, "m1") == ("pending", "", "")
    assert await events(db, "m1") == []


async def test_members_without_a_type_get_a_rolling_year(db: Database, billing: Billing) -> None:
    await add_member(db, "m1", org_id=ORG_B, type_id=None)
    await billing.pay("m1", org_id=ORG_B)
    assert await state(db, "m1") == ("active", "2025-03-10", "2026-03-09")


async def test_the_sweep_sees_every_org_whoever_calls_it(
    db: Database, lifecycle: MemberLifecycle, clock: Clock
) -> None:
    for i in range(3):
        await add_member(db, f"a{i}", ORG_A, "active", FIXED_YEAR, "2025-12-31")
        await add_member(db, f"b{i}", ORG_B, "active", None, "2025-12-31")
    await add_member(db, "covered", ORG_B, "active", None, "2026-06-30")
    await add_member(db, "in-grace", ORG_A, "grace", FIXED_YEAR, "2025-12-31")  # until Jan 30
    await add_member(db, "no-grace", ORG_A, "active", ROLLING_MONTH, "2025-12-31")
    await add_member(db, "pending", ORG_B, "pending", None, None)
    clock.set("2026-01-10")
    # Called during one org's request: on PostgreSQL that org's rows only, were the sweep not
    # run as the service's own work. Batches of 2, so the passes take several pages.
    request = contextvars.copy_context()
    request.run(set_principal, Principal(kind="org", org_id=ORG_A, scopes=frozenset({"admin"})))
    result = await asyncio.create_task(lifecycle.sweep(), context=request)
    assert (result.to_grace, result.to_lapsed) == (7, 1)
    for member_id in ("a0", "a1", "a2", "b0", "b1", "b2", "in-grace"):
        assert (await state(db, member_id))[0] == "grace", member_id
    assert (await state(db, "covered"))[0] == "active"
    assert (await state(db, "pending"))[0] == "pending"
    # No grace days: both steps in one sweep, each its own event.
    assert await events(db, "no-grace") == [
        ("active", "grace", "2025-12-31", "expiry"),
        ("grace", "lapsed", "2025-12-31", "expiry"),
    ]
    assert await events(db, "b0") == [("active", "grace", "2025-12-31", "expiry")]

    clock.set("2026-01-31")
    assert await lifecycle.sweep() == SweepResult(to_grace=0, to_lapsed=7)
    assert await lifecycle.sweep() == SweepResult()  # nothing left to do
    assert (await state(db, "covered"))[0] == "active"


async def test_a_year_day_by_day(
    db: Database, lifecycle: MemberLifecycle, billing: Billing, clock: Clock
) -> None:
    """A monthly member who pays twice and a yearly member who pays once, swept every day."""
    await add_member(db, "monthly", type_id=ROLLING_MONTH)
    await add_member(db, "yearly", type_id=FIXED_YEAR)
    clock.set("2025-01-31")
    await billing.pay("monthly")
    await billing.pay("yearly")
    seen: dict[str, list[tuple[str, str]]] = {"monthly": [], "yearly": []}
    for day in range(366):
        clock.today = date(2025, 1, 31) + timedelta(days=day)
        if clock.today == date(2025, 2, 20):
            await billing.pay("monthly")  # before the end: Mar 1 - Mar 31
        await lifecycle.sweep()
        for member_id, changes in seen.items():
            status = (await state(db, member_id))[0]
            if not changes or changes[-1][1] != status:
                changes.append((clock.today.isoformat(), status))
    assert seen["monthly"] == [("2025-01-31", "active"), ("2025-04-01", "lapsed")]
    assert seen["yearly"] == [
        ("2025-01-31", "active"),
        ("2026-01-01", "grace"),
        ("2026-01-31", "lapsed"),
    ]
    assert [e[1] for e in await events(db, "monthly")] == ["active", "active", "grace", "lapsed"]
