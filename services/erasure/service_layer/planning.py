"""Consumes privacy.erasure-requested.v1: the request gets one task per registered target,
all due now, and moves to in_progress. Idempotent twice over: the inbox drops a redelivered
event, and a request already planned is left as it is.

A deploy that adds a target would strand the plans made before it (the key shredding waits on
every registered target): at start, each in-progress plan whose key is not yet shredded gets
the tasks it lacks, due now, and every task's position follows the registry's order again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from events.v1.envelope_pb2 import Envelope
from privacy.v1 import events_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db.engine import Database
from services.common.envelope import unpack
from services.common.logging import get_logger
from services.erasure.adapters.orm import erasure_tasks, privacy_requests
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import requests as rules
from services.erasure.domain.plan import DONE, PENDING
from services.erasure.service_layer.targets import KEY_TARGET, TargetRegistry

log = get_logger(__name__)


class ErasurePlanner:
    def __init__(
        self,
        registry: TargetRegistry,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.now = now

    async def on_erasure_requested(self, session: AsyncSession, envelope: Envelope) -> None:
        event = unpack(envelope, events_pb2.ErasureRequested)
        repo = RequestRepository(session)
        request = await repo.get(event.request_id)
        if request is None or request.status != rules.IDENTITY_VERIFIED:
            log.info("erasure_plan_skipped", request_id=event.request_id)
            return
        at = self.now()
        await repo.add_tasks(
            [
                {
                    "request_id": request.id,
                    "target": target,
                    "org_id": request.org_id,
                    "position": position,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": at,
                }
                for position, target in enumerate(self.registry.order)
            ]
        )
        await repo.change(request.id, status=rules.IN_PROGRESS)
        await repo.record(
            request, rules.IN_PROGRESS, at, "service", "plan: " + ", ".join(self.registry.order)
        )

    async def add_missing_tasks(self, database: Database) -> int:
        """Adds to in-progress plans the targets registered since they were made; returns
        how many tasks it added."""
        T, R = erasure_tasks.c, privacy_requests.c
        at = self.now()
        added = 0
        async with database.transaction() as session:
            rows = (
                await session.execute(
                    select(T.request_id, T.org_id, T.target, T.status)
                    .join(privacy_requests, R.id == T.request_id)
                    .where(R.status == rules.IN_PROGRESS, R.type == "erasure")
                )
            ).all()
            plans: dict[str, dict[str, str]] = {}
            orgs: dict[str, str] = {}
            for row in rows:
                plans.setdefault(row.request_id, {})[row.target] = row.status
                orgs[row.request_id] = row.org_id
            repo = RequestRepository(session)
            for request_id, statuses in plans.items():
                missing = [t for t in self.registry.order if t not in statuses]
                if not missing or statuses.get(KEY_TARGET) == DONE:
                    continue  # complete, or past the point where a target could still run
                await repo.add_tasks(
                    [
                        {
                            "request_id": request_id,
                            "target": target,
                            "org_id": orgs[request_id],
                            "position": 0,
                            "status": PENDING,
                            "attempts": 0,
                            "next_attempt_at": at,
                        }
                        for target in missing
                    ]
                )
                for position, target in enumerate(self.registry.order):
                    await repo.change_task(request_id, target, position=position)
                added += len(missing)
                log.info("erasure_plan_extended", request_id=request_id, targets=missing)
        return added
