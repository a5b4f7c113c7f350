"""Billing's SubjectIndex, on its own tables: the members of an org it holds anything of, page
by page, for the erasure ledger's replay; not the pseudonyms an erasure left, nor a Stripe
customer row Stripe already deleted; a bad page request names its field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from privacy.v1 import ledger_pb2
from sqlalchemy import insert

from services.billing.adapters.orm import stripe_customers
from services.billing.adapters.repository import Repository
from services.billing.domain.invoices import SIGNUP, pseudonym
from services.billing.service_layer.invoicing import DefaultFee, InvoiceRequest, Invoicing
from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.envelope import EventContext
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_tenant
from services.common.grpc.subject_index import SubjectIndexServicer
from tests.integration.conftest import SERVICES_DIR
from tests.integration.test_lifecycle import Clock

ORG_A, ORG_B = "org-a", "org-b"


@pytest.fixture
async def index(database_url: str) -> AsyncIterator[tuple[Database, SubjectIndexServicer]]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "billing" / "migrations")
    yield (
        db,
        SubjectIndexServicer(
            db, lambda session, *page: Repository(session).member_refs_after(*page)
        ),
    )
    await db.close()


async def _page(servicer: SubjectIndexServicer, org_id: str, after: str, size: int) -> list[str]:
    request = ledger_pb2.ListSubjectsRequest(org_id=org_id, after=after, page_size=size)
    return list((await servicer.ListSubjects(request, None)).subject_ids)  # type: ignore[arg-type]


async def test_lists_who_billing_holds_and_not_what_erasure_left(
    index: tuple[Database, SubjectIndexServicer],
) -> None:
    db, servicer = index
    invoiced, erased, tracked, customer, deleted_customer, other_org = (
        f"m{i}-{uuid.uuid4()}" for i in range(6)
    )
    invoicing = Invoicing(DefaultFee(50_000, "NOK", 14), clock=Clock(date(2026, 3, 2)))
    now = datetime.now(UTC)
    async with db.transaction() as session:
        for org_id, member in ((ORG_A, invoiced), (ORG_A, erased), (ORG_B, other_org)):
            request = InvoiceRequest(org_id, member, "", SIGNUP, str(uuid.uuid4()))
            assert await invoicing.issue(session, request, EventContext())
        repo = Repository(session)
        await repo.pseudonymise_member(ORG_A, erased, pseudonym(b"key", erased), now)
        await repo.track_member(ORG_A, tracked, now, status="active")
        await repo.track_member(ORG_A, invoiced, now, status="active")  # in two tables: once
        await session.execute(
            insert(stripe_customers),
            [
                {
                    "org_id": ORG_A,
                    "member_ref": customer,
                    "customer_id": "cus_1",
                    "created_at": now,
                },
                {
                    "org_id": ORG_A,
                    "member_ref": deleted_customer,
                    "customer_id": None,
                    "created_at": now,
                },
            ],
        )

    held = sorted([invoiced, tracked, customer])
    assert await _page(servicer, ORG_A, "", 5000) == held
    assert await _page(servicer, ORG_A, "", 2) == held[:2]
    assert await _page(servicer, ORG_A, held[1], 2) == held[2:]
    assert await _page(servicer, ORG_B, "", 10) == [other_org]


async def test_a_bad_page_request_names_its_field(
    index: tuple[Database, SubjectIndexServicer],
) -> None:
    _, servicer = index
    with pytest.raises(InvalidArgument) as missing:
        await _page(servicer, "", "", 10)
    assert missing.value.field_errors == {"org_id": "required"}
    with pytest.raises(InvalidArgument) as too_big:
        await _page(servicer, ORG_A, "", 5001)
    assert set(too_big.value.field_errors) == {"page_size"}
