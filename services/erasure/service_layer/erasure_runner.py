"""Drives every in-progress erasure through its plan: a periodic pass (woken early when a
plan is made) runs each task whose predecessors are done and whose time has come, outside any
transaction, then records the answer or schedules a retry with backoff. All state is in the
tasks table, so a restart resumes where it stopped. When every target has answered (the key
shredding last), the certificate is issued and privacy.erasure-completed.v1 announced, in one
transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from privacy.v1 import events_pb2
from sqlalchemy.engine import Row

from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.sealing import unseal_with
from services.common.timestamps import as_utc, iso
from services.common.topics import ERASURE_COMPLETED
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import certificate
from services.erasure.domain import requests as rules
from services.erasure.domain.outcomes import TargetResult
from services.erasure.domain.plan import DONE, runnable
from services.erasure.metrics import REQUESTS_COMPLETED, TARGET_ATTEMPTS
from services.erasure.service_layer.keyring import Keyring
from services.erasure.service_layer.targets import TargetJob, TargetRegistry
from services.erasure.service_layer.task_passes import TaskPasses

log = get_logger(__name__)


class ErasureRunner(TaskPasses):
    def __init__(
        self,
        database: Database,
        registry: TargetRegistry,
        keyring: Keyring,
        *,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 3600.0,
        deadline_s: float = 30.0,
        idle_s: float = 1.0,
        batch_size: int = 100,
        concurrency: int = 16,
        on_committed: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            database,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            idle_s=idle_s,
            now=now,
        )
        self.registry = registry
        self.keyring = keyring
        self.deadline_s = deadline_s
        self.batch_size = batch_size
        self.on_committed = on_committed
        self._slots = asyncio.Semaphore(concurrency)

    async def run_once(self) -> int:
        """Advances every request with a task due now; returns how many moved (a request
        whose due tasks all wait on a predecessor's retry does not count)."""
        async with self.database.sessions() as session:
            due = await RequestRepository(session).requests_with_due_tasks(
                self.now(), self.batch_size
            )
        moved = await asyncio.gather(*(self._advance_in_slot(request_id) for request_id in due))
        return sum(moved)

    async def _advance_in_slot(self, request_id: str) -> bool:
        async with self._slots:
            try:
                return await self.advance(request_id)
            except Exception as exc:  # one request's trouble never stops the others
                log.warning(
                    "erasure_advance_failed", request_id=request_id, error=type(exc).__name__
                )
                return False

    async def advance(self, request_id: str) -> bool:
        """Runs what is due of one request, level by level, until it waits or completes;
        True if it tried a target or completed the request."""
        moved = False
        while True:
            async with self.database.sessions() as session:
                repo = RequestRepository(session)
                request = await repo.get(request_id)
                tasks = await repo.tasks(request_id)
            if request is None or request.status != rules.IN_PROGRESS or not tasks:
                return moved
            if all(t.status == DONE for t in tasks):
                await self._complete(request, tasks)
                return True
            by_target = {t.target: t for t in tasks}
            now = self.now()
            due = [
                name
                for name in runnable({t.target: t.status for t in tasks}, self.registry.rules)
                if as_utc(by_target[name].next_attempt_at) <= now
            ]
            if not due:
                await self._wait_for_predecessors(request_id, tasks, now)
                return moved
            earlier = {
                t.target: TargetResult.from_json(t.outcome_json) for t in tasks if t.status == DONE
            }
            answered = await asyncio.gather(
                *(self._attempt(request, by_target[name], earlier) for name in due)
            )
            moved = True
            if not any(answered):
                return moved

    async def _wait_for_predecessors(
        self, request_id: str, tasks: list[Row], now: datetime
    ) -> None:
        """Tasks due but waiting on a predecessor's retry get that retry's time, so that the
        request is not picked up (and put ahead of newer ones) on every pass until then."""
        later = [as_utc(t.next_attempt_at) for t in tasks if t.status != DONE]
        retry_at = min((at for at in later if at > now), default=None)
        waiting = [t.target for t in tasks if t.status != DONE and as_utc(t.next_attempt_at) <= now]
        if retry_at is None or not waiting:
            return
        async with self.database.transaction() as session:
            await RequestRepository(session).postpone_tasks(request_id, waiting, retry_at)

    async def _attempt(self, request: Row, task: Row, earlier: dict[str, TargetResult]) -> bool:
        job = TargetJob(
            request_id=request.id,
            org_id=request.org_id,
            subject_id=request.subject_id,
            earlier=earlier,
            email=lambda: self._email(request),
        )
        attempts = task.attempts + 1
        try:
            result = await asyncio.wait_for(
                self.registry.adapter(task.target).erase(job), self.deadline_s
            )
        except Exception as exc:
            await self.retry_later(request.id, task.target, attempts, exc, "erasure_target_failed")
            return False
        async with self.database.transaction() as session:
            await RequestRepository(session).change_task(
                request.id,
                task.target,
                status=DONE,
                attempts=attempts,
                last_error=None,
                outcome_json=result.to_json(),
                finished_at=self.now(),
            )
        TARGET_ATTEMPTS.labels(task.target, "done").inc()
        return True

    async def _email(self, request: Row) -> str | None:
        async with self.database.sessions() as session:
            current = await RequestRepository(session).get(request.id)
        if current is None or current.sealed_email is None:
            return None
        key = await self.keyring.get(request.subject_id)
        return unseal_with(key.key, request.subject_id, "email", current.sealed_email)

    async def _complete(self, request: Row, tasks: list[Row]) -> None:
        bodies = [
            TargetResult.from_json(t.outcome_json).certificate_body(
                t.target, iso(as_utc(t.finished_at)) or ""
            )
            for t in tasks  # in plan order: the key shredding last
        ]
        entries = certificate.chain(request.id, bodies)
        head = entries[-1].hash
        at = self.now()
        async with self.database.transaction() as session:
            repo = RequestRepository(session)
            current = await repo.get(request.id)
            if current is None or current.status != rules.IN_PROGRESS:
                return  # another replica completed it
            await repo.add_certificate(
                [
                    {
                        "request_id": request.id,
                        "seq": seq,
                        "org_id": request.org_id,
                        "canonical_json": entry.canonical_json,
                        "hash": entry.hash,
                    }
                    for seq, entry in enumerate(entries)
                ]
            )
            await repo.change(
                request.id,
                status=rules.COMPLETED,
                completed_at=at,
                certificate_head_hash=head,
                sealed_email=None,
            )
            await repo.record(request, rules.COMPLETED, at, "service", f"certificate {head}")
            await add_event(
                session,
                ERASURE_COMPLETED,
                new_envelope(
                    "privacy.erasure-completed",
                    events_pb2.ErasureCompleted(
                        request_id=request.id, certificate_head_hash=head, targets=len(tasks)
                    ),
                    org_id=request.org_id,
                    subject_id=request.subject_id,
                ),
            )
        REQUESTS_COMPLETED.labels(request.type).inc()
        self.on_committed()
        log.info("erasure_completed", request_id=request.id, targets=len(tasks))
