"""Consumes privacy.erasure-requested.v1: the request gets one task per registered target,
all due now, and moves to in_progress. Idempotent twice over: the inbox drops a redelivered
event, and a request already planned is left as it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from events.v1.envelope_pb2 import Envelope
from privacy.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.envelope import unpack
from services.common.logging import get_logger
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import requests as rules
from services.erasure.domain.plan import PENDING
from services.erasure.service_layer.targets import TargetRegistry

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
