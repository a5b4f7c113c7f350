"""A new version of the sub-processor registry is announced once, through the outbox, with
no personal data; the first version a database meets is its baseline, and a replica starting
with a version already recorded announces nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from events.v1.envelope_pb2 import Envelope
from privacy.v1 import events_pb2
from sqlalchemy import select

from services.common.db.engine import Database
from services.common.db.migrations import upgrade_to_head
from services.common.db.tables import outbox
from services.common.envelope import unpack
from services.common.topics import SUBPROCESSORS_CHANGED
from services.erasure.service_layer.subprocessor_changes import record_subprocessor_version
from services.erasure.subprocessors import SubprocessorRegistry, load_subprocessors
from tests.integration.conftest import SERVICES_DIR


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade_to_head(database, SERVICES_DIR / "erasure" / "migrations")
    yield database
    await database.close()


def version(n: int) -> SubprocessorRegistry:
    shipped = load_subprocessors()
    return shipped.model_copy(update={"version": n, "last_changed": date(2027, 1, n)})


async def announced(db: Database) -> list[events_pb2.SubprocessorsChanged]:
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(outbox.c.value).where(outbox.c.topic == SUBPROCESSORS_CHANGED.name)
            )
        ).all()
    return [unpack(Envelope.FromString(r.value), events_pb2.SubprocessorsChanged) for r in rows]


async def test_each_new_version_is_announced_once(db: Database) -> None:
    assert not await record_subprocessor_version(db, version(1))  # the baseline
    assert not await record_subprocessor_version(db, version(1))  # a restart
    assert await announced(db) == []

    assert await record_subprocessor_version(db, version(2))
    assert not await record_subprocessor_version(db, version(2))  # another replica, later

    [event] = await announced(db)
    assert (event.version, event.previous_version, event.last_changed) == (2, 1, "2027-01-02")
    assert set(event.names) == {s.name for s in load_subprocessors().subprocessors}
