"""Coalesced member reads on a real database: many reads at once, of several orgs, each get
their own member or nothing; and on SQLite a locked file makes the inline read fall back to a
session instead of failing or stalling the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from services.common.db.engine import INLINE_BUSY_MS, Database
from services.common.db.migrations import upgrade_to_head
from services.common.grpc.auth import current_tenant
from services.membership.adapters.member_reader import MemberReader
from services.membership.adapters.orm import members, orgs
from services.membership.adapters.repository import member_row
from tests.integration.conftest import SERVICES_DIR

ORGS = ("org-a", "org-b")


@pytest.fixture
async def membership_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, tenant=current_tenant)
    await upgrade_to_head(db, SERVICES_DIR / "membership" / "migrations")
    sealed = {f: b"\x01sealed" for f in ("name", "email", "phone")}
    async with db.transaction() as session:
        for n, org in enumerate(ORGS):
            await session.execute(
                insert(orgs).values(
                    id=org,
                    name=org,
                    org_number=("916476507", "974760673")[n],
                    language="nb",
                    created_at=datetime.now(UTC),
                )
            )
            await session.execute(
                insert(members),
                [
                    member_row(
                        f"{org}-m{i}", org, sealed, f"{org}-{i}", "nb", "pending", datetime.now(UTC)
                    )
                    for i in range(40)
                ],
            )
    yield db
    await db.close()


async def test_reads_arriving_together_each_get_their_own_member(membership_db: Database) -> None:
    reader = MemberReader(membership_db)
    asks = [(org, f"{org}-m{i}") for org in ORGS for i in range(40)]
    asks += [("org-a", "org-b-m1"), ("org-b", "no-such-member")]  # another org's; missing
    rows = await asyncio.gather(*(reader.get(org, member) for org, member in asks))
    for (org, member), row in zip(asks[:-2], rows[:-2], strict=True):
        assert row is not None and (row.org_id, row.id) == (org, member)
    assert rows[-2:] == [None, None]
    # Quiet again: a lone read is answered at once, and correctly.
    await asyncio.sleep(0.05)
    alone = await reader.get("org-b", "org-b-m7")
    assert alone is not None and alone.id == "org-b-m7"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_locked_sqlite_file_makes_the_read_wait_in_a_session(
    membership_db: Database,
) -> None:
    path = membership_db.url.database
    assert path and membership_db.reads_inline
    locked, release = threading.Event(), threading.Event()

    def hold_the_file() -> None:
        # An exclusive-mode writer keeps every other connection out, readers included.
        connection = sqlite3.connect(path, isolation_level=None, timeout=5)
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("UPDATE members SET language = 'en' WHERE id = 'org-a-m3'")
        locked.set()
        release.wait(10)
        connection.execute("COMMIT")
        connection.close()

    await membership_db.engine.dispose()  # no pooled connection keeps the WAL open
    holder = threading.Thread(target=hold_the_file)
    holder.start()
    try:
        assert locked.wait(5)
        asyncio.get_running_loop().call_later(0.3, release.set)
        started = time.monotonic()
        row = await MemberReader(membership_db).get("org-a", "org-a-m3")
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    # The inline read gave up quickly; the session waited for the writer and saw its change.
    assert row is not None and row.language == "en"
    assert waited >= 0.25 and waited >= INLINE_BUSY_MS / 1000
