"""Group commit of sign-ups on a real database: sign-ups arriving together are written
together, and a second sign-up of the same address fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from membership.v1.events_pb2 import MemberRegistered
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import new_envelope
from services.common.outbox import outbox_row
from services.common.topics import MEMBER_REGISTERED
from services.membership.adapters.audit import Change
from services.membership.adapters.orm import audit_log, members, orgs
from services.membership.adapters.repository import member_row
from services.membership.adapters.signup_writer import Signup, SignupWriter
from tests.integration.conftest import SERVICES_DIR

ORG = "org-1"


@pytest.fixture
async def membership_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await upgrade_to_head(db, SERVICES_DIR / "membership" / "migrations")
    async with db.transaction() as session:
        await session.execute(
            insert(orgs).values(
                id=ORG,
                name="Oslo Sjakklubb",
                org_number="916476507",
                language="nb",
                created_at=datetime.now(UTC),
            )
        )
    yield db
    await db.close()


def signup(member_id: str, email_index: str) -> Signup:
    sealed = {f: b"\x01sealed" for f in ("name", "email", "phone")}
    event = new_envelope(
        "membership.member-registered",
        MemberRegistered(member_id=member_id, org_id=ORG),
        org_id=ORG,
        subject_id=member_id,
    )
    return Signup(
        member_row(member_id, ORG, sealed, email_index, "nb", "pending", datetime.now(UTC)),
        [outbox_row(MEMBER_REGISTERED, event)],
        Change("api-key:k1", "member.registered", member_id, ("name",)).row(ORG),
    )


async def count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_sign_ups_arriving_together_are_all_written_with_their_events(
    membership_db: Database,
) -> None:
    writer = SignupWriter(membership_db)
    await asyncio.gather(*(writer.write(signup(f"m-{i}", f"idx-{i}")) for i in range(25)))
    assert await count(membership_db, members) == 25
    assert await count(membership_db, outbox) == 25
    assert await count(membership_db, audit_log) == 25


async def test_a_second_sign_up_of_an_address_fails_alone(membership_db: Database) -> None:
    writer = SignupWriter(membership_db)
    await writer.write(signup("first", "same-address"))
    results = await asyncio.gather(
        writer.write(signup("a", "idx-a")),
        writer.write(signup("again", "same-address")),
        writer.write(signup("b", "idx-b")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    async with membership_db.sessions() as session:
        ids = set((await session.scalars(select(members.c.id))).all())
        keys = set((await session.scalars(select(outbox.c.key))).all())
    assert ids == {"first", "a", "b"}
    assert keys == {"first", "a", "b"}  # no event for the sign-up that failed
    assert await count(membership_db, audit_log) == 3
