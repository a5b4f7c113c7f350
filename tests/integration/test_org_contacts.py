"""Membership's ListOrgContacts as notify pages through it: every org's own contact, in org id
order, a page at a time until the token is empty; a page size out of range is refused by
name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_tenant
from services.membership.adapters.orm import orgs
from services.membership.service_layer.orgs import org_contacts_page
from tests.integration.conftest import SERVICES_DIR

ORGS = (
    ("org-c", "Chess Club", "board@chess.example", "en", "941500013"),
    ("org-a", "Bodø Roklubb", "styret@roklubb.no", "nb", "941500021"),
    ("org-b", "Uten Adresse IL", "", "nb", "941500048"),
)


@pytest.fixture
async def membership_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "membership" / "migrations")
    async with db.transaction() as session:
        for org_id, name, email, language, number in ORGS:
            await session.execute(
                insert(orgs).values(
                    id=org_id,
                    name=name,
                    org_number=number,
                    language=language,
                    contact_email=email,
                    created_at=datetime.now(UTC),
                )
            )
    yield db
    await db.close()


async def test_every_org_a_page_at_a_time(membership_db: Database) -> None:
    first, token = await org_contacts_page(membership_db, 2, "")
    rest, end = await org_contacts_page(membership_db, 2, token)

    assert [(o.org_id, o.contact_email, o.language) for o in first + rest] == [
        ("org-a", "styret@roklubb.no", "nb"),
        ("org-b", "", "nb"),
        ("org-c", "board@chess.example", "en"),
    ]
    assert (token, end) == ("org-b", "")
    whole, none_left = await org_contacts_page(membership_db, 0, "")
    assert len(whole) == 3 and none_left == ""


async def test_a_page_size_out_of_range_is_refused_by_name(membership_db: Database) -> None:
    for size in (-1, 501):
        with pytest.raises(InvalidArgument) as refused:
            await org_contacts_page(membership_db, size, "")
        assert refused.value.field_errors == {"page_size": "between 1 and 500 (0: 100)"}
