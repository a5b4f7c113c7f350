"""Applies verified restriction and objection requests through membership, the way the
erasure runner drives its targets: the request's one task (made at verification) is tried
when due, outside any transaction; a failure schedules a retry with the same capped, jittered
backoff and counts in the same target metrics; success records the outcome in the task and
the history and completes the request, in one transaction. State is only in the database,
so a restart resumes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.logging import get_logger
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import requests as rules
from services.erasure.domain.outcomes import TargetResult
from services.erasure.domain.plan import DONE
from services.erasure.metrics import REQUESTS_COMPLETED, TARGET_ATTEMPTS
from services.erasure.service_layer.task_passes import TaskPasses

log = get_logger(__name__)


class MembershipRights(Protocol):
    """Sets the flags at membership; answers a one-line outcome (no personal data), raises
    when membership did not answer yet."""

    async def restrict(self, org_id: str, member_id: str) -> str: ...

    async def object_to(self, org_id: str, member_id: str, purpose: str) -> str: ...


class MembershipRequestRunner(TaskPasses):
    def __init__(
        self,
        database: Database,
        membership: MembershipRights,
        *,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 3600.0,
        deadline_s: float = 30.0,
        idle_s: float = 1.0,
        batch_size: int = 100,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            database,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            idle_s=idle_s,
            now=now,
        )
        self.membership = membership
        self.deadline_s = deadline_s
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Tries every restriction or objection whose task is due now; returns how many."""
        async with self.database.sessions() as session:
            due = await RequestRepository(session).requests_with_due_tasks(
                self.now(), self.batch_size, types=rules.MEMBERSHIP_TYPES
            )
        await asyncio.gather(*(self._apply_logged(request_id) for request_id in due))
        return len(due)

    async def _apply_logged(self, request_id: str) -> None:
        try:
            await self.apply(request_id)
        except Exception as exc:  # one request's trouble never stops the others
            log.warning("rights_request_failed", request_id=request_id, error=type(exc).__name__)

    async def apply(self, request_id: str) -> None:
        async with self.database.sessions() as session:
            repo = RequestRepository(session)
            request = await repo.get(request_id)
            tasks = await repo.tasks(request_id)
        if request is None or request.status != rules.IN_PROGRESS or len(tasks) != 1:
            return
        task = tasks[0]
        attempts = task.attempts + 1
        try:
            outcome = await asyncio.wait_for(self._call(request), self.deadline_s)
        except Exception as exc:
            await self.retry_later(
                request.id, task.target, attempts, exc, "rights_request_attempt_failed"
            )
            return
        at = self.now()
        async with self.database.transaction() as session:
            repo = RequestRepository(session)
            current = await repo.get(request_id)
            if current is None or current.status != rules.IN_PROGRESS:
                return  # another replica completed it
            await repo.change_task(
                request_id,
                task.target,
                status=DONE,
                attempts=attempts,
                last_error=None,
                outcome_json=TargetResult(action="applied", note=outcome).to_json(),
                finished_at=at,
            )
            await repo.change(request_id, status=rules.COMPLETED, completed_at=at)
            await repo.record(request, rules.COMPLETED, at, "service", outcome)
        TARGET_ATTEMPTS.labels(task.target, "done").inc()
        REQUESTS_COMPLETED.labels(request.type).inc()
        log.info("rights_request_completed", request_id=request_id, type=request.type)

    async def _call(self, request: Row) -> str:
        if request.type == "restriction":
            return await self.membership.restrict(request.org_id, request.subject_id)
        return await self.membership.object_to(request.org_id, request.subject_id, request.purpose)
