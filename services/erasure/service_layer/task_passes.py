"""What the erasure runner and the restriction/objection runner share: passes over the
requests that have a task due, back to back while there is work and woken early when new work
is committed, and the bookkeeping of a failed attempt (a retry scheduled with capped, jittered
backoff, counted in the target metrics)."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta

from services.common.db.engine import Database
from services.common.logging import get_logger
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain.outcomes import TargetFailure
from services.erasure.domain.plan import RETRYING, backoff_s
from services.erasure.metrics import TARGET_ATTEMPTS, TARGET_FAILURES

log = get_logger(__name__)


class TaskPasses(ABC):
    def __init__(
        self,
        database: Database,
        *,
        backoff_base_s: float,
        backoff_cap_s: float,
        idle_s: float,
        now: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.idle_s = idle_s
        self.now = now
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def next_pass(self) -> None:
        """One pass; when it found nothing due, wait for a wake-up or `idle_s` first."""
        self._wakeup.clear()
        if not await self.run_once():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.idle_s)

    @abstractmethod
    async def run_once(self) -> int:
        """Tries what is due now; returns how many requests it took up."""

    async def retry_later(
        self, request_id: str, target: str, attempts: int, exc: Exception, event: str
    ) -> None:
        """Records a failed attempt and when to try again; `event` names the log line."""
        code = exc.code if isinstance(exc, TargetFailure) else type(exc).__name__
        delay = backoff_s(attempts, self.backoff_base_s, self.backoff_cap_s)
        async with self.database.transaction() as session:
            await RequestRepository(session).change_task(
                request_id,
                target,
                status=RETRYING,
                attempts=attempts,
                last_error=code,
                next_attempt_at=self.now() + timedelta(seconds=delay),
            )
        TARGET_ATTEMPTS.labels(target, "failed").inc()
        TARGET_FAILURES.labels(target).inc()
        log.warning(
            event,
            request_id=request_id,
            target=target,
            attempt=attempts,
            error=code,
            retry_in_s=round(delay, 3),
        )
