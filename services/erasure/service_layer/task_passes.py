"""What the request runners share: passes over the requests that have a task due, back to
back while there is work and woken early when new work is committed; the bookkeeping of a
failed attempt (a retry scheduled with capped, jittered backoff, counted in the target
metrics); and, for requests whose plan is one task, the whole attempt and its completion."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.backoff import backoff_s
from services.common.db.engine import Database
from services.common.logging import get_logger
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import requests as rules
from services.erasure.domain.outcomes import TargetFailure, TargetResult
from services.erasure.domain.plan import DONE, RETRYING
from services.erasure.metrics import REQUESTS_COMPLETED, TARGET_ATTEMPTS

log = get_logger(__name__)

T = TypeVar("T")


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

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A short transaction of indexed statements: on a SQLite file, on the loop itself,
        without a thread hop per statement (a pass runs after every commit). Anything that
        goes wrong is rolled back and raised; the pass tries again later."""
        async with self.database.transaction(inline=True) as session:
            yield session

    async def in_transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work` as in `transaction`; if the SQLite file was locked for a moment (e.g. by a
        WAL checkpoint), once more in an ordinary transaction, which waits for it. For what
        must not be left undone, like recording answers under a lease."""
        return await self.database.in_transaction(work)

    async def next_pass(self) -> None:
        """One pass; when it found nothing due, wait for a wake-up or `idle_s` first."""
        self._wakeup.clear()
        if not await self.run_once():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.idle_s)

    @abstractmethod
    async def run_once(self) -> int:
        """Tries what is due now; returns how many requests it took up."""

    def failed_attempt(
        self, request_id: str, target: str, attempts: int, exc: Exception, event: str
    ) -> dict[str, Any]:
        """A failed attempt, counted and logged (`event` names the log line): the task's new
        values, with when to try again."""
        code = exc.code if isinstance(exc, TargetFailure) else type(exc).__name__
        delay = backoff_s(attempts, self.backoff_base_s, self.backoff_cap_s)
        TARGET_ATTEMPTS.labels(target, "failed").inc()
        log.warning(
            event,
            request_id=request_id,
            target=target,
            attempt=attempts,
            error=code,
            retry_in_s=round(delay, 3),
        )
        return {
            "status": RETRYING,
            "attempts": attempts,
            "last_error": code,
            "next_attempt_at": self.now() + timedelta(seconds=delay),
        }

    async def retry_later(
        self, request_id: str, target: str, attempts: int, exc: Exception, event: str
    ) -> None:
        """Records a failed attempt and when to try again."""
        values = self.failed_attempt(request_id, target, attempts, exc, event)
        async with self.database.transaction() as session:
            await RequestRepository(session).change_task(request_id, target, **values)


class OneTaskRequests(TaskPasses):
    """Requests whose plan is a single task (restriction, objection, access, portability):
    when the task is due, `work` runs outside any transaction; a failure is retried later;
    `finish` records the result, usually through `complete`. Log events are named
    `<name>_failed`, `<name>_attempt_failed` and `<name>_completed`."""

    types: frozenset[str] = frozenset()
    name = ""

    def __init__(
        self,
        database: Database,
        *,
        backoff_base_s: float,
        backoff_cap_s: float,
        deadline_s: float,
        idle_s: float,
        batch_size: int,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(
            database,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            idle_s=idle_s,
            now=now,
        )
        self.deadline_s = deadline_s
        self.batch_size = batch_size

    async def run_once(self) -> int:
        async with self.transaction() as session:
            due = await RequestRepository(session).requests_with_due_tasks(
                self.now(), self.batch_size, types=self.types
            )
        await asyncio.gather(*(self._apply_logged(request_id) for request_id in due))
        return len(due)

    async def _apply_logged(self, request_id: str) -> None:
        try:
            await self.apply(request_id)
        except Exception as exc:  # one request's trouble never stops the others
            log.warning(f"{self.name}_failed", request_id=request_id, error=type(exc).__name__)

    async def apply(self, request_id: str) -> None:
        async with self.transaction() as session:
            repo = RequestRepository(session)
            request = await repo.get(request_id)
            tasks = await repo.tasks(request_id)
        if request is None or request.status != rules.IN_PROGRESS or len(tasks) != 1:
            return
        task = tasks[0]
        attempts = task.attempts + 1
        try:
            result = await asyncio.wait_for(self.work(request), self.deadline_s)
        except Exception as exc:
            await self.retry_later(
                request.id, task.target, attempts, exc, f"{self.name}_attempt_failed"
            )
            return
        await self.finish(request, task, attempts, result)

    @abstractmethod
    async def work(self, request: Row) -> Any:
        """The task's work; raises to have it retried later."""

    @abstractmethod
    async def finish(self, request: Row, task: Row, attempts: int, result: Any) -> None:
        """Records what `work` returned."""

    async def complete(
        self,
        request: Row,
        task: Row,
        attempts: int,
        outcome: TargetResult,
        write: Callable[[AsyncSession, datetime], Awaitable[None]] | None = None,
        **request_changes: Any,
    ) -> bool:
        """Task done and request completed, with `write`'s rows, in one transaction; False
        when another replica completed it first."""
        at = self.now()
        async with self.database.transaction() as session:
            repo = RequestRepository(session)
            if not await repo.change_from(
                request.id,
                rules.IN_PROGRESS,
                status=rules.COMPLETED,
                completed_at=at,
                **request_changes,
            ):
                return False
            if write is not None:
                await write(session, at)
            await repo.change_task(
                request.id,
                task.target,
                status=DONE,
                attempts=attempts,
                last_error=None,
                outcome_json=outcome.to_json(),
                finished_at=at,
            )
            await repo.record(request, rules.COMPLETED, at, "service", outcome.note)
        TARGET_ATTEMPTS.labels(task.target, "done").inc()
        REQUESTS_COMPLETED.labels(request.type).inc()
        log.info(f"{self.name}_completed", request_id=request.id, type=request.type)
        return True
