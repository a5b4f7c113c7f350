"""Dunning on a real database (SQLite and PostgreSQL): reminders, the write-off and the
events they announce through the outbox, with an injected clock that runs a cycle in moments."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from billing.v1.events_pb2 import DunningExhausted, InvoiceIssued, ReminderDue
from google.protobuf.message import Message
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from services.billing.adapters.orm import invoices, stripe_customers
from services.billing.adapters.repository import Repository
from services.billing.domain.fees import BillingPolicy
from services.billing.domain.invoices import OPEN, PAID, SIGNUP, UNCOLLECTIBLE
from services.billing.domain.ledger import PAYMENT, balance_of, ledger_entry
from services.billing.service_layer.dunning import Dunning, DunningResult
from services.billing.service_layer.invoicing import DefaultFee, InvoiceRequest, Invoicing
from services.billing.service_layer.subject_store import InvoiceSubjectStore
from services.common.clock import OSLO
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import EventContext, decode
from services.common.grpc.auth import Principal, current_tenant, set_principal
from services.common.topics import DUNNING_EXHAUSTED, INVOICE_ISSUED, REMINDER_DUE
from tests.integration.conftest import SERVICES_DIR
from tests.integration.test_lifecycle import Clock

ORG_A, ORG_B = "org-a", "org-b"
FEE = 50_000
PAYLOADS: dict[str, type[Message]] = {
    INVOICE_ISSUED.name: InvoiceIssued,
    REMINDER_DUE.name: ReminderDue,
    DUNNING_EXHAUSTED.name: DunningExhausted,
}
# Issued Mar 2 with 14 days to pay: due Mar 16; under the default policy it first comes up
# 7 days later, then every 14 days, and after 2 reminders it is written off.
ISSUED, FIRST_CHECK = "2026-03-02", "2026-03-23"
REMINDER_2, WRITE_OFF_DAY = "2026-04-06", "2026-04-20"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(database, SERVICES_DIR / "billing" / "migrations")
    yield database
    await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(date.fromisoformat(ISSUED))


@pytest.fixture
def dunning(db: Database, clock: Clock) -> Dunning:
    return Dunning(db, clock=clock, batch_size=2)


async def issue(db: Database, clock: Clock, member_id: str, org_id: str = ORG_A) -> str:
    invoicing = Invoicing(DefaultFee(FEE, "NOK", 14), clock=clock)
    request = InvoiceRequest(org_id, member_id, "", SIGNUP, str(uuid.uuid4()))
    async with db.transaction() as session:
        invoice_id = await invoicing.issue(session, request, EventContext())
    assert invoice_id is not None
    return invoice_id


async def invoice(db: Database, invoice_id: str) -> tuple[str, int, date | None]:
    """(status, reminders sent, next reminder on)."""
    async with db.sessions() as session:
        row = (await session.execute(select(invoices).where(invoices.c.id == invoice_id))).one()
    return row.status, row.reminders_sent, row.next_reminder_on


async def pay(db: Database, org_id: str, invoice_id: str) -> None:
    """As a succeeded Stripe payment does: the invoice is paid, the payment booked."""
    async with db.transaction() as session:
        repo = Repository(session)
        row = await repo.invoice(org_id, invoice_id, for_update=True)
        assert row is not None
        now = datetime.now(UTC)
        await repo.update_invoice(invoice_id, status=PAID, paid_at=now)
        await repo.book(
            ledger_entry(
                PAYMENT,
                f"payment:pi_{invoice_id}",
                org_id=org_id,
                member_ref=row.member_ref,
                invoice_id=invoice_id,
                amount_ore=row.amount_ore,
                currency=row.currency,
                recorded_at=now,
            )
        )


async def events(db: Database, member_id: str) -> list[tuple[str, Message]]:
    """(topic, payload) of each event about the member in the outbox, in order."""
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
        payload = PAYLOADS[row.topic]()
        assert decode(row.value).payload.Unpack(payload)
        found.append((row.topic, payload))
    return found


async def dunning_events(db: Database, member_id: str) -> list[tuple[str, int]]:
    """(topic, reminder number, 0 for a write-off) of the dunning events about the member."""
    return [
        (topic, getattr(payload, "reminder_number", 0))
        for topic, payload in await events(db, member_id)
        if topic != INVOICE_ISSUED.name
    ]


async def balance(db: Database, member_id: str, org_id: str = ORG_A) -> dict[str, int]:
    async with db.sessions() as session:
        return balance_of(await Repository(session).balance(org_id, member_id))


def steps_counted(step: str) -> float:
    return REGISTRY.get_sample_value("billing_dunning_steps_total", {"step": step}) or 0.0


async def test_a_full_cycle_reminds_twice_then_writes_off(
    db: Database, dunning: Dunning, clock: Clock
) -> None:
    invoice_id = await issue(db, clock, "m1")
    reminders_before, write_offs_before = steps_counted("reminder"), steps_counted("write_off")
    assert await invoice(db, invoice_id) == (OPEN, 0, date.fromisoformat(FIRST_CHECK))

    clock.set("2026-03-22")  # due, but not yet come up
    assert await dunning.run() == DunningResult()

    clock.set(FIRST_CHECK)
    assert await dunning.run() == DunningResult(reminders=1)
    assert await invoice(db, invoice_id) == (OPEN, 1, date.fromisoformat(REMINDER_2))
    assert await dunning.run() == DunningResult()  # the same day again: nothing

    clock.set(REMINDER_2)
    assert await dunning.run() == DunningResult(reminders=1)
    assert await invoice(db, invoice_id) == (OPEN, 2, date.fromisoformat(WRITE_OFF_DAY))

    clock.set(WRITE_OFF_DAY)
    assert await dunning.run() == DunningResult(written_off=1)
    assert await invoice(db, invoice_id) == (UNCOLLECTIBLE, 2, None)
    assert await balance(db, "m1") == {
        "balance_ore": 0,
        "invoiced_ore": FEE,
        "paid_ore": 0,
        "refunded_ore": 0,
        "written_off_ore": FEE,
    }

    for later in ("2026-04-20", "2026-05-04", "2027-01-01"):
        clock.set(later)
        assert await dunning.run() == DunningResult()
    assert await dunning_events(db, "m1") == [
        (REMINDER_DUE.name, 1),
        (REMINDER_DUE.name, 2),
        (DUNNING_EXHAUSTED.name, 0),
    ]
    found = await events(db, "m1")
    reminder, exhausted = found[1][1], found[3][1]
    assert isinstance(reminder, ReminderDue) and isinstance(exhausted, DunningExhausted)
    issued = found[0][1]
    assert isinstance(issued, InvoiceIssued)
    assert (reminder.invoice_id, reminder.member_id, reminder.org_id) == (invoice_id, "m1", ORG_A)
    assert (reminder.amount_ore, reminder.currency, reminder.kid) == (FEE, "NOK", issued.kid)
    assert reminder.due_date == "2026-03-16"
    assert (exhausted.invoice_id, exhausted.member_id, exhausted.org_id) == (
        invoice_id,
        "m1",
        ORG_A,
    )
    assert steps_counted("reminder") - reminders_before == 2
    assert steps_counted("write_off") - write_offs_before == 1


async def test_a_payment_stops_the_cycle(db: Database, dunning: Dunning, clock: Clock) -> None:
    invoice_id = await issue(db, clock, "m1")
    clock.set(FIRST_CHECK)
    await dunning.run()
    await pay(db, ORG_A, invoice_id)  # next_reminder_on left as it was: status decides
    for day in (REMINDER_2, WRITE_OFF_DAY, "2026-12-31"):
        clock.set(day)
        assert await dunning.run() == DunningResult()
    assert (await invoice(db, invoice_id))[:2] == (PAID, 1)
    assert await dunning_events(db, "m1") == [(REMINDER_DUE.name, 1)]
    assert (await balance(db, "m1"))["balance_ore"] == 0


async def test_a_payment_landing_after_the_selection_wins(
    db: Database, dunning: Dunning, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice_id = await issue(db, clock, "m1")
    step = Dunning._step

    async def paid_meanwhile(self: Dunning, org_id: str, invoice_id: str, today: date) -> object:
        await pay(db, org_id, invoice_id)  # after the run read the invoice as due
        return await step(self, org_id, invoice_id, today)

    monkeypatch.setattr(Dunning, "_step", paid_meanwhile)
    clock.set(WRITE_OFF_DAY)
    assert await dunning.run() == DunningResult()
    assert (await invoice(db, invoice_id))[0] == PAID
    assert await dunning_events(db, "m1") == []


async def test_no_reminders_writes_off_at_the_first_check(
    db: Database, dunning: Dunning, clock: Clock
) -> None:
    async with db.transaction() as session:
        policy = BillingPolicy(first_reminder_days=0, max_reminders=0)
        await Repository(session).set_policy(ORG_A, policy, datetime.now(UTC))
    invoice_id = await issue(db, clock, "m1")
    clock.set("2026-03-15")
    assert await dunning.run() == DunningResult()
    clock.set("2026-03-16")  # the due date itself
    assert await dunning.run() == DunningResult(written_off=1)
    assert (await invoice(db, invoice_id))[0] == UNCOLLECTIBLE
    assert await dunning_events(db, "m1") == [(DUNNING_EXHAUSTED.name, 0)]
    assert (await balance(db, "m1"))["balance_ore"] == 0


async def test_the_policy_in_force_when_the_invoice_comes_up_applies(
    db: Database, dunning: Dunning, clock: Clock
) -> None:
    invoice_id = await issue(db, clock, "m1")  # under the default: 2 reminders
    clock.set(FIRST_CHECK)
    await dunning.run()
    async with db.transaction() as session:
        policy = BillingPolicy(max_reminders=1, reminder_interval_days=3)
        await Repository(session).set_policy(ORG_A, policy, datetime.now(UTC))
    clock.set(REMINDER_2)  # set by the old interval; the new policy allows no more reminders
    assert await dunning.run() == DunningResult(written_off=1)
    assert (await invoice(db, invoice_id))[0] == UNCOLLECTIBLE


async def test_a_run_steps_every_org_in_batches(
    db: Database, dunning: Dunning, clock: Clock
) -> None:
    ids = [await issue(db, clock, f"a{i}", ORG_A) for i in range(3)]
    ids += [await issue(db, clock, f"b{i}", ORG_B) for i in range(2)]
    clock.set(FIRST_CHECK)
    # Called during one org's request: on PostgreSQL, row-level security would hide the other
    # org's invoices were the run not the service's own work. Batches of 2: several pages.
    request = contextvars.copy_context()
    request.run(set_principal, Principal(kind="org", org_id=ORG_A, scopes=frozenset({"admin"})))
    assert await asyncio.create_task(dunning.run(), context=request) == DunningResult(reminders=5)
    assert [(await invoice(db, i))[1] for i in ids] == [1] * 5


async def test_two_runs_at_once_step_each_invoice_once(
    db: Database, dunning: Dunning, clock: Clock
) -> None:
    ids = [await issue(db, clock, f"m{i}", (ORG_A, ORG_B)[i % 2]) for i in range(5)]
    clock.set(FIRST_CHECK)
    other = Dunning(db, clock=clock, batch_size=3)
    results = await asyncio.gather(dunning.run(), other.run())
    assert sum(r.reminders for r in results) == 5
    assert [(await invoice(db, i))[1] for i in ids] == [1] * 5
    for i in range(5):
        assert await dunning_events(db, f"m{i}") == [(REMINDER_DUE.name, 1)]


async def test_the_export_shows_the_invoice_its_ledger_and_the_stripe_customer(
    db: Database, dunning: Dunning, clock: Clock
) -> None:
    invoice_id = await issue(db, clock, "m1")
    async with db.transaction() as session:
        await session.execute(
            insert(stripe_customers).values(
                org_id=ORG_A, member_ref="m1", customer_id="cus_1", created_at=datetime.now(UTC)
            )
        )
    for day in (FIRST_CHECK, REMINDER_2, WRITE_OFF_DAY):
        clock.set(day)
        await dunning.run()
    exported = await InvoiceSubjectStore(db, b"k" * 32).export(ORG_A, "m1")
    assert [(i["invoice_id"], i["status"]) for i in exported["invoices"]] == [
        (invoice_id, UNCOLLECTIBLE)
    ]
    assert exported["invoices"][0]["reminders_sent"] == 2
    closed_at = datetime.fromisoformat(exported["invoices"][0]["closed_at"])
    assert closed_at.astimezone(OSLO).date() == date.fromisoformat(WRITE_OFF_DAY)
    assert [(e["kind"], e["amount_ore"]) for e in exported["ledger_entries"]] == [
        ("invoice", FEE),
        ("write_off", -FEE),
    ]
    assert exported["credit_notes"] == []
    assert exported["stripe_customer_id"] == "cus_1"
    nobody = await InvoiceSubjectStore(db, b"k" * 32).export(ORG_B, "m1")
    assert nobody == {
        "invoices": [],
        "credit_notes": [],
        "ledger_entries": [],
        "stripe_customer_id": None,
    }
