"""Applies verified restriction and objection requests through membership: the request's one
task (made at verification) sets the flag, retried like every target until membership
answers (OneTaskRequests); the answer completes the request. State is only in the database,
so a restart resumes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.erasure.domain import requests as rules
from services.erasure.domain.outcomes import TargetResult
from services.erasure.service_layer.task_passes import OneTaskRequests


class MembershipRights(Protocol):
    """Sets the flags at membership; answers a one-line outcome (no personal data), raises
    when membership did not answer yet."""

    async def restrict(self, org_id: str, member_id: str) -> str: ...

    async def object_to(self, org_id: str, member_id: str, purpose: str) -> str: ...


class MembershipRequestRunner(OneTaskRequests):
    types = rules.MEMBERSHIP_TYPES
    name = "rights_request"

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
            deadline_s=deadline_s,
            idle_s=idle_s,
            batch_size=batch_size,
            now=now,
        )
        self.membership = membership

    async def work(self, request: Row) -> str:
        if request.type == "restriction":
            return await self.membership.restrict(request.org_id, request.subject_id)
        return await self.membership.object_to(request.org_id, request.subject_id, request.purpose)

    async def finish(self, request: Row, task: Row, attempts: int, result: str) -> None:
        await self.complete(request, task, attempts, TargetResult(action="applied", note=result))
