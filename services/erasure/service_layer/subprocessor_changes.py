"""An org must be able to tell its members when the sub-processors change (GDPR art. 28(2)
and (4), art. 13/14): at start the erasure service compares the registry file's version with
the versions it has recorded. A version not recorded yet is recorded and, when an earlier one
was recorded before it, announced as privacy.subprocessors-changed.v1 through the outbox, in
the same transaction: once per change, however many replicas start with it (the version is
the key). The first version a database meets is its baseline: nothing changed for anyone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from privacy.v1 import events_pb2
from sqlalchemy import func, select

from services.common.db.engine import Database
from services.common.db.upsert import insert_ignore
from services.common.envelope import new_envelope
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.topics import SUBPROCESSORS_CHANGED
from services.erasure.adapters.orm import subprocessor_versions
from services.erasure.subprocessors import SubprocessorRegistry

log = get_logger(__name__)

V = subprocessor_versions.c


async def record_subprocessor_version(
    database: Database,
    registry: SubprocessorRegistry,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bool:
    """Records the registry's version; True when it announced a change."""
    async with database.transaction() as session:
        previous = await session.scalar(select(func.max(V.version)))
        if previous == registry.version:
            return False
        recorded = await insert_ignore(
            session,
            subprocessor_versions,
            {
                "version": registry.version,
                "last_changed": registry.last_changed.isoformat(),
                "recorded_at": now(),
            },
            ["version"],
        )
        if not recorded or previous is None:
            return False  # another replica recorded it, or this is the baseline
        await add_event(
            session,
            SUBPROCESSORS_CHANGED,
            new_envelope(
                "privacy.subprocessors-changed",
                events_pb2.SubprocessorsChanged(
                    version=registry.version,
                    previous_version=previous,
                    last_changed=registry.last_changed.isoformat(),
                    names=[s.name for s in registry.subprocessors],
                ),
                org_id="",
            ),
        )
    log.info("subprocessors_changed", version=registry.version, previous_version=previous)
    return True
