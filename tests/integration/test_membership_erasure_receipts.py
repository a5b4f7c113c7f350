"""Membership's Erase on a real database (SQLite and PostgreSQL): the receipt names the
tombstone's keyed hash and is answered again, the same, by a repeated Erase (a lost reply);
the tombstones the erasure ledger hands back after a restore are put back once, and bad input
is refused, naming the field, and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, select

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.errors import InvalidArgument
from services.common.grpc.auth import current_tenant
from services.common.sealing import Sealer, blind_index
from services.membership.adapters.orm import erased_addresses, members, orgs
from services.membership.adapters.repository import Repository, member_row
from services.membership.service_layer.handlers import MembershipHandlers
from services.membership.service_layer.subject_store import (
    MemberSubjectStore,
    restore_tombstones,
)
from tests.integration.conftest import SERVICES_DIR

INDEX_KEY = b"t" * 32
ORG, MEMBER, EMAIL = "org-tomb", "member-tomb", "tove.tomb@example.no"
TOMBSTONE = blind_index(INDEX_KEY, ORG, EMAIL)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[MemberSubjectStore]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "membership" / "migrations")
    now = datetime.now(UTC)
    async with db.transaction() as session:
        await session.execute(
            insert(orgs).values(
                id=ORG, name="Org", org_number="979000138", language="nb", created_at=now
            )
        )
        sealed = {f: b"\x01sealed" for f in ("name", "email", "phone")}
        await session.execute(
            insert(members), [member_row(MEMBER, ORG, sealed, TOMBSTONE, "nb", "active", now)]
        )
    # Erase reads no sealed field: the keyring is never called.
    handlers = MembershipHandlers(db, None, None, INDEX_KEY, None)  # type: ignore[arg-type]
    yield MemberSubjectStore(handlers, db, Sealer(None))  # type: ignore[arg-type]
    await db.close()


async def _tombstones(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list(await session.scalars(select(erased_addresses.c.email_index)))


async def test_a_repeated_erase_answers_the_same_receipt_marked_as_a_repeat(
    store: MemberSubjectStore,
) -> None:
    first = await store.erase(ORG, MEMBER)
    again = await store.erase(ORG, MEMBER)  # the first reply was lost

    assert [r.category for r in first.removed] == ["member-record"]
    [kept] = first.kept
    assert kept.category == "erased-address" and kept.tombstones == (TOMBSTONE,)
    assert not first.repeat and again.repeat
    assert replace(again, repeat=False) == first
    # Another org's member of the same id was never here: nothing to report.
    assert await store.erase("another-org", MEMBER) == type(first)()


async def test_tombstones_a_restore_lost_are_put_back_once(store: MemberSubjectStore) -> None:
    await store.erase(ORG, MEMBER)
    async with store.database.transaction() as session:  # a restore from before the erasure
        await session.execute(delete(erased_addresses))

    assert await restore_tombstones(store.database, ORG, [TOMBSTONE]) == 1
    assert await restore_tombstones(store.database, ORG, [TOMBSTONE]) == 0
    assert await _tombstones(store.database) == [TOMBSTONE]
    async with store.database.sessions() as session:
        assert await Repository(session).address_erased(ORG, TOMBSTONE)


async def test_bad_tombstones_are_refused_and_change_nothing(store: MemberSubjectStore) -> None:
    for org_id, tombstones, field in [
        ("", [TOMBSTONE], "org_id"),
        (ORG, [], "tombstones"),
        (ORG, [TOMBSTONE.upper()], "tombstones"),
        (ORG, [EMAIL], "tombstones"),
        (ORG, [TOMBSTONE] * 1001, "tombstones"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            await restore_tombstones(store.database, org_id, tombstones)
        assert set(refused.value.field_errors) == {field}
    assert await _tombstones(store.database) == []
