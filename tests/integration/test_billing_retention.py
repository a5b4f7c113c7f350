"""The retention sweep on a real database (SQLite and PostgreSQL): payment records go once
their bookkeeping period (5 years after the fiscal year) has passed, each by its own date;
an open invoice and what belongs to it stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from services.billing.adapters.orm import credit_notes, invoices, ledger_entries, payment_attempts
from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import OPEN, PAID, UNCOLLECTIBLE, VOID, delete_after
from services.billing.domain.kid import make_kid
from services.billing.domain.ledger import INVOICE, PAYMENT, WRITE_OFF, ledger_entry
from services.billing.service_layer.credit_notes import issue_credit_note
from services.billing.service_layer.retention import RetentionResult, RetentionSweep
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import current_tenant
from tests.integration.conftest import SERVICES_DIR

ORG = "org-a"
FEE = 50_000


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(database, SERVICES_DIR / "billing" / "migrations")
    yield database
    await database.close()


def at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(12), UTC)


async def add_invoice(
    db: Database,
    invoice_id: str,
    issued: str,
    status: str,
    *,
    legacy: bool = False,
    paid: str | None = None,
    refund: str | None = None,
    attempt: bool = False,
) -> None:
    """An invoice as issued on `issued` (delete_after NULL if `legacy`, as before migration
    0003), with its ledger entries, a payment on `paid`, a partial refund's credit note on
    `refund`, and a payment attempt."""
    async with db.transaction() as session:
        repo = Repository(session)
        number = await repo.next_number(ORG)
        issued_at = at(issued)
        values = {
            "id": invoice_id,
            "org_id": ORG,
            "member_ref": "m1",
            "source_event_id": f"ev-{invoice_id}",
            "number": number,
            "kid": make_kid(number),
            "amount_ore": FEE,
            "currency": "NOK",
            "status": status,
            "issued_at": issued_at,
            "due_date": issued_at.date(),
            "delete_after": None if legacy else delete_after(issued_at.date()),
        }
        await repo.add_invoice(values)
        facts = [(INVOICE, issued)]
        if paid:
            facts.append((PAYMENT, paid))
        if status == UNCOLLECTIBLE:
            facts.append((WRITE_OFF, issued))
        for kind, day in facts:
            entry = ledger_entry(
                kind,
                f"{kind}:{invoice_id}",
                org_id=ORG,
                member_ref="m1",
                invoice_id=invoice_id,
                amount_ore=FEE,
                currency="NOK",
                recorded_at=at(day),
            )
            await repo.book(entry)
        if refund:
            row = await repo.invoice(ORG, invoice_id)
            await issue_credit_note(session, row, 10_000, "refund", at(refund), f"re_{invoice_id}")
        if attempt:
            await session.execute(
                insert(payment_attempts).values(
                    id=f"pa-{invoice_id}",
                    org_id=ORG,
                    invoice_id=invoice_id,
                    attempt=1,
                    idempotency_key=f"invoice:{invoice_id}:attempt:1",
                    status="succeeded",
                    created_at=issued_at,
                )
            )


async def remaining(db: Database) -> dict[str, list[str]]:
    """What is left: invoice ids; ledger entries and credit notes, by their invoice."""
    async with db.sessions() as session:

        async def column(query) -> list[str]:  # type: ignore[no-untyped-def]
            return sorted((await session.scalars(query)).all())

        return {
            "invoices": await column(select(invoices.c.id)),
            "ledger": await column(
                select(ledger_entries.c.invoice_id + ":" + ledger_entries.c.kind)
            ),
            "credit_notes": await column(select(credit_notes.c.invoice_id)),
            "attempts": await column(select(payment_attempts.c.invoice_id)),
        }


def deleted_counted(record: str) -> float:
    return REGISTRY.get_sample_value("billing_retention_deleted_total", {"record": record}) or 0.0


async def test_records_go_when_their_period_has_passed_and_open_invoices_stay(
    db: Database,
) -> None:
    await add_invoice(db, "old-paid", "2020-05-01", PAID, paid="2020-05-10", refund="2020-06-01")
    await add_invoice(db, "old-void", "2020-05-01", VOID, legacy=True)
    await add_invoice(db, "written-off", "2020-08-01", UNCOLLECTIBLE, attempt=True)
    # Issued in 2020, paid in 2021: the payment is a 2021 record and stays a year longer.
    await add_invoice(db, "late-paid", "2020-12-20", PAID, paid="2021-01-05", attempt=True)
    await add_invoice(db, "legacy-2021", "2021-02-01", PAID, legacy=True, paid="2021-02-02")
    await add_invoice(db, "old-open", "2019-05-01", OPEN, attempt=True)
    await add_invoice(db, "recent", "2025-03-01", PAID, paid="2025-03-02", refund="2025-04-01")
    everything = await remaining(db)
    sweep = RetentionSweep(db, clock=lambda: date(2025, 12, 31), batch_size=2)
    before = {r: deleted_counted(r) for r in ("invoice", "ledger_entry", "payment_attempt")}

    assert await sweep.run() == RetentionResult()  # the last day of the period: kept
    assert await remaining(db) == everything

    assert await sweep.run(date(2026, 1, 1)) == RetentionResult(
        ledger_entries=7, credit_notes=1, invoices=4, payment_attempts=2
    )
    assert await remaining(db) == {
        "invoices": ["legacy-2021", "old-open", "recent"],
        "ledger": [
            "late-paid:payment",
            "legacy-2021:invoice",
            "legacy-2021:payment",
            "old-open:invoice",
            "recent:credit_note",
            "recent:invoice",
            "recent:payment",
        ],
        "credit_notes": ["recent"],
        "attempts": ["old-open"],
    }
    assert await sweep.run(date(2026, 1, 1)) == RetentionResult()  # nothing left to do
    assert deleted_counted("invoice") - before["invoice"] == 4
    assert deleted_counted("ledger_entry") - before["ledger_entry"] == 7
    assert deleted_counted("payment_attempt") - before["payment_attempt"] == 2

    assert await sweep.run(date(2027, 1, 1)) == RetentionResult(ledger_entries=3, invoices=1)
    # Decades on, the open invoice is still there to be collected or written off.
    assert await sweep.run(date(2040, 1, 1)) == RetentionResult(
        ledger_entries=3, credit_notes=1, invoices=1
    )
    assert await remaining(db) == {
        "invoices": ["old-open"],
        "ledger": ["old-open:invoice"],
        "credit_notes": [],
        "attempts": ["old-open"],
    }
