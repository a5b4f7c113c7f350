"""Drives every in-progress erasure through its plan: passes (woken early when a plan is made)
take up the requests with a task due into free slots, up to `concurrency` at once, each on its
own; a request runs each task whose predecessors are done and whose time has come, outside any
transaction, then records the answers or schedules retries with backoff. A target that
accepted the work but confirms later (SendGrid) is polled with backoff, and its task is not
done until it confirms. All state is in the tasks table, so a restart resumes where it
stopped. When every target has answered (the key shredding last), the certificate is issued
and privacy.erasure-completed.v1 announced, in one transaction.

Several replicas may share one PostgreSQL database: a runner leases the tasks it runs
(claimed_by, claimed_until), records an answer only while it still holds the lease, and
completes a request only if it is still in progress, so no task runs twice at once and no
request completes twice. On a SQLite file (one process) the statements run on the event loop
itself (Database.transaction(inline=True)), without a thread hop each."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from privacy.v1 import events_pb2
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.backoff import backoff_s
from services.common.db.engine import Database
from services.common.envelope import new_envelope
from services.common.errors import FailedPrecondition
from services.common.logging import get_logger
from services.common.outbox import add_event
from services.common.sealing import unseal_with
from services.common.timestamps import as_utc, iso
from services.common.topics import ERASURE_COMPLETED
from services.erasure.adapters.request_repository import RequestRepository
from services.erasure.domain import certificate
from services.erasure.domain import requests as rules
from services.erasure.domain.outcomes import AwaitingConfirmation, TargetResult
from services.erasure.domain.plan import AWAITING_CONFIRMATION, DONE, runnable
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
        confirm_poll_base_s: float = 60.0,
        deadline_s: float = 30.0,
        idle_s: float = 1.0,
        batch_size: int = 100,
        concurrency: int = 64,
        on_committed: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`confirm_poll_base_s`: the first wait before asking a target that accepted the
        work whether it is done; it doubles each time (capped), so a target that has not
        confirmed after 5 polls (about 30 times this) counts as stuck and alerts."""
        super().__init__(
            database,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            idle_s=idle_s,
            now=now,
        )
        self.registry = registry
        self.keyring = keyring
        self.confirm_poll_base_s = confirm_poll_base_s
        self.deadline_s = deadline_s
        # Outlives the target's deadline with room to record the answer; a runner that died
        # holding it delays the task by this much at most.
        self.lease = timedelta(seconds=deadline_s + 30.0)
        self.batch_size = batch_size
        self.on_committed = on_committed
        self.runner_id = uuid.uuid4().hex
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def next_pass(self) -> None:
        """Takes up the requests due now into free slots, without waiting for those already
        in flight, then waits for a wake-up (a plan committed, a slot freed while all were
        taken) or `idle_s`. A pass that awaited its whole batch held every plan made meanwhile
        back until the batch's slowest request (e.g. one whose confirmation email notify was
        still sending) was done: under a steady stream of erasures, most slots sat idle."""
        self._wakeup.clear()
        free = self.concurrency - len(self._in_flight)
        if free > 0:
            async with self.transaction() as session:
                due = await RequestRepository(session).requests_with_due_tasks(
                    self.now(), free + len(self._in_flight)
                )
            for request_id in due:
                if request_id in self._in_flight or len(self._in_flight) >= self.concurrency:
                    continue
                self._in_flight[request_id] = asyncio.create_task(self._take_up(request_id))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.idle_s)

    async def _take_up(self, request_id: str) -> None:
        try:
            await self._advance_in_slot(request_id)
        finally:
            full = len(self._in_flight) >= self.concurrency
            self._in_flight.pop(request_id, None)
            if full:
                self.wake()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Gives the requests in flight `grace_s` to record what their targets answered, then
        cancels the rest (rolled back; a restart resumes them once their leases expire)."""
        if not self._in_flight:
            return
        _, late = await asyncio.wait(list(self._in_flight.values()), timeout=grace_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def run_once(self) -> int:
        """Advances every request with a task due now, and waits for them (the service's
        loop uses next_pass instead); returns how many moved (a request whose due tasks all
        wait on a predecessor's retry does not count)."""
        async with self.transaction() as session:
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
        step = await self.in_transaction(
            functools.partial(self._next_level, request_id=request_id, now=self.now())
        )
        while True:
            if step is None:
                return moved
            request, tasks, claimed = step
            if claimed is None:  # every task done: completed in that transaction
                REQUESTS_COMPLETED.labels(request.type).inc()
                self.on_committed()
                log.info("erasure_completed", request_id=request.id, targets=len(tasks))
                return True
            earlier = {
                t.target: TargetResult.from_json(t.outcome_json) for t in tasks if t.status == DONE
            }
            by_target = {t.target: t for t in tasks}
            answers = await asyncio.gather(
                *(self._attempt(request, by_target[name], earlier) for name in claimed)
            )
            moved = True
            # The answers and, if one was done, the next level (or the completion) in one
            # transaction: a transaction's own cost is a good part of a short one's.
            step = await self.in_transaction(
                functools.partial(
                    self._record,
                    request_id=request_id,
                    targets=claimed,
                    answers=answers,
                    then_next=any(done for _, done in answers),
                )
            )

    async def _next_level(
        self, session: AsyncSession, request_id: str, now: datetime
    ) -> tuple[Row, list[Row], list[str] | None] | None:
        """The request, its tasks and the due ones this runner got the lease of; the request
        completed here (claimed None) when every task is done; None when there is nothing to
        run now (not in progress, completed by another runner, waiting on a retry, or another
        runner on it)."""
        repo = RequestRepository(session)
        request = await repo.get(request_id)
        tasks = await repo.tasks(request_id)
        if request is None or request.status != rules.IN_PROGRESS or not tasks:
            return None
        if all(t.status == DONE for t in tasks):
            if not await self._complete(session, request, tasks):
                return None
            return request, tasks, None
        if any(_leased(t, now) for t in tasks):
            return None  # another runner is on it
        by_target = {t.target: t for t in tasks}
        due = [
            name
            for name in runnable({t.target: t.status for t in tasks}, self.registry.rules)
            if as_utc(by_target[name].next_attempt_at) <= now
        ]
        if not due:
            await self._wait_for_predecessors(repo, request_id, tasks, now)
            return None
        claimed = await repo.claim_tasks(request_id, due, self.runner_id, now, now + self.lease)
        return (request, tasks, claimed) if claimed else None

    async def _record(
        self,
        session: AsyncSession,
        request_id: str,
        targets: list[str],
        answers: list[tuple[dict[str, Any], bool]],
        then_next: bool,
    ) -> tuple[Row, list[Row], list[str] | None] | None:
        """The answers, each only while this runner still holds the task's lease; then, if
        `then_next`, what `_next_level` finds."""
        repo = RequestRepository(session)
        for target, (values, _) in zip(targets, answers, strict=True):
            await repo.change_task(request_id, target, claimed_by=self.runner_id, **values)
        if not then_next:
            return None
        return await self._next_level(session, request_id, self.now())

    async def _wait_for_predecessors(
        self, repo: RequestRepository, request_id: str, tasks: list[Row], now: datetime
    ) -> None:
        """Tasks due but waiting on a predecessor's retry get that retry's time, so that the
        request is not picked up (and put ahead of newer ones) on every pass until then."""
        later = [as_utc(t.next_attempt_at) for t in tasks if t.status != DONE]
        retry_at = min((at for at in later if at > now), default=None)
        waiting = [t.target for t in tasks if t.status != DONE and as_utc(t.next_attempt_at) <= now]
        if retry_at is not None and waiting:
            await repo.postpone_tasks(request_id, waiting, retry_at)

    async def _attempt(
        self, request: Row, task: Row, earlier: dict[str, TargetResult]
    ) -> tuple[dict[str, Any], bool]:
        """Calls the target; returns the task's new values and whether it is done."""
        awaiting = task.status == AWAITING_CONFIRMATION and task.outcome_json
        job = TargetJob(
            request_id=request.id,
            org_id=request.org_id,
            subject_id=request.subject_id,
            earlier=earlier,
            email=lambda: self._email(request),
            progress=TargetResult.from_json(task.outcome_json) if awaiting else None,
        )
        attempts = task.attempts + 1
        try:
            result = await asyncio.wait_for(
                self.registry.adapter(task.target).erase(job), self.deadline_s
            )
        except AwaitingConfirmation as pending:
            TARGET_ATTEMPTS.labels(task.target, "awaiting").inc()
            delay = backoff_s(attempts, self.confirm_poll_base_s, self.backoff_cap_s)
            return {
                "status": AWAITING_CONFIRMATION,
                "attempts": attempts,
                "last_error": None,
                "outcome_json": pending.progress.to_json(),
                "next_attempt_at": self.now() + timedelta(seconds=delay),
            }, False
        except Exception as exc:
            return self.failed_attempt(
                request.id, task.target, attempts, exc, "erasure_target_failed"
            ), False
        TARGET_ATTEMPTS.labels(task.target, "done").inc()
        return {
            "status": DONE,
            "attempts": attempts,
            "last_error": None,
            "outcome_json": result.to_json(),
            "finished_at": self.now(),
        }, True

    async def _email(self, request: Row) -> str | None:
        """The address captured at verification (the request was read for this attempt);
        None if none was, or if the member's key was shredded meanwhile (e.g. by a direct
        ShredKey): the sealed copy is unreadable."""
        if request.sealed_email is None:
            return None
        try:
            key = await self.keyring.get(request.subject_id)
        except FailedPrecondition:
            return None
        return unseal_with(key.key, request.subject_id, "email", request.sealed_email)

    async def _complete(self, session: AsyncSession, request: Row, tasks: list[Row]) -> bool:
        """Certificate, completion and event, in the caller's transaction; False when another
        replica completed the request first."""
        bodies = [
            TargetResult.from_json(t.outcome_json).certificate_body(
                t.target, iso(as_utc(t.finished_at)) or ""
            )
            for t in tasks  # in plan order: the key shredding last
        ]
        entries = certificate.chain(request.id, bodies)
        head = entries[-1].hash
        at = self.now()
        repo = RequestRepository(session)
        if not await repo.change_from(
            request.id,
            rules.IN_PROGRESS,
            status=rules.COMPLETED,
            completed_at=at,
            certificate_head_hash=head,
            sealed_email=None,
        ):
            return False
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
        return True


def _leased(task: Row, now: datetime) -> bool:
    return task.claimed_until is not None and as_utc(task.claimed_until) > now
